"""The Tradovate adapter: REST for login and reads, the account WebSocket for events and orders.

Session: log in (penalty tickets waited out, p-captcha refused clearly), pick the account, open
the WebSocket (``o`` -> ``authorize`` -> ``user/syncrequest``), then read ``props`` events into an
:class:`AccountBook` that turns them into AccountEvents. ``[]`` heartbeats go out every 2.5 s; the
token is renewed before ``expirationTime``; a dropped socket is reopened and resynced, and the
snapshot's difference (fills, cancels, new orders missed while down) is delivered as events.

Orders go over the WebSocket by default (``endpoint\\nid\\nquery\\nbody``, measured fastest; see
the README), or REST with ``options.orderTransport: rest``. ``place`` never resends blindly:
answers that say the request was not handled (HTTP/WS 429, a p-ticket) are waited out and resent
within a budget; if the socket drops after the write, the adapter waits for the resync and looks
the client order id up in the broker's own command list before anything is sent again. Tradovate's
clOrdId uniqueness is unverified, so the same client id is never sent twice while the first is in
flight or known to the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from adapters.base import (
    AmbiguousOutcome,
    AuthFailed,
    BrokerAdapter,
    BrokerError,
    Capabilities,
    Disconnected,
    HealthState,
    OrderRejected,
    RateLimited,
)
from adapters.tradovate.auth import Login, TokenManager
from adapters.tradovate.book import AccountBook
from adapters.tradovate.entities import (
    EntityError,
    WireAccount,
    is_contract_of,
)
from adapters.tradovate.frames import (
    HEARTBEAT,
    FrameError,
    Response,
    classify,
    encode_request,
    parse_server_frame,
)
from adapters.tradovate.orders import RATE_LIMIT_FALLBACK_S, OrderPath
from adapters.tradovate.rest import Http, Lost, penalty_of
from adapters.tradovate.settings import ConfigProblem, Settings
from copytui.instruments import INSTRUMENTS
from copytui.models import AccountEvent, OrderAck, OrderInfo, Position

log = logging.getLogger("copytui.adapters.tradovate")

SYNC_ENTITY_TYPES = ["contract", "order", "orderVersion", "command", "executionReport", "fill", "position"]
LISTS = {
    "orders": "order",
    "orderVersions": "orderVersion",
    "commands": "command",
    "executionReports": "executionReport",
    "fills": "fill",
    "positions": "position",
}


class _NoAnswer(Exception):
    """No answer to a request within ``requestTimeoutS``."""


class TradovateAdapter(OrderPath, BrokerAdapter):
    broker = "tradovate"
    capabilities = Capabilities(modify=True, brackets=False, client_ids=True, client_id_max_len=32)

    def __init__(self, settings: Settings, *, embedded: Any = None) -> None:
        super().__init__(settings.label)
        self.s = settings
        self.o = settings.options
        self.http = Http(settings.rest_url, self.o.requestTimeoutS)
        self.ws_url = settings.ws_url
        self.auth = TokenManager(
            self.http,
            Login(
                name=settings.username,
                app_id=self.o.appId,
                app_version=self.o.appVersion,
                cid=self.o.cid,
                device_id=self.o.deviceId or "",
                secret=settings.secret,
                account_alias=settings.alias,
            ),
            max_penalty_wait_s=self.o.penaltyWaitMaxS,
            margin_s=self.o.renewMarginS,
        )
        self.embedded = embedded
        self.book: AccountBook | None = None
        self.account_id: int | None = None
        self.account_name: str | None = None
        self.bad_frames = 0
        self._pins = self.o.contract_pins()
        self._contract_names: dict[str, str] = dict(self._pins)
        self._queue: asyncio.Queue[AccountEvent | None] = asyncio.Queue()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._gen = 0
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Response]] = {}
        self._inflight: dict[str, asyncio.Future[OrderAck]] = {}
        self._answered: dict[str, OrderAck] = {}
        self._ready = asyncio.Event()
        self._lost = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._reconnect_delay = 0.05

    # ------------------------------------------------------------ session
    @property
    def process_local(self) -> bool:
        return self.embedded is not None  # `host: embedded`: a simulator inside this process

    @property
    def account_key(self) -> str:
        """After connect: Tradovate's own account id at this server, however the config named it
        (the account's name or its number give the same key)."""
        if self.account_id is None:
            return super().account_key
        server = urlsplit(self.http.base_url).netloc or self.s.environment
        return f"tradovate-{server}-{self.account_id}"

    async def connect(self) -> None:
        if self._ready.is_set():
            return
        self._closing = False
        self.health.connecting()
        try:
            if self.embedded is not None:
                rest_url, self.ws_url = await self.embedded.acquire()
                self.http.base_url = rest_url
            await self.auth.ensure()
            await self._resolve_account()
            await self._open_stream(initial=True)
        except BrokerError as exc:
            refused = HealthState.AUTH_FAILED if isinstance(exc, AuthFailed) else HealthState.DISCONNECTED
            self.health.down(refused, str(exc))
            await self._close_transport()
            raise
        await self._resolve_contracts()
        self._spawn(self._supervise(), "supervisor")
        self._spawn(self._heartbeat(), "heartbeat")
        self._spawn(self._renew(), "token-renewal")

    async def disconnect(self) -> None:
        self._closing = True
        self._ready.clear()
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._fail_pending(Disconnected(f"tradovate adapter for {self.account} disconnected"))
        await self._close_transport()
        self.health.down()
        self._queue.put_nowait(None)

    async def _close_transport(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 1.0)
        await self.http.close()
        if self.embedded is not None:
            await self.embedded.release()

    async def subscribe(self) -> AsyncIterator[AccountEvent]:  # type: ignore[override]
        while True:
            ev = await self._queue.get()
            if ev is None:
                return
            yield ev

    def _spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"tradovate-{what}-{self.account}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed: %s", task.get_name(), task.exception(), exc_info=task.exception())

    async def _resolve_account(self) -> None:
        raw = await self._rest_get("account/list")
        if not isinstance(raw, list):
            raise BrokerError(f"tradovate account/list must answer a list, got {type(raw).__name__}")
        accounts = [WireAccount.model_validate(a) for a in raw if isinstance(a, dict)]
        spec = self.s.account_spec
        if spec is None:
            active = [a for a in accounts if a.active]
            if len(active) != 1:
                names = ", ".join(a.name for a in active) or "none"
                raise ConfigProblem(
                    f"account {self.s.alias}: Tradovate login {self.s.username} has accounts {names}: "
                    "set account_id to one of them"
                )
            chosen = active[0]
        else:
            found = [a for a in accounts if a.name == spec or str(a.id) == spec]
            if not found:
                names = ", ".join(f"{a.name} (id {a.id})" for a in accounts) or "none"
                raise ConfigProblem(
                    f"account {self.s.alias}: Tradovate login {self.s.username} has no account {spec!r}; it has {names}"
                )
            chosen = found[0]
        if self.account_id is not None and chosen.id != self.account_id:
            raise ConfigProblem(f"account {self.s.alias}: the Tradovate account id changed from {self.account_id}")
        self.account_id, self.account_name = chosen.id, chosen.name
        if self.book is None:
            self.book = AccountBook(self.account, chosen.id)

    def _sync_body(self) -> dict[str, Any]:
        assert self.auth.token is not None and self.account_id is not None
        if self.o.syncRequest == "accounts":
            return {"splitResponses": True, "accounts": [self.account_id], "entityTypes": SYNC_ENTITY_TYPES}
        return {"users": [self.auth.token.user_id]}

    async def _open_stream(self, *, initial: bool) -> None:
        tok = await self.auth.ensure()
        ws = await self.http.open().ws_connect(self.ws_url, autoping=True, compress=0, max_msg_size=0)
        gen = self._gen + 1
        self._gen = gen
        try:
            frame = parse_server_frame(await self._receive_text(ws))
            if frame.kind != "open":
                raise FrameError(f"expected the 'o' open frame first, got a {frame.kind} frame")
            await ws.send_str(encode_request("authorize", 0, tok.value))
            status = await self._await_response(ws, 0)
            if status == 401:
                await self.auth.relogin(tok)
                raise Disconnected("tradovate refused the WebSocket token (401); logged in again")
            if status != 200:
                raise BrokerError(f"tradovate WebSocket authorize answered {status}")
            self._ws = ws
            self._spawn(self._reader(ws, gen), "reader")
            _, resp = await self._ws_call("user/syncrequest", self._sync_body(), wait_ready=False)
            if resp.status != 200:
                raise BrokerError(f"tradovate user/syncrequest answered {resp.status}: {resp.data!r}")
            await self._load_snapshot(resp.data, emit=not initial)
        except BaseException:
            self._gen += 1  # the reader of this socket must not report it lost
            self._ws = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 1.0)
            raise
        self._ready.set()
        self.health.up()

    async def _receive_text(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        msg = await ws.receive(timeout=self.o.requestTimeoutS)
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise Disconnected(f"tradovate WebSocket closed during the handshake ({msg.type.name})")
        return str(msg.data)

    async def _await_response(self, ws: aiohttp.ClientWebSocketResponse, request_id: int) -> int:
        while True:
            frame = parse_server_frame(await self._receive_text(ws))
            if frame.kind == "close":
                raise Disconnected(f"tradovate closed the WebSocket: {frame.code} {frame.reason}")
            for item in frame.items:
                msg = classify(item)
                if isinstance(msg, Response) and msg.id == request_id:
                    return msg.status

    async def _load_snapshot(self, snapshot: Any, *, emit: bool) -> None:
        assert self.book is not None
        if not isinstance(snapshot, dict):
            raise EntityError(f"tradovate user/syncrequest answer must be an object, got {type(snapshot).__name__}")
        known = {c.get("id") for c in snapshot.get("contracts") or [] if isinstance(c, dict)}
        wanted = {
            x.get("contractId")
            for key in ("orders", "fills", "positions")
            for x in snapshot.get(key) or []
            if isinstance(x, dict)
        }
        await self._learn_contracts({c for c in wanted - known if isinstance(c, int)})
        for ev in self.book.load_snapshot(snapshot, recv_ns=time.perf_counter_ns(), emit=emit):
            self._queue.put_nowait(ev)

    # ------------------------------------------------------------- stream
    async def _reader(self, ws: aiohttp.ClientWebSocketResponse, gen: int) -> None:
        reason = "closed by the server"
        try:
            while True:
                msg = await ws.receive(timeout=self.o.idleTimeoutS)
                recv_ns = time.perf_counter_ns()
                if msg.type is aiohttp.WSMsgType.TEXT:
                    closed = await self._on_text(str(msg.data), recv_ns)
                    if closed:
                        reason = closed
                        break
                elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                    break
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    reason = f"socket error: {ws.exception()}"
                    break
        except TimeoutError:
            reason = f"no frame for {self.o.idleTimeoutS:g}s"
        except (aiohttp.ClientError, ConnectionError) as exc:
            reason = f"socket error: {exc}"
        if gen == self._gen and not self._closing:
            await self._stream_lost(reason)

    async def _on_text(self, text: str, recv_ns: int) -> str | None:
        """Handle one frame; a reason string when the server ended the stream."""
        try:
            frame = parse_server_frame(text)
        except FrameError as exc:
            self._bad(exc)
            return None
        if frame.kind == "close":
            return f"server closed the stream: {frame.code} {frame.reason}"
        for item in frame.items:
            try:
                msg = classify(item)
            except FrameError as exc:
                self._bad(exc)
                continue
            if isinstance(msg, Response):
                fut = self._pending.pop(msg.id, None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)
            elif msg.name == "props":
                await self._on_props(msg.data, recv_ns)
            elif msg.name == "shutdown":
                return self._on_shutdown(msg.data)
        return None

    async def _on_props(self, data: Any, recv_ns: int) -> None:
        if not isinstance(data, dict):
            self._bad(FrameError(f"props event 'd' must be an object, got {type(data).__name__}"))
            return
        etype, event_type, entity = data.get("entityType"), data.get("eventType"), data.get("entity")
        if not isinstance(etype, str) or event_type not in ("Created", "Updated", "Deleted"):
            self._bad(
                FrameError(f"props event needs entityType and eventType Created|Updated|Deleted, got {data!r:.120}")
            )
            return
        if not isinstance(entity, dict):
            self._bad(FrameError(f"props {etype} {event_type}: field 'entity' must be an object"))
            return
        if event_type == "Deleted" or self.book is None:
            return
        cid = entity.get("contractId")
        if isinstance(cid, int) and cid not in self.book.contracts:
            await self._learn_contracts({cid})
        self._apply(etype, entity, recv_ns)

    def _on_shutdown(self, data: Any) -> str:
        code = data.get("reasonCode") if isinstance(data, dict) else None
        text = data.get("reason") if isinstance(data, dict) else None
        # Maintenance: come back soon; connection or IP quota: another session was preferred, go slower
        self._reconnect_delay = 0.2 if code == "Maintenance" else 2.0
        log.warning("tradovate %s: server shutdown event %s %s", self.account, code, text or "")
        return f"broker shutdown: {code or 'unknown reason'}"

    def _bad(self, exc: BrokerError) -> None:
        self.bad_frames += 1
        self.health.drop(f"bad frame: {exc}")  # the engine journals and alerts it
        self.health.detail = f"skipped a bad frame: {exc}"
        log.warning("tradovate %s: skipped a bad frame: %s", self.account, exc)

    def _fail_pending(self, exc: Exception) -> None:
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(exc)

    async def _stream_lost(self, reason: str) -> None:
        self._ready.clear()
        self.health.lost(reason)
        log.warning("tradovate %s: stream lost (%s); reconnecting", self.account, reason)
        self._fail_pending(Lost(reason))
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 1.0)
        self._lost.set()

    async def _supervise(self) -> None:
        while not self._closing:
            await self._lost.wait()
            self._lost.clear()
            delay, self._reconnect_delay = self._reconnect_delay, 0.05
            while not self._closing:
                await asyncio.sleep(delay)
                try:
                    await self._open_stream(initial=False)
                except AuthFailed as exc:
                    self.health.down(HealthState.AUTH_FAILED, str(exc))
                    log.error("tradovate %s: %s", self.account, exc)
                    delay = 60.0
                except (BrokerError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                    self.health.detail = f"reconnect failed: {exc}"
                    log.warning("tradovate %s: reconnect failed (%s), retrying", self.account, exc)
                    delay = min(max(delay, 0.05) * 2, 5.0)
                else:
                    self.health.reconnects += 1
                    break

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.o.heartbeatS)
            ws = self._ws
            if ws is not None and not ws.closed:
                with contextlib.suppress(Exception):
                    await ws.send_str(HEARTBEAT)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(max(self.auth.renew_due_in(), 0.05))
            try:
                await self.auth.renew()
            except RateLimited as exc:
                log.warning("tradovate %s: %s", self.account, exc)
                await asyncio.sleep(min(exc.retry_after_s, 30.0))
            except BrokerError as exc:
                self.health.detail = f"token renewal failed: {exc}"
                log.warning("tradovate %s: token renewal failed: %s", self.account, exc)
                await asyncio.sleep(1.0)

    # ------------------------------------------------------------ requests
    async def _ws_call(self, endpoint: str, body: Any, *, wait_ready: bool = True) -> tuple[int, Response]:
        """Write one request on the socket and wait for its answer. While the stream is down (or a
        write fails, so nothing was sent) it waits for the resync, up to ``reconnectWaitS``."""
        deadline = time.monotonic() + self.o.reconnectWaitS
        while True:
            ws = self._ws
            if wait_ready and not self._ready.is_set() or ws is None or ws.closed:
                if not wait_ready:
                    raise Disconnected(f"tradovate stream of {self.account} is down: {endpoint} was not sent")
                try:
                    await asyncio.wait_for(self._ready.wait(), max(deadline - time.monotonic(), 0.0))
                except TimeoutError:
                    raise Disconnected(f"tradovate stream of {self.account} is down: {endpoint} was not sent") from None
                continue
            rid = next(self._ids)
            fut: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
            self._pending[rid] = fut
            try:
                await ws.send_str(encode_request(endpoint, rid, body))
            except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
                self._pending.pop(rid, None)
                log.info("tradovate %s: %s not written (%s); waiting for the stream", self.account, endpoint, exc)
                if not wait_ready:
                    raise Disconnected(f"tradovate {endpoint} was not sent: {exc}") from None
                while self._ws is ws and time.monotonic() < deadline:  # until the reader reopens it
                    await asyncio.sleep(0.01)
                continue
            sent = time.perf_counter_ns()
            break
        # a bare timer instead of asyncio.wait_for: a few microseconds less per order on the hot path
        timer = asyncio.get_running_loop().call_later(self.o.requestTimeoutS, self._expire, rid)
        try:
            resp = await fut
        except _NoAnswer:
            raise AmbiguousOutcome(f"tradovate {endpoint}: no answer within {self.o.requestTimeoutS:g}s") from None
        except Lost as exc:
            exc.sent_ns = sent
            raise
        finally:
            timer.cancel()
        return sent, resp

    def _expire(self, rid: int) -> None:
        fut = self._pending.pop(rid, None)
        if fut is not None and not fut.done():
            fut.set_exception(_NoAnswer())

    async def _rest_get(self, path: str, query: dict[str, Any] | None = None) -> Any:
        tok = await self.auth.ensure()
        for _ in range(2):
            ans = await self.http.call("GET", path, query=query, token=tok.value)
            if ans.status == 401:
                tok = await self.auth.relogin(tok)
                continue
            if ans.status == 429:
                raise RateLimited(f"tradovate {path}: rate limited (429)", ans.retry_after_s or RATE_LIMIT_FALLBACK_S)
            pen = penalty_of(ans.data) if ans.status == 200 else None
            if pen is not None:
                raise RateLimited(f"tradovate {path}: penalty ticket of {pen.seconds:g}s", pen.seconds)
            if ans.status != 200:
                raise BrokerError(f"tradovate {path} answered HTTP {ans.status}: {str(ans.data)[:160]}")
            return ans.data
        raise AuthFailed(f"tradovate keeps refusing the token of {self.s.username} for {path}")

    async def _rest_book(self) -> AccountBook:
        """The account as the REST lists tell it: the authority when the stream may be stale."""
        assert self.book is not None and self.account_id is not None
        results = await asyncio.gather(*(self._rest_get(f"{e}/list") for e in LISTS.values()))
        snapshot = dict(zip(LISTS, results, strict=True))
        for key, value in snapshot.items():
            if not isinstance(value, list):
                raise BrokerError(f"tradovate {LISTS[key]}/list must answer a list, got {type(value).__name__}")
        wanted = {
            x.get("contractId") for k in ("orders", "fills", "positions") for x in snapshot[k] if isinstance(x, dict)
        }
        await self._learn_contracts({c for c in wanted if isinstance(c, int)})
        book = AccountBook(self.account, self.account_id)
        book.contracts.update(self.book.contracts)
        book.load_snapshot(snapshot, emit=False)
        return book

    async def _current_book(self) -> AccountBook:
        if self._ready.is_set() and self.book is not None:
            return self.book
        return await self._rest_book()

    # ------------------------------------------------------------ contracts
    async def _learn_contracts(self, ids: set[int], *, retry: bool = True) -> None:
        """Contract names for ``ids``; events held for want of them are released. A failed lookup is
        retried in the background, so a held fill is late rather than lost."""
        assert self.book is not None
        missing = sorted(i for i in ids if i not in self.book.contracts)
        if not missing:
            return
        try:
            raw = await self._rest_get("contract/items", {"ids": ",".join(map(str, missing))})
        except BrokerError as exc:
            log.warning("tradovate %s: cannot look up contracts %s: %s", self.account, missing, exc)
            if retry:
                self._spawn(self._learn_later(set(missing)), "contracts")
            return
        for item in raw if isinstance(raw, list) else []:
            self._apply("contract", item, time.perf_counter_ns())

    async def _learn_later(self, ids: set[int]) -> None:
        for delay in (0.5, 1.0, 2.0, 5.0, 10.0, 30.0):
            await asyncio.sleep(delay)
            await self._learn_contracts(ids, retry=False)
            if self.book is not None and ids <= set(self.book.contracts):
                return
        log.error("tradovate %s: contracts %s stay unknown: their orders and fills are held", self.account, ids)

    def _apply(self, entity_type: str, raw: Any, recv_ns: int) -> None:
        assert self.book is not None
        try:
            events = self.book.apply(entity_type, raw, recv_ns=recv_ns)
        except EntityError as exc:
            self._bad(exc)
            return
        for ev in events:
            self._queue.put_nowait(ev)
        if events:
            self.health.last_event_wall_ns = time.time_ns()

    async def _suggest(self, root: str) -> str | None:
        try:
            raw = await self._rest_get("contract/suggest", {"t": root, "l": 10})
        except BrokerError as exc:
            log.debug("tradovate contract/suggest %s failed: %s", root, exc)
            return None
        for item in raw if isinstance(raw, list) else []:
            if isinstance(item, dict) and isinstance(item.get("name"), str) and is_contract_of(item["name"], root):
                if self.book is not None and item.get("id") not in self.book.contracts:
                    self._apply("contract", item, time.perf_counter_ns())
                return str(item["name"])
        return None

    async def _resolve_contracts(self) -> None:
        """Front contracts of every symbol copytui knows, up front, so no order waits for a lookup."""
        roots = [r for r in INSTRUMENTS if r not in self._contract_names]
        names = await asyncio.gather(*(self._suggest(r) for r in roots))
        for root, name in zip(roots, names, strict=True):
            if name:
                self._contract_names[root] = name

    async def _contract_for(self, symbol: str) -> str:
        name = self._contract_names.get(symbol)
        if name is None:
            name = await self._suggest(symbol)
            if name is None:
                raise OrderRejected(
                    f"no Tradovate contract found for {symbol}: pin one with options.contracts (e.g. {symbol}=...)"
                )
            self._contract_names[symbol] = name
        return name

    # ---------------------------------------------------------------- reads
    async def positions(self) -> list[Position]:
        return (await self._current_book()).position_list()

    async def open_orders(self) -> list[OrderInfo]:
        return (await self._current_book()).open_orders()

    async def find_order(self, client_order_id: str) -> OrderInfo | None:
        if self._ready.is_set() and self.book is not None:
            found = self.book.find(client_order_id)
            if found is not None:
                return found
        return (await self._rest_book()).find(client_order_id)

    async def fills_since(self, cursor: str | None) -> tuple[list[AccountEvent], str | None]:
        try:
            after = int(cursor) if cursor else 0
        except ValueError:
            raise BrokerError(f"tradovate fill cursor must be a fill id (a number), got {cursor!r}") from None
        book = await self._rest_book()
        events = book.fills_after(after)
        return events, str(max(book.max_fill_id, after))
