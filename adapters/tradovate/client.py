"""The Tradovate adapter: REST for login and reads, the account WebSocket for events and orders.

Session: log in (penalty tickets waited out, p-captcha refused clearly), pick the account, open
the WebSocket (``o`` -> ``authorize`` -> ``user/syncrequest``), then read ``props`` events into an
:class:`AccountBook` that turns them into AccountEvents. ``[]`` heartbeats go out every 2.5 s; the
token is renewed before ``expirationTime``; a dropped socket is reopened and resynced, and the
snapshot's difference (fills, cancels, new orders missed while down) is delivered as events.

The adapter holds its parts rather than being them: the socket and its requests
(:class:`~adapters.tradovate.link.Link`), the contract names (:class:`~adapters.tradovate.contracts.Contracts`)
and the order path (:class:`~adapters.tradovate.orders.OrderPath`: orders over the WebSocket by
default, measured fastest, or REST with ``options.order_transport: rest``; never resent blindly).
Each part reads what it needs of the session through a small protocol this class provides.

Brackets. A leader's OCO pair (``/order/placeOCO``) is read from its orders' ``ocoId``: both legs'
events and ``open_orders()`` carry one ``oco_group``. As a follower, copytui keeps the OCO itself by
default; with ``options.native_oco`` a bracket's two legs go out as one placeOCO (``oco_orders``),
and Tradovate cancels the other leg when one fills (what it does on a cancel or a partial fill is
not documented: hence off by default).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

from adapters.base import (
    AuthFailed,
    BrokerAdapter,
    BrokerError,
    Capabilities,
    Disconnected,
    HealthState,
    RateLimited,
)
from adapters.kit import Backoff, EventStream, TaskGroup, renew_forever, repeat_forever
from adapters.tradovate.auth import Login, TokenManager
from adapters.tradovate.book import AccountBook
from adapters.tradovate.contracts import Contracts
from adapters.tradovate.entities import EntityError, WireAccount
from adapters.tradovate.frames import FrameError
from adapters.tradovate.link import Link
from adapters.tradovate.oco_orders import OcoPairs
from adapters.tradovate.orders import OrderPath
from adapters.tradovate.rest import RATE_LIMIT_FALLBACK_S, Answer, Http, penalty_of
from adapters.tradovate.settings import ConfigProblem, Settings
from copytui.models import AccountEvent, FollowerOrder, OrderAck, OrderInfo, Position

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
AUTH_RETRY_S = 60.0
"""After a refused login on reconnect: how long before the next try."""


class EmbeddedServer(Protocol):
    """A simulator inside this process (``host: embedded``), chosen by the factory: the adapter
    only asks it where to connect, and lets it go on disconnect."""

    async def acquire(self) -> tuple[str, str]:
        """(REST base URL, WebSocket URL), the simulator started if it was not running."""
        ...

    async def release(self) -> None: ...


class TradovateAdapter(BrokerAdapter):
    broker = "tradovate"
    # trailing_stops: TrailingStop with pegDifference, the broker moves the stop (see trailing.py)
    capabilities = Capabilities(modify=True, brackets=False, client_ids=True, client_id_max_len=32, trailing_stops=True)

    def __init__(self, settings: Settings, *, embedded: EmbeddedServer | None = None) -> None:
        super().__init__(settings.label)
        self.settings = settings
        self.options = settings.options
        self.http = Http(settings.rest_url, self.options.request_timeout_s)
        self.ws_url = settings.ws_url
        self.auth = TokenManager(
            self.http,
            Login(
                name=settings.username,
                app_id=self.options.app_id,
                app_version=self.options.app_version,
                cid=self.options.cid,
                device_id=self.options.device_id or "",
                secret=settings.secret,
                account_alias=settings.alias,
            ),
            max_penalty_wait_s=self.options.penalty_wait_max_s,
            margin_s=self.options.renew_margin_s,
        )
        self.embedded = embedded
        self.book: AccountBook | None = None
        self.account_id: int | None = None
        self.account_name: str | None = None
        self.bad_frames = 0
        self.stream = EventStream()
        self.tasks = TaskGroup()
        self.backoff = Backoff(first=0.05, cap=5.0)
        self.link = Link(
            self.account,
            self,
            self.tasks,
            request_timeout_s=self.options.request_timeout_s,
            reconnect_wait_s=self.options.reconnect_wait_s,
            idle_timeout_s=self.options.idle_timeout_s,
        )
        self.contracts = Contracts(self.account, self.options.contract_pins(), self, self.tasks)
        self.orders = OrderPath(self, self.link, self.contracts, self.options)
        self.pairs = OcoPairs(self.orders, self, self.contracts, enabled=self.options.native_oco)
        if self.options.native_oco:
            self.capabilities = dataclasses.replace(self.capabilities, oco_orders=True)  # type: ignore[misc]
        self._stream_lost = asyncio.Event()
        """Set when the link reports its socket lost; the supervisor waits on it to reopen one."""

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
        server = urlsplit(self.http.base_url).netloc or self.settings.environment
        return f"tradovate-{server}-{self.account_id}"

    async def connect(self) -> None:
        if self.link.ready.is_set():
            return
        self.link.start()
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
            await self._close_transport(exc)
            raise
        await self.contracts.resolve_all()
        self.tasks.spawn(self._supervise(), f"tradovate-supervisor-{self.account}")
        self.tasks.spawn(
            repeat_forever(self.options.heartbeat_s, self.link.beat), f"tradovate-heartbeat-{self.account}"
        )
        renewal = renew_forever(self.auth.renew_due_in, self.auth.renew, self.health)
        self.tasks.spawn(renewal, f"tradovate-token-renewal-{self.account}")

    async def disconnect(self) -> None:
        self.link.stop()
        await self.tasks.cancel_all()
        await self._close_transport(Disconnected(f"tradovate adapter for {self.account} disconnected"))
        self.health.down()
        self.stream.close()

    async def _close_transport(self, why: BrokerError) -> None:
        await self.link.close(why)
        await self.http.close()
        if self.embedded is not None:
            await self.embedded.release()

    def subscribe(self) -> AsyncIterator[AccountEvent]:
        return self.stream.events()

    async def _resolve_account(self) -> None:
        raw = await self.rest_get("account/list")
        if not isinstance(raw, list):
            raise BrokerError(f"tradovate account/list must answer a list, got {type(raw).__name__}")
        accounts = [WireAccount.model_validate(a) for a in raw if isinstance(a, dict)]
        spec, alias, login = self.settings.account_spec, self.settings.alias, self.settings.username
        if spec is None:
            active = [a for a in accounts if a.active]
            if len(active) != 1:
                names = ", ".join(a.name for a in active) or "none"
                raise ConfigProblem(
                    f"account {alias}: Tradovate login {login} has accounts {names}: set account_id to one of them"
                )
            chosen = active[0]
        else:
            found = [a for a in accounts if a.name == spec or str(a.id) == spec]
            if not found:
                names = ", ".join(f"{a.name} (id {a.id})" for a in accounts) or "none"
                raise ConfigProblem(f"account {alias}: Tradovate login {login} has no account {spec!r}; it has {names}")
            chosen = found[0]
        if self.account_id is not None and chosen.id != self.account_id:
            raise ConfigProblem(f"account {alias}: the Tradovate account id changed from {self.account_id}")
        self.account_id, self.account_name = chosen.id, chosen.name
        if self.book is None:
            self.book = AccountBook(self.account, chosen.id)

    def _sync_body(self) -> dict[str, Any]:
        assert self.auth.token is not None and self.account_id is not None
        if self.options.sync_request == "accounts":
            return {"splitResponses": True, "accounts": [self.account_id], "entityTypes": SYNC_ENTITY_TYPES}
        return {"users": [self.auth.token.user_id]}

    async def _open_stream(self, *, initial: bool) -> None:
        tok = await self.auth.ensure()
        status = await self.link.open(self.http.open(), self.ws_url, tok.value)
        if status == 401:
            await self.auth.relogin(tok)
            raise Disconnected("tradovate refused the WebSocket token (401); logged in again")
        if status != 200:
            raise BrokerError(f"tradovate WebSocket authorize answered {status}")
        try:
            _, resp = await self.link.call("user/syncrequest", self._sync_body(), wait_ready=False)
            if resp.status != 200:
                raise BrokerError(f"tradovate user/syncrequest answered {resp.status}: {resp.data!r}")
            await self._load_snapshot(resp.data, emit=not initial)
        except BaseException:
            await self.link.discard()
            raise
        self.link.ready.set()
        if initial:
            self.health.up()
        else:
            self.health.reconnected()

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
        await self.contracts.learn({c for c in wanted - known if isinstance(c, int)})
        self.stream.put_all(self.book.load_snapshot(snapshot, recv_ns=time.perf_counter_ns(), emit=emit))

    async def _supervise(self) -> None:
        while not self.link.closing:
            await self._stream_lost.wait()
            self._stream_lost.clear()
            while not self.link.closing:
                await asyncio.sleep(self.backoff.next())
                try:
                    await self._open_stream(initial=False)
                except AuthFailed as exc:
                    self.health.down(HealthState.AUTH_FAILED, str(exc))
                    log.error("tradovate %s: %s", self.account, exc)
                    self.backoff.hold(AUTH_RETRY_S)
                except (BrokerError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                    self.health.note(f"reconnect failed: {exc}")
                    log.warning("tradovate %s: reconnect failed (%s), retrying", self.account, exc)
                else:
                    self.backoff.reset()
                    break

    # --------------------------------------------- what the link hands over
    async def on_props(self, data: Any, recv_ns: int) -> None:
        if not isinstance(data, dict):
            self.on_bad(FrameError(f"props event 'd' must be an object, got {type(data).__name__}"))
            return
        etype, event_type, entity = data.get("entityType"), data.get("eventType"), data.get("entity")
        if not isinstance(etype, str) or event_type not in ("Created", "Updated", "Deleted"):
            self.on_bad(
                FrameError(f"props event needs entityType and eventType Created|Updated|Deleted, got {data!r:.120}")
            )
            return
        if not isinstance(entity, dict):
            self.on_bad(FrameError(f"props {etype} {event_type}: field 'entity' must be an object"))
            return
        if event_type == "Deleted" or self.book is None:
            return
        cid = entity.get("contractId")
        if isinstance(cid, int) and cid not in self.book.contracts:
            await self.contracts.learn({cid})
        self.apply(etype, entity, recv_ns)

    def on_shutdown(self, data: Any) -> str:
        code = data.get("reasonCode") if isinstance(data, dict) else None
        text = data.get("reason") if isinstance(data, dict) else None
        # Maintenance: come back soon; connection or IP quota: another session was preferred, go slower
        self.backoff.hold(0.2 if code == "Maintenance" else 2.0)
        log.warning("tradovate %s: server shutdown event %s %s", self.account, code, text or "")
        return f"broker shutdown: {code or 'unknown reason'}"

    def on_bad(self, exc: BrokerError) -> None:
        self.bad_frames += 1
        self.health.drop(f"bad frame: {exc}")  # the engine journals and alerts it
        self.health.note(f"skipped a bad frame: {exc}")
        log.warning("tradovate %s: skipped a bad frame: %s", self.account, exc)

    def on_lost(self, reason: str) -> None:
        self.health.lost(reason)
        log.warning("tradovate %s: stream lost (%s); reconnecting", self.account, reason)
        self._stream_lost.set()

    def apply(self, entity_type: str, raw: Any, recv_ns: int) -> None:
        """Merge one entity into the book; the events it implies go to the stream."""
        assert self.book is not None
        try:
            events = self.book.apply(entity_type, raw, recv_ns=recv_ns)
        except EntityError as exc:
            self.on_bad(exc)
            return
        if events:
            self.stream.put_all(events)
            self.health.seen()

    # ------------------------------------------------------------ requests
    async def rest_call(
        self, method: str, path: str, *, body: Any = None, query: dict[str, Any] | None = None
    ) -> Answer:
        """One REST request with the current token; a refused token (401, the request not handled)
        is renewed by a login and the request sent once more."""
        tok = await self.auth.ensure()
        ans = await self.http.call(method, path, body=body, query=query, token=tok.value)
        if ans.status == 401:
            tok = await self.auth.relogin(tok)
            ans = await self.http.call(method, path, body=body, query=query, token=tok.value)
        return ans

    async def rest_get(self, path: str, query: dict[str, Any] | None = None) -> Any:
        """A REST read's answer; what is not one (a refusal, a rate limit) raises."""
        ans = await self.rest_call("GET", path, query=query)
        if ans.status == 401:
            raise AuthFailed(f"tradovate keeps refusing the token of {self.settings.username} for {path}")
        if ans.status == 429:
            raise RateLimited(f"tradovate {path}: rate limited (429)", ans.retry_after_s or RATE_LIMIT_FALLBACK_S)
        pen = penalty_of(ans.data) if ans.status == 200 else None
        if pen is not None:
            raise RateLimited(f"tradovate {path}: penalty ticket of {pen.seconds:g}s", pen.seconds)
        if ans.status != 200:
            raise BrokerError(f"tradovate {path} answered HTTP {ans.status}: {str(ans.data)[:160]}")
        return ans.data

    async def _rest_book(self) -> AccountBook:
        """The account as the REST lists tell it: the authority when the stream may be stale."""
        assert self.book is not None and self.account_id is not None
        results = await asyncio.gather(*(self.rest_get(f"{e}/list") for e in LISTS.values()))
        snapshot = dict(zip(LISTS, results, strict=True))
        for key, value in snapshot.items():
            if not isinstance(value, list):
                raise BrokerError(f"tradovate {LISTS[key]}/list must answer a list, got {type(value).__name__}")
        wanted = {
            x.get("contractId") for k in ("orders", "fills", "positions") for x in snapshot[k] if isinstance(x, dict)
        }
        await self.contracts.learn({c for c in wanted if isinstance(c, int)})
        book = AccountBook(self.account, self.account_id)
        book.contracts.update(self.book.contracts)
        book.load_snapshot(snapshot, emit=False)
        return book

    async def current_book(self, *, fresh: bool = False) -> AccountBook:
        if not fresh and self.link.ready.is_set() and self.book is not None:
            return self.book
        return await self._rest_book()

    # -------------------------------------------------------------- orders
    # The order path's coroutines are handed over as they are: no frame of the adapter's own on the hot path.
    def place(self, order: FollowerOrder) -> Coroutine[Any, Any, OrderAck]:
        return self.orders.place(order)

    def modify(self, order: FollowerOrder) -> Coroutine[Any, Any, OrderAck]:
        return self.orders.modify(order)

    def cancel(self, order: FollowerOrder) -> Coroutine[Any, Any, OrderAck]:
        return self.orders.cancel(order)

    def place_oco(self, first: FollowerOrder, second: FollowerOrder) -> Coroutine[Any, Any, tuple[OrderAck, OrderAck]]:
        return self.pairs.place(first, second)

    async def flatten(self, symbol: str | None = None) -> None:
        await self.orders.flatten(symbol)

    # ---------------------------------------------------------------- reads
    async def positions(self) -> list[Position]:
        return (await self.current_book()).position_list()

    async def open_orders(self) -> list[OrderInfo]:
        return (await self.current_book()).open_orders()

    async def find_order(self, client_order_id: str) -> OrderInfo | None:
        if self.link.ready.is_set() and self.book is not None:
            found = self.book.find(client_order_id)
            if found is not None:
                return found
        return (await self.current_book(fresh=True)).find(client_order_id)

    async def fills_since(self, cursor: str | None) -> tuple[list[AccountEvent], str | None]:
        try:
            after = int(cursor) if cursor else 0
        except ValueError:
            raise BrokerError(f"tradovate fill cursor must be a fill id (a number), got {cursor!r}") from None
        book = await self.current_book(fresh=True)
        events = book.fills_after(after)
        return events, str(max(book.max_fill_id, after))
