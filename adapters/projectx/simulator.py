"""A loopback ProjectX Gateway: the REST endpoints and the SignalR user hub, over the paper exchange.

It speaks the gateway's wire format (JSON POSTs under /api, ``{success, errorCode, errorMessage}``
answers, a SignalR JSON hub at /hubs/user with ``?access_token=``) and misbehaves on request:
tokens that expire, 429 answers past the request budget or on demand, hub connections dropped
(also when the paper account's ``drop_stream_prob`` fires), duplicated hub frames, late answers to
``Order/place``. ``customTag`` is unique per account, as the gateway documents.

    sim = ProjectXSimulator(exchange, accounts={1001: "PRAC-1001"})
    await sim.start()          # sim.api_url, sim.hub_url
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from adapters.base import OrderRejected
from adapters.paper.exchange import Faults, PaperExchange, PaperOrder
from adapters.paper.serve import walk_until_stopped
from adapters.projectx import contracts
from adapters.projectx.payloads import GwType
from adapters.projectx.ratelimit import TokenBucket
from adapters.projectx.sim_hub import GatewayBook, HubFaults, HubServer, gateway_order_id, iso
from copytui.config import AccountConfig
from copytui.instruments import INSTRUMENTS
from copytui.models import OrderType, Side

log = logging.getLogger("copytui.sim.projectx")

DEFAULT_ACCOUNTS = {1001: "PRAC-1001", 1002: "PRAC-1002", 1003: "PRAC-1003"}
_TYPES = {
    GwType.LIMIT: OrderType.LIMIT,
    GwType.MARKET: OrderType.MARKET,
    GwType.STOP: OrderType.STOP,
    GwType.STOP_LIMIT: OrderType.STOP_LIMIT,
}

Handler = Callable[[dict[str, Any], str], Awaitable[dict[str, Any]]]


class BadRequest(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _ok(**kw: Any) -> dict[str, Any]:
    return {**kw, "success": True, "errorCode": 0, "errorMessage": None}


def _fail(code: int, message: str, **kw: Any) -> dict[str, Any]:
    return {**kw, "success": False, "errorCode": code, "errorMessage": message}


def _field(body: dict[str, Any], name: str, kind: type | tuple[type, ...], *, required: bool = True) -> Any:
    value = body.get(name)
    if value is None:
        if required:
            raise BadRequest(name, "The field is required.")
        return None
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise BadRequest(name, f"expected {kind}, got a boolean")
    if not isinstance(value, kind):
        raise BadRequest(name, f"could not convert {value!r} to {getattr(kind, '__name__', kind)}")
    return value


def _timestamp(body: dict[str, Any], name: str, *, required: bool) -> int | None:
    raw = _field(body, name, str, required=required)
    if raw is None:
        return None
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(name, f"{raw!r} is not an ISO 8601 date-time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1e9)


@dataclass
class _Token:
    user: str
    expires: float  # time.monotonic()


class ProjectXSimulator:
    def __init__(
        self,
        exchange: PaperExchange | None = None,
        *,
        accounts: dict[int, str] | None = None,
        users: dict[str, str] | None = None,
        token_ttl_s: float = 24 * 3600.0,
        budget: tuple[int, float] = (200, 60.0),
        contract_month: str | None = None,
        wrap: str = "orders",
        ping_interval_s: float = 15.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.exchange = exchange or PaperExchange()
        self.accounts = dict(accounts or DEFAULT_ACCOUNTS)
        self.account_ids = {name: aid for aid, name in self.accounts.items()}
        for name in self.accounts.values():
            self.exchange.account(name)
        self.users = users  # None: any user name with any non-empty key
        self.token_ttl_s = token_ttl_s
        self.budget = budget
        now = datetime.now(UTC)
        self.contract_month = contract_month or contracts.front_quarter(now.year, now.month)
        self.host, self.port = host, port
        self.tokens: dict[str, _Token] = {}
        self.buckets: dict[str, TokenBucket] = {}
        self.negotiated: dict[str, str] = {}
        self.force_429 = 0
        self.answered_429 = 0
        self.retry_after_s = 1.0
        self.place_stall_s = 0.0
        self.requests: list[str] = []
        self.book = GatewayBook(self.exchange, self.account_ids, self.contract_of)
        self.hub_faults = HubFaults(wrap=wrap, ping_interval_s=ping_interval_s)
        self.hub = HubServer(self.book, self.hub_faults, self.accounts)
        self._unlisten = [
            self.exchange.listen(name, self.hub.publish, lambda aid=aid: self.hub.drop(aid))
            for aid, name in self.accounts.items()
        ]
        self._runner: web.AppRunner | None = None
        self._routes: dict[str, Handler] = {
            "/api/Auth/loginKey": self._login,
            "/api/Auth/validate": self._validate,
            "/api/Account/search": self._account_search,
            "/api/Contract/search": self._contract_search,
            "/api/Order/place": self._place,
            "/api/Order/modify": self._modify,
            "/api/Order/cancel": self._cancel,
            "/api/Order/searchOpen": self._search_open,
            "/api/Order/search": self._search_orders,
            "/api/Position/searchOpen": self._positions,
            "/api/Position/closeContract": self._close_contract,
            "/api/Position/partialCloseContract": self._partial_close,
            "/api/Trade/search": self._trades,
        }

    # ------------------------------------------------------------- lifecycle
    def contract_of(self, symbol: str) -> str:
        return contracts.contract_for(symbol, self.contract_month)

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def hub_url(self) -> str:
        return f"{self.api_url}/hubs/user"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hubs/user/negotiate", self._negotiate)
        app.router.add_get("/hubs/user", self._hub)
        app.router.add_post("/api/{tail:.+}", self._api)
        return app

    async def start(self) -> ProjectXSimulator:
        # access_log=None: the hub URL carries the token, and a simulator log must not either
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sock = site._server.sockets[0]  # type: ignore[union-attr]
        self.port = sock.getsockname()[1]
        return self

    async def stop(self) -> None:
        self.hub.drop()
        for unlisten in self._unlisten:
            unlisten()
        self._unlisten = []
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> ProjectXSimulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --------------------------------------------------------------- faults
    def answer_429(self, n: int = 1, retry_after_s: float = 1.0) -> None:
        """The next ``n`` authenticated requests are answered 429 Too Many Requests."""
        self.force_429 += n
        self.retry_after_s = retry_after_s

    def drop_hub(self, account_id: int | None = None) -> int:
        return self.hub.drop(account_id)

    def duplicate_next(self, n: int) -> None:
        """The next ``n`` hub frames are each sent twice."""
        self.hub_faults.duplicate_next += n

    def expire_tokens(self) -> None:
        for tok in self.tokens.values():
            tok.expires = 0.0

    # ------------------------------------------------------------------ auth
    def _issue(self, user: str) -> str:
        def b64(obj: object) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

        exp = time.time() + self.token_ttl_s
        token = f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64({'sub': user, 'exp': exp})}.{secrets.token_urlsafe(24)}"
        self.tokens[token] = _Token(user, time.monotonic() + self.token_ttl_s)
        return token

    def _user_of(self, token: str | None) -> str | None:
        tok = self.tokens.get(token or "")
        if tok is None or time.monotonic() >= tok.expires:
            return None
        return tok.user

    @staticmethod
    def _bearer(request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            return header[7:].strip()
        return request.query.get("access_token")

    # ------------------------------------------------------------------ REST
    async def _api(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.requests.append(path)
        handler = self._routes.get(path)
        if handler is None:
            return web.json_response({"title": "Not Found", "status": 404}, status=404)
        user = ""
        if path != "/api/Auth/loginKey":
            found = self._user_of(self._bearer(request))
            if found is None:
                return web.Response(status=401)
            user = found
            limited = self._limited(user)
            if limited is not None:
                return limited
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            return self._bad(BadRequest("$", "the body is not valid JSON"))
        if not isinstance(body, dict):
            return self._bad(BadRequest("$", "the body must be a JSON object"))
        try:
            answer = await handler(body, user)
        except BadRequest as exc:
            return self._bad(exc)
        return web.json_response(answer)

    def _limited(self, user: str) -> web.Response | None:
        bucket = self.buckets.setdefault(user, TokenBucket(*self.budget))
        wait = bucket.wait_time()
        if self.force_429 > 0:
            self.force_429 -= 1
            wait = max(wait, self.retry_after_s)
        elif wait <= 0:
            bucket.tokens -= 1
            return None
        self.answered_429 += 1
        return web.Response(status=429, text="Too Many Requests", headers={"Retry-After": str(math.ceil(wait))})

    @staticmethod
    def _bad(exc: BadRequest) -> web.Response:
        body = {"title": "One or more validation errors occurred.", "status": 400, "errors": {exc.field: [exc.message]}}
        return web.json_response(body, status=400)

    async def _login(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        user = _field(body, "userName", str)
        key = _field(body, "apiKey", str)
        good = bool(key) if self.users is None else self.users.get(user) == key
        if not good:
            return _fail(3, "Invalid user name or API key.", token=None)
        return _ok(token=self._issue(user))

    async def _validate(self, _body: dict[str, Any], user: str) -> dict[str, Any]:
        return _ok(newToken=self._issue(user))

    def _account(self, body: dict[str, Any]) -> str | None:
        return self.accounts.get(_field(body, "accountId", int))

    async def _account_search(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        _field(body, "onlyActiveAccounts", bool)
        out = [
            {
                "id": aid,
                "name": name,
                "balance": self.exchange.accounts[name].balance,
                "canTrade": True,
                "isVisible": True,
                "simulated": True,
            }
            for aid, name in self.accounts.items()
        ]
        return _ok(accounts=out)

    async def _contract_search(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        text = (_field(body, "searchText", str, required=False) or "").upper()
        _field(body, "live", bool)
        found = []
        for sym, inst in INSTRUMENTS.items():
            if text and text not in (sym, contracts.PRODUCT_CODES[sym]) and not sym.startswith(text):
                continue
            found.append(
                {
                    "id": self.contract_of(sym),
                    "name": f"{sym}{self.contract_month[0]}{self.contract_month[-1]}",
                    "description": f"{inst.description}: {self.contract_month}",
                    "tickSize": inst.tick_size,
                    "tickValue": inst.tick_value,
                    "activeContract": True,
                    "symbolId": f"F.US.{contracts.PRODUCT_CODES[sym]}",
                }
            )
        return _ok(contracts=found)

    def _symbol(self, contract_id: str) -> tuple[str | None, dict[str, Any] | None]:
        try:
            sym = contracts.symbol_of(contract_id)
        except contracts.ContractError as exc:
            return None, _fail(8, f"Contract not found: {exc}")
        if contract_id != self.contract_of(sym):
            return None, _fail(
                9, f"Contract {contract_id} is not active; the active {sym} contract is {self.contract_of(sym)}"
            )
        return sym, None

    async def _latency(self, name: str) -> None:
        ms = self.exchange.accounts[name].faults.latency_ms
        if ms:
            await asyncio.sleep(ms / 2000.0)

    async def _place(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        name = self._account(body)
        contract_id = _field(body, "contractId", str)
        raw_type = _field(body, "type", int)
        side = _field(body, "side", int)
        size = _field(body, "size", int)
        limit = _field(body, "limitPrice", (int, float), required=False)
        stop = _field(body, "stopPrice", (int, float), required=False)
        tag = _field(body, "customTag", str, required=False)
        if name is None:
            return _fail(1, "Account not found.", orderId=None)
        if side not in (0, 1):
            raise BadRequest("side", f"{side} is not a valid OrderSide (0 bid, 1 ask)")
        try:
            gw_type = GwType(raw_type)
        except ValueError:
            raise BadRequest("type", f"{raw_type} is not a valid OrderType") from None
        if gw_type not in _TYPES:
            return _fail(2, f"order type {gw_type.name} is not simulated", orderId=None)
        sym, refusal = self._symbol(contract_id)
        if refusal is not None:
            return {**refusal, "orderId": None}
        assert sym is not None
        acct = self.exchange.accounts[name]
        if tag is not None and tag in acct.by_client_id:
            acct.submissions.append(tag)
            return _fail(
                2, f"customTag {tag!r} is already used on account {body['accountId']}: it must be unique", orderId=None
            )
        await self._latency(name)
        try:
            order = self.exchange.submit(
                name,
                symbol=sym,
                side=Side.BUY if side == 0 else Side.SELL,
                qty=size,
                order_type=_TYPES[gw_type],
                price=limit,
                stop_price=stop,
                client_order_id=tag,
            )
        except OrderRejected as exc:
            await self._latency(name)
            return _fail(2, str(exc), orderId=None)
        if self.place_stall_s:
            await asyncio.sleep(self.place_stall_s)
        await self._latency(name)
        return _ok(orderId=gateway_order_id(order.id))

    def _order(self, name: str, order_id: int) -> PaperOrder | None:
        return self.exchange.accounts[name].orders.get(f"P{order_id}")

    async def _modify(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        name = self._account(body)
        order_id = _field(body, "orderId", int)
        size = _field(body, "size", int, required=False)
        limit = _field(body, "limitPrice", (int, float), required=False)
        stop = _field(body, "stopPrice", (int, float), required=False)
        if name is None:
            return _fail(1, "Account not found.")
        order = self._order(name, order_id)
        if order is None:
            return _fail(2, f"Order {order_id} not found.")
        await self._latency(name)
        try:
            self.exchange.modify(name, order.id, qty=size, price=limit, stop_price=stop)
        except OrderRejected as exc:
            return _fail(3, str(exc))
        await self._latency(name)
        return _ok()

    async def _cancel(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        name = self._account(body)
        order_id = _field(body, "orderId", int)
        if name is None:
            return _fail(1, "Account not found.")
        order = self._order(name, order_id)
        if order is None:
            return _fail(2, f"Order {order_id} not found.")
        await self._latency(name)
        try:
            self.exchange.cancel(name, order.id)
        except OrderRejected as exc:
            return _fail(3, str(exc))
        await self._latency(name)
        return _ok()

    async def _search_open(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        name = self._account(body)
        if name is None:
            return _fail(1, "Account not found.", orders=[])
        orders = [o for o in self.exchange.accounts[name].orders.values() if not o.status.final]
        return _ok(orders=[self.book.order_payload(o) for o in orders])

    async def _search_orders(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        name = self._account(body)
        start = _timestamp(body, "startTimestamp", required=True) or 0
        end = _timestamp(body, "endTimestamp", required=False) or time.time_ns() + 1
        if name is None:
            return _fail(1, "Account not found.", orders=[])
        out = []
        for o in self.exchange.accounts[name].orders.values():
            created = self.book.created_ns.get(gateway_order_id(o.id), 0)
            if start <= created <= end:
                out.append(self.book.order_payload(o))
        return _ok(orders=out)

    async def _positions(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        name = self._account(body)
        if name is None:
            return _fail(1, "Account not found.", positions=[])
        aid = self.account_ids[name]
        out = []
        for p in self.exchange.position_list(name):
            if p.qty:
                out.append(
                    {
                        "id": self.book.position_ids.setdefault((aid, p.symbol), len(self.book.position_ids) + 1),
                        "accountId": aid,
                        "contractId": self.contract_of(p.symbol),
                        "creationTimestamp": iso(),
                        "type": 1 if p.qty > 0 else 2,
                        "size": abs(p.qty),
                        "averagePrice": p.avg_price,
                    }
                )
        return _ok(positions=out)

    def _close(self, name: str, sym: str, qty: int) -> None:
        acct = self.exchange.accounts[name]
        saved, acct.faults = acct.faults, Faults()  # closing a position is not refused by the fault injector
        try:
            self.exchange.submit(name, symbol=sym, side=Side.for_delta(-qty), qty=abs(qty))
        finally:
            acct.faults = saved

    async def _close_contract(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        name = self._account(body)
        contract_id = _field(body, "contractId", str)
        if name is None:
            return _fail(1, "Account not found.")
        sym, refusal = self._symbol(contract_id)
        if refusal is not None:
            return refusal
        assert sym is not None
        pos = self.exchange.accounts[name].positions.get(sym)
        if pos is None or pos.qty == 0:
            return _fail(2, f"No open position in {contract_id}.")
        self._close(name, sym, pos.qty)
        return _ok()

    async def _partial_close(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        name = self._account(body)
        contract_id = _field(body, "contractId", str)
        size = _field(body, "size", int)
        if name is None:
            return _fail(1, "Account not found.")
        sym, refusal = self._symbol(contract_id)
        if refusal is not None:
            return refusal
        assert sym is not None
        pos = self.exchange.accounts[name].positions.get(sym)
        if pos is None or pos.qty == 0:
            return _fail(2, f"No open position in {contract_id}.")
        if not 0 < size <= abs(pos.qty):
            return _fail(2, f"size {size} must be between 1 and the position's {abs(pos.qty)}")
        self._close(name, sym, size if pos.qty > 0 else -size)
        return _ok()

    async def _trades(self, body: dict[str, Any], _user: str) -> dict[str, Any]:
        name = self._account(body)
        start = _timestamp(body, "startTimestamp", required=True) or 0
        end = _timestamp(body, "endTimestamp", required=False) or time.time_ns() + 1
        if name is None:
            return _fail(1, "Account not found.", trades=[])
        aid = self.account_ids[name]
        out = []
        for t in self.book.trades.get(aid, []):
            ts = int(datetime.fromisoformat(t["creationTimestamp"]).timestamp() * 1e9)
            if start <= ts <= end:
                out.append(t)
        return _ok(trades=out)

    # ------------------------------------------------------------------- hub
    async def _negotiate(self, request: web.Request) -> web.StreamResponse:
        user = self._user_of(self._bearer(request))
        if user is None:
            return web.Response(status=401)
        # as ASP.NET Core does: negotiateVersion 1 clients connect with connectionToken, older with connectionId
        version = 1 if request.query.get("negotiateVersion", "0") not in ("", "0") else 0
        conn_id, conn_token = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        self.negotiated[conn_token if version else conn_id] = user
        answer: dict[str, Any] = {
            "negotiateVersion": version,
            "connectionId": conn_id,
            "availableTransports": [{"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}],
        }
        if version:
            answer["connectionToken"] = conn_token
        return web.json_response(answer)

    async def _hub(self, request: web.Request) -> web.StreamResponse:
        user = self._user_of(self._bearer(request))
        if user is None:
            return web.Response(status=401)
        conn_id = request.query.get("id")
        if conn_id is not None and self.negotiated.pop(conn_id, None) is None:
            return web.Response(status=404, text="No Connection with that ID")
        return await self.hub.serve(request, user)


SIM_API_KEY = "sim-key"


async def _serve(port: int, accounts: int, seed: int, tick_s: float) -> None:
    exchange = PaperExchange(seed=seed)
    ids = {1000 + i: f"PRAC-{1000 + i}" for i in range(1, accounts + 1)}
    sim = ProjectXSimulator(exchange, accounts=ids, users=None, host="127.0.0.1", port=port)
    await sim.start()
    front = ", ".join(sim.contract_of(s) for s in ("ES", "MES", "NQ", "MNQ"))
    print(f"projectx simulator listening on {sim.api_url}/api   user hub {sim.hub_url}", flush=True)
    print(f"  contracts {front} ...", flush=True)
    print(f"  any username logs in with any API key (e.g. {SIM_API_KEY!r}; simulator only); accounts:", flush=True)
    for aid, name in ids.items():
        print(f"    account_id {aid}  ({name})", flush=True)
    first = next(iter(ids))
    print(
        f"  config: broker: projectx, environment: sim, host: 127.0.0.1, port: {sim.port}, username: trader1, "
        f'account_id: "{first}"',
        flush=True,
    )
    print("  Ctrl-C to stop", flush=True)
    try:
        await walk_until_stopped(exchange, tick_s, "projectx-sim")
    finally:
        await sim.stop()
        print("projectx simulator stopped", flush=True)


def serve(port: int, accounts: int = 3, seed: int = 7, *, tick_s: float = 0.25) -> None:
    """``copytui sim projectx --port PORT``: run until Ctrl-C."""
    asyncio.run(_serve(port, accounts, seed, tick_s))


# The gateway's request budget (200 a minute per user) would turn the benchmark's paced orders
# into rate-limit waits; the benchmark measures copytui's wire path, so both ends get a roomy one.
BENCH_REQUESTS_PER_MINUTE = 100_000


@contextlib.asynccontextmanager
async def bench_accounts(
    names: Sequence[str],
) -> AsyncIterator[tuple[list[AccountConfig], Callable[[str], str | None]]]:
    """The benchmark's hook (copytui/bench/brokers.py): one simulator account and user per follower name."""
    ids = {2000 + i: f"BENCH-{2000 + i}" for i in range(1, len(names) + 1)}
    sim = ProjectXSimulator(accounts=ids, users=None, budget=(BENCH_REQUESTS_PER_MINUTE, 60.0))
    await sim.start()
    configs = [
        AccountConfig(
            name=n,
            broker="projectx",
            environment="sim",
            host="127.0.0.1",
            port=sim.port,
            username=f"bench{i}",  # one user each: the adapter's request budget is per user
            account_id=str(aid),
            options={"requests_per_minute": BENCH_REQUESTS_PER_MINUTE},
        )
        for i, (n, aid) in enumerate(zip(names, ids, strict=True), start=1)
    ]
    try:
        # the simulator takes any non-empty API key: this one stands in for the keyring
        yield configs, lambda key: SIM_API_KEY if key == "api_key" or key.endswith(":api_key") else None
    finally:
        await sim.stop()


__all__ = ["SIM_API_KEY", "ProjectXSimulator", "bench_accounts", "serve"]
