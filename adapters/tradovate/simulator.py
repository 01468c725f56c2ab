"""A Tradovate server on 127.0.0.1 over the paper exchange: the REST paths and WebSocket frames
of the real API (see PROTOCOLS.md and the adapter's README section), with fault switches.

REST under ``/v1``: auth/accesstokenrequest (penalty tickets, captcha), auth/renewaccesstoken,
account/list, contract/item|items|find|suggest, order|orderVersion|command|executionReport|fill|
position /list, order/item, order/placeorder|modifyorder|cancelorder|liquidateposition,
user/syncrequest. WebSocket ``/v1/websocket``: ``o``, ``h`` every 2.5 s, ``a[...]``, ``c[...]``;
``authorize``, ``user/syncrequest`` and every REST endpoint in ``endpoint\\nid\\nquery\\nbody`` form.
What Tradovate's own sample clients send is accepted (sim_bodies.py): a JSON-quoted token, an
``undefined`` body or query, ``{accounts:[id]}`` without entityTypes, ``accountName`` for accountSpec.
Admin endpoints of the simulator's own (audit log, quotes, order id -> clOrdId): sim_admin.py.

Fault switches (tests set them directly; ``copytui sim tradovate`` takes a few as flags):
``token_lifetime_s``, :meth:`expire_tokens`, :meth:`rate_limit` (429), :meth:`penalize` (p-ticket,
p-captcha), :meth:`shutdown`, :meth:`drop_sockets`, ``faults.drop_after_requests`` (drop during a
burst, before or after handling), ``faults.duplicate_props`` / ``faults.reorder_props``,
``faults.unique_clordid``, :meth:`inject` (a raw frame), plus the paper exchange's own faults.
A Tradovate account's duplicate and reorder faults act on the wire (``props``), never on the paper
exchange: a duplicated paper fill would become a second Tradovate fill with an id of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from aiohttp import WSMsgType, web
from pydantic import ValidationError

from adapters.base import OrderRejected
from adapters.paper.exchange import Faults, PaperExchange
from adapters.simkit.serve import walk_until_stopped
from adapters.tradovate.entities import ACTION_TO_SIDE, ORDER_TYPE_FROM_WIRE, TIF_FROM_WIRE, root_symbol
from adapters.tradovate.frames import (
    FrameError,
    Request,
    encode_array,
    encode_close,
    encode_response,
    parse_client_message,
)
from adapters.tradovate.settings import SIM_PASSWORD
from adapters.tradovate.sim_admin import Call, SimAdmin, is_order_request
from adapters.tradovate.sim_bodies import (
    ORDER_BODIES,
    BodyNotJSON,
    CancelOrderBody,
    LiquidateBody,
    ModifyOrderBody,
    PlaceOrderBody,
    bad_body,
    failure,
    parse_body,
    parse_query,
    token_of,
)
from adapters.tradovate.sim_ledger import REFERENCE_ENTITIES, Command, Ledger, now_iso, trade_date
from copytui.config import AccountConfig
from copytui.models import AccountEvent, OrderType, Side

log = logging.getLogger("copytui.adapters.tradovate.simulator")

ORDER_ENDPOINTS = {"order/placeorder", "order/modifyorder", "order/cancelorder", "order/liquidateposition"}
EMPTY_SYNC_KEYS = (  # the rest of the first sync answer as example-api-js EX-07a reads it: nothing of ours
    "accountRiskStatuses",
    "commandReports",
    "contractGroups",
    "exchanges",
    "fillPairs",
    "marginSnapshots",
    "orderStrategies",
    "orderStrategyLinks",
    "orderStrategyTypes",
    "properties",
    "spreadDefinitions",
    "userAccountAutoLiqs",
    "userPlugins",
    "userProperties",
    "userReadStatuses",
)
LIST_KEYS = {  # paths are matched lower-cased: Tradovate's docs spell them both ways
    "order": "orders",
    "orderversion": "orderVersions",
    "command": "commands",
    "executionreport": "executionReports",
    "fill": "fills",
    "position": "positions",
}


@dataclass
class SimFaults:
    duplicate_props: float = 0.0
    """Probability that a props event is pushed twice."""
    reorder_props: float = 0.0
    """Probability that a props event swaps places with the next one in its batch."""
    unique_clordid: bool = False
    """Refuse a repeated clOrdId. Off by default: Tradovate's uniqueness is unverified, so the
    simulator takes the worst case (a second order) and the adapter must never send one."""
    drop_after_requests: int | None = None
    """Drop the WebSocket at the N-th order request from now (a drop during a burst)."""
    drop_mode: Literal["before", "after"] = "after"
    """before: the N-th request is lost unhandled; after: it is handled and its answer lost."""
    renew_fails: bool = False
    """Answer token renewals with 401 (the client must log in again)."""


@dataclass
class SimUser:
    id: int
    name: str
    password: str
    accounts: list[int] = field(default_factory=list)


@dataclass
class SimAccount:
    id: int
    name: str
    user_id: int


@dataclass
class _Penalty:
    times: int
    seconds: float
    captcha: bool


class _Conn:
    def __init__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.ws = ws
        self.transport = request.transport
        self.user_id: int | None = None
        self.accounts: set[int] = set()
        self.out: asyncio.Queue[str | None] = asyncio.Queue()
        self.closed = False
        self.last_client_msg = time.monotonic()

    def send(self, text: str) -> None:
        if not self.closed:
            self.out.put_nowait(text)

    def abort(self) -> None:
        """Drop the TCP connection with no close frame: what a network failure looks like."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        self.out.put_nowait(None)


class TradovateSimulator:
    def __init__(
        self,
        exchange: PaperExchange | None = None,
        *,
        seed: int = 0,
        token_lifetime_s: float = 80 * 60.0,
        heartbeat_s: float = 2.5,
        faults: Faults | None = None,
        audit: str | Path | None = None,
    ) -> None:
        """``faults`` go to every account added (duplicates and reordering on the wire, the rest to the
        paper exchange); ``audit`` is a JSON-lines file for the audit log (in memory either way)."""
        self.exchange = exchange if exchange is not None else PaperExchange(seed=seed)
        self.account_faults = faults
        self.admin = SimAdmin(self, audit)
        self.token_lifetime_s = token_lifetime_s
        self.heartbeat_s = heartbeat_s
        self.faults = SimFaults()
        self.ledger = Ledger()
        self.users: dict[str, SimUser] = {}
        self.accounts: dict[int, SimAccount] = {}
        self.account_by_name: dict[str, SimAccount] = {}
        self.requests: Counter[str] = Counter()
        self.order_bodies: list[tuple[str, Any]] = []
        """(endpoint, body) of every order request handled, in order (contract tests read them)."""
        self.tickets_redeemed = 0
        self.heartbeats = 0
        """``[]`` frames received from clients."""
        self.logins = 0
        self.renewals = 0
        self._rng = random.Random(seed + 11)
        self._tokens: dict[str, tuple[int, float]] = {}
        self._penalties: dict[str, _Penalty] = {}
        self._tickets: dict[str, tuple[str, float]] = {}
        self._limited_until = 0.0
        self._conns: set[_Conn] = set()
        self._cmd: Command | None = None
        self._outbox: dict[int, list[dict[str, Any]]] = {}
        self._wire_faults: dict[int, tuple[float, float]] = {}  # account id -> (duplicate, reorder) of props
        self._user_ids = iter(range(101, 10_000))
        self._account_ids = iter(range(700_001, 800_000))
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unlisten: list[Any] = []
        self.port = 0

    # -------------------------------------------------------------- setup
    def add_account(self, name: str, username: str | None = None, password: str = SIM_PASSWORD) -> SimAccount:
        """A Tradovate account (and its login, created on first use) over a paper-exchange account."""
        if name in self.account_by_name:
            return self.account_by_name[name]
        uname = username or name
        user = self.users.get(uname)
        if user is None:
            user = self.users[uname] = SimUser(next(self._user_ids), uname, password)
        acct = SimAccount(next(self._account_ids), name, user.id)
        user.accounts.append(acct.id)
        self.accounts[acct.id] = acct
        self.account_by_name[name] = acct
        paper = self.exchange.account(name, faults=replace(self.account_faults) if self.account_faults else None)
        if paper.faults.duplicate_prob or paper.faults.reorder_prob:
            self._wire_faults[acct.id] = (paper.faults.duplicate_prob, paper.faults.reorder_prob)
            paper.faults = replace(paper.faults, duplicate_prob=0.0, reorder_prob=0.0)
        self._unlisten.append(
            self.exchange.listen(name, lambda ev, a=acct.id: self._on_paper(a, ev), lambda n=name: self.drop_sockets(n))
        )
        return acct

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/websocket"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        app = web.Application()
        app.router.add_get("/v1/websocket", self._ws_handler)
        app.router.add_route("*", "/v1/{path:.+}", self._http_handler)
        self.admin.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self.port

    async def stop(self) -> None:
        for unlisten in self._unlisten:
            unlisten()
        self._unlisten.clear()
        for conn in list(self._conns):
            conn.abort()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.admin.audit.close()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ faults
    def expire_tokens(self) -> None:
        """Every token issued so far expires now (REST answers 401; open sockets stay authorized)."""
        self._tokens = {t: (uid, 0.0) for t, (uid, _) in self._tokens.items()}

    def rate_limit(self, seconds: float) -> None:
        """Answer every request with 429 for ``seconds`` (HTTP 429 empty body, WS ``{"s":429}``)."""
        self._limited_until = time.monotonic() + seconds

    def penalize(self, endpoint: str, times: int = 1, seconds: float = 0.2, captcha: bool = False) -> None:
        """The next ``times`` calls of ``endpoint`` get a penalty ticket instead of an answer."""
        self._penalties[endpoint] = _Penalty(times, seconds, captcha)

    def shutdown(self, reason_code: str = "Maintenance") -> None:
        """Push a ``shutdown`` event and close every WebSocket."""
        for conn in list(self._conns):
            conn.send(encode_array([{"e": "shutdown", "d": {"reasonCode": reason_code, "reason": "simulated"}}]))
            conn.send(encode_close(1000, "shutdown"))
            conn.out.put_nowait(None)

    def drop_sockets(self, account: str | None = None) -> int:
        """Abort the WebSockets of ``account`` (all when None); returns how many."""
        acct = self.account_by_name.get(account) if account else None
        n = 0
        for conn in list(self._conns):
            if acct is None or acct.id in conn.accounts:
                conn.abort()
                n += 1
        return n

    def inject(self, account: str, text: str) -> None:
        """Send a raw frame to the sockets subscribed to ``account`` (malformed-frame tests)."""
        acct = self.account_by_name[account]
        for conn in list(self._conns):
            if acct.id in conn.accounts:
                conn.send(text)

    # ------------------------------------------------------------ tokens
    def _issue(self, user_id: int) -> dict[str, Any]:
        token = secrets.token_urlsafe(24)
        expires = time.time() + self.token_lifetime_s
        self._tokens[token] = (user_id, expires)
        stamp = datetime.fromtimestamp(expires, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        user = next(u for u in self.users.values() if u.id == user_id)
        return {
            "accessToken": token,
            "mdAccessToken": secrets.token_urlsafe(24),
            "expirationTime": stamp,
            "userStatus": "Active",
            "userId": user_id,
            "name": user.name,
            "hasLive": False,
        }

    def _user_of(self, token: str | None) -> int | None:
        entry = self._tokens.get(token or "")
        if entry is None or entry[1] <= time.time():
            return None
        return entry[0]

    def _limited(self) -> bool:
        return time.monotonic() < self._limited_until

    def _penalty(self, endpoint: str, body: Any) -> dict[str, Any] | None:
        """A penalty answer for this call, or None when it may be handled."""
        ticket = body.get("p-ticket") if isinstance(body, dict) else None
        if ticket:
            entry = self._tickets.pop(ticket, None)
            if entry is not None and entry[0] == endpoint and time.monotonic() >= entry[1]:
                self.tickets_redeemed += 1
                return None
            plan = self._penalties.get(endpoint) or _Penalty(0, 1.0, False)
            return self._ticket(endpoint, plan)  # early, unknown or reused ticket: a new penalty
        plan = self._penalties.get(endpoint)
        if plan is None or plan.times <= 0:
            return None
        plan.times -= 1
        return self._ticket(endpoint, plan)

    def _ticket(self, endpoint: str, plan: _Penalty) -> dict[str, Any]:
        ticket = secrets.token_urlsafe(16)
        self._tickets[ticket] = (endpoint, time.monotonic() + plan.seconds)
        out: dict[str, Any] = {"p-ticket": ticket, "p-time": plan.seconds}
        if plan.captcha:
            out["p-captcha"] = True
        return out

    def _access_token(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            return {"errorText": "name and password are required"}
        pen = self._penalty("auth/accesstokenrequest", body)
        if pen is not None:
            return pen
        user = self.users.get(body["name"])
        if user is None or body.get("password") != user.password:
            return {"errorText": "Incorrect username or password. Please try again."}
        self.logins += 1
        return self._issue(user.id)

    # ------------------------------------------------------------- HTTP
    async def _http_handler(self, request: web.Request) -> web.StreamResponse:
        call = Call(request.match_info["path"].lower().rstrip("/"))
        self.requests[call.endpoint] += 1
        call.raw = await request.text() if request.can_read_body else ""
        status, data = await self._http_answer(call, request)
        if is_order_request(call.endpoint):
            self.admin.record(call, status, data)
        if data is None:
            return web.Response(status=status)
        if isinstance(data, str):
            return web.Response(status=status, text=data)
        return web.json_response(data, status=status)

    async def _http_answer(self, call: Call, request: web.Request) -> tuple[int, Any]:
        try:
            call.body = parse_body(call.raw)
        except BodyNotJSON:
            return 400, {"errorText": "the body is not JSON"}
        if self._limited():
            return 429, None
        if call.endpoint == "auth/accesstokenrequest":
            return 200, self._access_token(call.body)
        auth = request.headers.get("Authorization", "")
        call.user_id = self._user_of(auth[7:] if auth.startswith("Bearer ") else None)
        if call.user_id is None:
            return 401, "Access is denied"
        if call.endpoint == "auth/renewaccesstoken":
            if self.faults.renew_fails:
                return 401, "Access is denied"
            self.renewals += 1
            return 200, self._issue(call.user_id)
        return await self._dispatch(call.endpoint, call.user_id, dict(request.query), call.body)

    # -------------------------------------------------------- WebSocket
    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = _Conn(ws, request)
        self._conns.add(conn)
        writer = asyncio.get_running_loop().create_task(self._writer(conn), name="sim-ws-writer")
        beat = asyncio.get_running_loop().create_task(self._beat(conn), name="sim-ws-heartbeat")
        conn.send("o")
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT or conn.closed:
                    continue
                conn.last_client_msg = time.monotonic()
                try:
                    req = parse_client_message(msg.data)
                except FrameError as exc:
                    log.info("simulator: bad client frame: %s", exc)
                    continue
                if req is None:
                    self.heartbeats += 1
                else:
                    await self._ws_request(conn, req)
        finally:
            conn.closed = True
            self._conns.discard(conn)
            beat.cancel()
            conn.out.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, 1.0)
        return ws

    async def _writer(self, conn: _Conn) -> None:
        while True:
            text = await conn.out.get()
            if text is None or conn.ws.closed:
                break
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                break
            if text.startswith("c"):
                with contextlib.suppress(Exception):
                    await conn.ws.close()
                break

    async def _beat(self, conn: _Conn) -> None:
        while not conn.closed:
            await asyncio.sleep(self.heartbeat_s)
            conn.send("h")

    async def _ws_request(self, conn: _Conn, req: Request) -> None:
        call = Call(req.endpoint.lower(), raw=req.body, user_id=conn.user_id)
        self.requests[call.endpoint] += 1
        if call.endpoint == "authorize":
            user_id = self._user_of(token_of(req.body))
            if user_id is None:
                conn.send(encode_response(req.id, 401, "Access is denied"))
                return
            conn.user_id = user_id
            conn.send(encode_response(req.id, 200))
            return
        audited = is_order_request(call.endpoint)
        drop = self._drop_fault(call.endpoint) if conn.user_id is not None and not self._limited() else None
        if drop == "before":
            if audited:
                call.body = self._body_or_none(req.body)
                self.admin.refuse_unhandled(call, "connection cut before the request was handled (fault)")
            conn.abort()
            return
        status, data = await self._ws_answer(conn, req, call)
        if audited:
            self.admin.record(call, status, data, "answer lost: connection cut (fault)" if drop else "")
        if drop:
            conn.abort()
            return
        conn.send(encode_response(req.id, status, data))

    def _drop_fault(self, endpoint: str) -> Literal["before", "after"] | None:
        """``faults.drop_after_requests``: whether this order request is the one the connection dies on."""
        if endpoint not in ORDER_ENDPOINTS or self.faults.drop_after_requests is None:
            return None
        self.faults.drop_after_requests -= 1
        if self.faults.drop_after_requests > 0:
            return None
        self.faults.drop_after_requests = None
        return self.faults.drop_mode

    @staticmethod
    def _body_or_none(text: str) -> Any:
        try:
            return parse_body(text)
        except BodyNotJSON:
            return None

    async def _ws_answer(self, conn: _Conn, req: Request, call: Call) -> tuple[int, Any]:
        not_json = None
        try:
            call.body = parse_body(req.body)  # before any refusal: the audit records what was asked
        except BodyNotJSON as exc:
            not_json = exc
        if conn.user_id is None:
            return 401, "Access is denied: authorize first"
        if self._limited():
            return 429, None
        if not_json is not None:
            return 400, {"errorText": f"request {req.endpoint} #{req.id}: {not_json}"}
        if call.endpoint == "user/syncrequest":
            status, data = self._sync(conn.user_id, call.body)
            if status == 200:
                conn.accounts |= {a["id"] for a in data["accounts"]}
            return status, data
        try:
            return await self._dispatch(call.endpoint, conn.user_id, parse_query(req.query), call.body)
        except Exception as exc:  # a simulator bug answers 500, like a server would, and is logged
            log.exception("simulator: %s failed", call.endpoint)
            return 500, {"errorText": f"{type(exc).__name__}: {exc}"}

    # --------------------------------------------------------- endpoints
    async def _dispatch(self, endpoint: str, user_id: int, query: dict[str, str], body: Any) -> tuple[int, Any]:
        user = next(u for u in self.users.values() if u.id == user_id)
        mine = set(user.accounts)
        if endpoint in ORDER_ENDPOINTS:
            self.order_bodies.append((endpoint, body))
        pen = self._penalty(endpoint, body)
        if pen is not None:
            return 200, pen
        entity, _, op = endpoint.partition("/")
        if endpoint == "account/list":
            return 200, [
                {
                    "id": a,
                    "name": self.accounts[a].name,
                    "userId": user_id,
                    "accountType": "Customer",
                    "active": True,
                    "archived": False,
                }
                for a in user.accounts
            ]
        if entity in REFERENCE_ENTITIES:
            return self.ledger.reference(entity, op, query)
        if op == "list" and entity in LIST_KEYS:
            return 200, self.ledger.of_accounts(LIST_KEYS[entity], mine)
        if endpoint == "order/item":
            order = self.ledger.orders.get(int(query.get("id", "0") or 0))
            if order is None or order["accountId"] not in mine:
                return 404, {"errorText": "no such order"}
            return 200, order
        if endpoint == "user/syncrequest":
            return self._sync(user_id, body)
        if endpoint in ORDER_ENDPOINTS:
            return await self._order(endpoint, mine, body)
        return 404, {"errorText": f"the simulator does not implement {endpoint}"}

    def _sync(self, user_id: int, body: Any) -> tuple[int, Any]:
        user = next(u for u in self.users.values() if u.id == user_id)
        if not isinstance(body, dict):
            return 400, {"errorText": "user/syncrequest needs a JSON body"}
        if "accounts" in body or "splitResponses" in body:
            # {accounts:[id]} alone is the trading-strategy example's form; entityTypes is required only
            # with splitResponses (PROTOCOLS.md)
            if body.get("splitResponses") and not body.get("entityTypes"):
                return 400, {"errorText": "entityTypes is required with splitResponses"}
            wanted = {a for a in body.get("accounts") or user.accounts if a in user.accounts}
        else:
            users = body.get("users")
            if users != [user_id]:
                return 403, {"errorText": f"users must be [{user_id}] for this token"}
            wanted = set(user.accounts)
        snap = self.ledger.snapshot(wanted)
        snap["users"] = [{"id": user.id, "name": user.name, "status": "Active"}]
        snap["accounts"] = [
            {"id": a, "name": self.accounts[a].name, "userId": user.id, "active": True} for a in sorted(wanted)
        ]
        snap["cashBalances"] = [self._cash_balance(a) for a in sorted(wanted)]
        snap["currencies"] = [{"id": 1, "name": "USD"}]
        for key in EMPTY_SYNC_KEYS:
            snap[key] = []
        return 200, snap

    def _cash_balance(self, account_id: int) -> dict[str, Any]:
        """The trading-strategy example reads ``cashBalances[0].realizedPnL``."""
        paper = self.exchange.accounts[self.accounts[account_id].name]
        realized = sum(p.realized for p in paper.positions.values())
        return {
            "id": 10_000_000 + account_id,  # one cash balance per account and currency
            "accountId": account_id,
            "timestamp": now_iso(),
            "tradeDate": trade_date(),
            "currencyId": 1,
            "amount": paper.balance,
            "realizedPnL": realized,
            "weekRealizedPnL": realized,
        }

    async def _order(self, endpoint: str, mine: set[int], body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return 400, {"errorText": f"{endpoint} needs a JSON body"}
        try:
            req = ORDER_BODIES[endpoint].model_validate(body)
        except ValidationError as exc:
            return bad_body(endpoint, exc)
        if isinstance(req, PlaceOrderBody) and req.accountId is None and req.spec is None:
            return 400, {"errorText": f"{endpoint}: accountId or accountSpec is required"}
        acct_id = getattr(req, "accountId", None) or self.ledger.order_account.get(getattr(req, "orderId", 0))
        if acct_id is None and isinstance(req, PlaceOrderBody):
            acct_id = getattr(self.account_by_name.get(req.spec or ""), "id", None)
        if acct_id not in mine:
            return 200, failure("Unauthorized", f"account or order is not yours ({endpoint})")
        acct = self.accounts[acct_id]
        latency = self.exchange.accounts[acct.name].faults.latency_ms
        if latency:
            await asyncio.sleep(latency / 2000.0)
        try:
            if isinstance(req, PlaceOrderBody):
                return 200, self._place(acct, req)
            if isinstance(req, ModifyOrderBody):
                return 200, self._modify(acct, req)
            if isinstance(req, CancelOrderBody):
                return 200, self._cancel(acct, req)
            assert isinstance(req, LiquidateBody)
            return 200, self._liquidate(acct, req)
        finally:
            self._cmd = None
            self._flush(acct_id)

    def _place(self, acct: SimAccount, req: PlaceOrderBody) -> dict[str, Any]:
        if req.spec is not None and req.spec != acct.name:
            field = "accountSpec" if req.accountSpec else "accountName"
            return failure("UnknownReason", f"{field} {req.spec!r} is not account {acct.name!r}")
        contract = self.ledger.contract_by_name.get(req.symbol)
        if contract is None:
            return failure("InvalidContract", f"unknown contract {req.symbol!r}")
        otype = ORDER_TYPE_FROM_WIRE.get(req.orderType)
        if otype is None:
            return failure("Unsupported", f"the simulator does not trade {req.orderType} orders")
        seen = self.ledger.clordids.get(acct.id, {})
        paper_id = req.clOrdId
        if req.clOrdId and req.clOrdId in seen:
            if self.faults.unique_clordid:
                return failure("UnknownReason", f"duplicate clOrdId {req.clOrdId}")
            paper_id = f"{req.clOrdId}~{secrets.token_hex(3)}"  # the worst case: a second order
        self._cmd = Command(acct.id, "New", req.clOrdId)
        try:
            self.exchange.submit(
                acct.name,
                symbol=root_symbol(contract["name"]),
                side=ACTION_TO_SIDE[req.action],
                qty=req.orderQty,
                order_type=otype,
                price=req.price,
                stop_price=req.stopPrice,
                tif=TIF_FROM_WIRE.get(req.timeInForce or "Day") or next(iter(TIF_FROM_WIRE.values())),
                client_order_id=paper_id,
            )
        except OrderRejected as exc:
            extra = {"orderId": self._cmd.order_id} if self._cmd.order_id else {}
            return failure("UnknownReason", str(exc), **extra)
        return {"orderId": self._cmd.order_id}

    def _paper_order(self, acct: SimAccount, order_id: int) -> str | None:
        return next((p for p, o in self.ledger.by_paper.items() if o == order_id), None)

    def _modify(self, acct: SimAccount, req: ModifyOrderBody) -> dict[str, Any]:
        paper = self._paper_order(acct, req.orderId)
        if paper is None:
            return failure("UnknownReason", f"no order {req.orderId}")
        self._cmd = Command(acct.id, "Modify", req.clOrdId, order_id=req.orderId)
        try:
            self.exchange.modify(acct.name, paper, qty=req.orderQty, price=req.price, stop_price=req.stopPrice)
        except OrderRejected as exc:
            return failure("UnknownReason", str(exc))
        return {"commandId": self.ledger.next_id("command")}

    def _cancel(self, acct: SimAccount, req: CancelOrderBody) -> dict[str, Any]:
        paper = self._paper_order(acct, req.orderId)
        if paper is None:
            return failure("UnknownReason", f"no order {req.orderId}")
        self._cmd = Command(acct.id, "Cancel", req.clOrdId, order_id=req.orderId)
        try:
            self.exchange.cancel(acct.name, paper)
        except OrderRejected as exc:
            return failure("TooLate", str(exc))
        return {"commandId": self.ledger.next_id("command")}

    def _liquidate(self, acct: SimAccount, req: LiquidateBody) -> dict[str, Any]:
        contract = self.ledger.contracts.get(req.contractId)
        if contract is None:
            return failure("InvalidContract", f"unknown contract id {req.contractId}")
        self._cmd = Command(acct.id, "Liquidate", None)
        self.exchange.flatten(acct.name, root_symbol(contract["name"]))
        ids = self._cmd.closing_order_ids
        return {"orderId": ids[-1]} if ids else {}

    # ------------------------------------------------------- paper events
    def _on_paper(self, account_id: int, ev: AccountEvent) -> None:
        props = self.ledger.translate(account_id, ev, self._cmd)
        self._outbox.setdefault(account_id, []).extend(props)
        if self._cmd is None:
            self._flush(account_id)  # a fill from the price walk, a manual trade: pushed at once

    def _flush(self, account_id: int) -> None:
        items = self._outbox.pop(account_id, [])
        if not items:
            return
        dup, reorder = self._wire_faults.get(account_id, (0.0, 0.0))
        dup, reorder, r = max(dup, self.faults.duplicate_props), max(reorder, self.faults.reorder_props), self._rng
        if dup:
            items = [x for item in items for x in ([item, item] if r.random() < dup else [item])]
        if reorder:
            for i in range(len(items) - 1):
                if r.random() < reorder:
                    items[i], items[i + 1] = items[i + 1], items[i]
        text = encode_array(items)
        for conn in list(self._conns):
            if account_id in conn.accounts:
                conn.send(text)

    # ------------------------------------------------------ trader's side
    def place_raw(
        self,
        account: str,
        side: Side,
        qty: int,
        symbol: str,
        order_type: OrderType = OrderType.MARKET,
        price: float | None = None,
    ) -> int | None:
        """Place an order on ``account`` the way the REST endpoint would (tests play a leader)."""
        acct = self.account_by_name[account]
        body = PlaceOrderBody(
            accountSpec=acct.name,
            accountId=acct.id,
            action="Buy" if side is Side.BUY else "Sell",
            symbol=self.ledger.contract_of(symbol)["name"],
            orderQty=qty,
            orderType=next(k for k, v in ORDER_TYPE_FROM_WIRE.items() if v is order_type),
            price=price,
        )
        try:
            out = self._place(acct, body)
        finally:
            self._cmd = None
            self._flush(acct.id)
        return out.get("orderId")


# -------------------------------------------------------------- standalone
def standalone(
    accounts: int,
    seed: int,
    *,
    faults: Faults | None = None,
    audit: str | None = None,
    token_lifetime_s: float = 80 * 60.0,
) -> TradovateSimulator:
    """The simulator ``copytui sim tradovate`` runs: demo accounts DEMO0001... of users trader1..."""
    sim = TradovateSimulator(seed=seed, token_lifetime_s=token_lifetime_s, faults=faults, audit=audit)
    for i in range(1, accounts + 1):
        sim.add_account(f"DEMO{i:04d}", username=f"trader{i}")
    return sim


async def _serve(sim: TradovateSimulator, port: int, tick_s: float) -> None:
    actual = await sim.start("127.0.0.1", port)
    front = ", ".join(sim.ledger.front(r)["name"] for r in ("ES", "NQ", "MES", "MNQ"))
    print(f"tradovate simulator listening on http://127.0.0.1:{actual}/v1", flush=True)
    print(f"  WebSocket ws://127.0.0.1:{actual}/v1/websocket   contracts {front} ...", flush=True)
    print(f"  logins (password {SIM_PASSWORD!r}, sec {SIM_PASSWORD!r}; simulator only):", flush=True)
    for a in sim.accounts.values():
        user = next(u for u in sim.users.values() if u.id == a.user_id)
        print(f"    username {user.name:<10} account_id {a.name} (id {a.id})", flush=True)
    print(
        "  config: broker: tradovate, environment: sim, host: 127.0.0.1, "
        f"port: {actual}, username: trader1, account_id: DEMO0001",
        flush=True,
    )
    admin = f"http://127.0.0.1:{actual}/admin"
    print(f"  admin: {admin}/audit  {admin}/quote?symbol=ES  {admin}/orders (order id -> clOrdId)", flush=True)
    if sim.account_faults is not None and sim.account_faults != Faults():
        print(f"  faults on every account: {sim.account_faults}", flush=True)
    if sim.admin.audit_path:
        print(f"  audit log: every order request received is appended to {sim.admin.audit_path}", flush=True)
    print("  Ctrl-C to stop", flush=True)
    try:
        await walk_until_stopped(sim.exchange, tick_s, "tradovate-sim")
    finally:
        await sim.stop()
        print("tradovate simulator stopped", flush=True)


def serve(
    port: int,
    accounts: int = 3,
    seed: int = 7,
    *,
    faults: Faults | None = None,
    audit: str | None = None,
    token_lifetime_s: float = 80 * 60.0,
    tick_s: float = 0.25,
) -> None:
    """``copytui sim tradovate``: run until Ctrl-C. ``faults`` apply to every demo account (duplicates and
    reordering to the WebSocket's props, dropped streams to its sockets); ``audit`` is a JSON-lines file
    that gets every order request received, refused ones included (also at GET /admin/audit)."""
    sim = standalone(accounts, seed, faults=faults, audit=audit, token_lifetime_s=token_lifetime_s)
    asyncio.run(_serve(sim, port, tick_s))


@contextlib.asynccontextmanager
async def bench_accounts(
    names: Sequence[str],
) -> AsyncIterator[tuple[list[AccountConfig], Callable[[str], str | None]]]:
    """The benchmark's hook (copytui/bench/brokers.py): one simulator account per follower name."""
    sim = TradovateSimulator(seed=7)
    accounts = [sim.add_account(f"BENCH{i:04d}", username=f"bench{i}") for i in range(1, len(names) + 1)]
    port = await sim.start("127.0.0.1", 0)
    configs = [
        AccountConfig(
            name=n,
            broker="tradovate",
            environment="sim",
            host="127.0.0.1",
            port=port,
            username=f"bench{i}",
            account_id=a.name,
        )
        for i, (n, a) in enumerate(zip(names, accounts, strict=True), start=1)
    ]
    try:
        yield configs, lambda _key: None  # environment sim: the simulator's demo login
    finally:
        await sim.stop()
