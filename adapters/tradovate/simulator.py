"""A Tradovate server on 127.0.0.1 over the paper exchange: the REST paths and WebSocket frames
of the real API (see PROTOCOLS.md and the adapter's README section), with fault switches.

REST under ``/v1``: auth/accesstokenrequest (penalty tickets, captcha), auth/renewaccesstoken,
account/list, contract/item|items|find|suggest, order|orderVersion|command|executionReport|fill|
position /list, order/item, order/placeorder|placeoco|modifyorder|cancelorder|liquidateposition,
user/syncrequest. WebSocket ``/v1/websocket``: ``o``, ``h`` every 2.5 s, ``a[...]``, ``c[...]``;
``authorize``, ``user/syncrequest`` and every REST endpoint in ``endpoint\\nid\\nquery\\nbody`` form.
What Tradovate's own sample clients send is accepted (sim_bodies.py): a JSON-quoted token, an
``undefined`` body or query, ``{accounts:[id]}`` without entityTypes, ``accountName`` for accountSpec.

The server is made of parts: logins, tokens and early refusals (sim_gate.py), the WebSocket
(sim_socket.py), the order endpoints and the props they push (sim_orders.py), Tradovate's entities
(sim_ledger.py), the simulator's own admin endpoints (sim_admin.py), and ``copytui sim tradovate``
with the benchmark's hook (sim_serve.py, re-exported here).

Fault switches (tests set them directly; ``copytui sim tradovate`` takes a few as flags):
``token_lifetime_s``, :meth:`expire_tokens`, :meth:`rate_limit` (429), :meth:`penalize` (p-ticket,
p-captcha), :meth:`shutdown`, :meth:`drop_sockets`, ``faults.drop_after_requests`` (drop during a
burst, before or after handling), ``faults.duplicate_props`` / ``faults.reorder_props``,
``faults.unique_clordid``, :meth:`inject` (a raw frame), plus the paper exchange's own faults.
A Tradovate account's duplicate and reorder faults act on the wire (``props``), never on the paper
exchange: a duplicated paper fill would become a second Tradovate fill with an id of its own.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from aiohttp import web

from adapters.simkit import Faults, PaperExchange
from adapters.tradovate.settings import SIM_PASSWORD
from adapters.tradovate.sim_admin import Call, SimAdmin, is_order_request
from adapters.tradovate.sim_bodies import BodyNotJSON, parse_body
from adapters.tradovate.sim_gate import LOGIN, Gate, SimUser
from adapters.tradovate.sim_ledger import REFERENCE_ENTITIES, Ledger, now_iso, trade_date
from adapters.tradovate.sim_orders import ORDER_ENDPOINTS, SimOrders
from adapters.tradovate.sim_serve import bench_accounts, serve, standalone
from adapters.tradovate.sim_socket import Sockets
from copytui.models import OrderType, Side

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
class SimAccount:
    id: int
    name: str
    user_id: int


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
        self.heartbeat_s = heartbeat_s
        self.faults = SimFaults()
        self.ledger = Ledger()
        self.gate = Gate(token_lifetime_s)
        self.admin = SimAdmin(self, audit)
        self.sockets = Sockets(self)
        self.orders = SimOrders(self, seed)
        self.accounts: dict[int, SimAccount] = {}
        self.account_by_name: dict[str, SimAccount] = {}
        self.requests: Counter[str] = Counter()
        self.order_bodies: list[tuple[str, Any]] = []
        """(endpoint, body) of every order request handled, in order (contract tests read them)."""
        self._account_ids = iter(range(700_001, 800_000))
        self._runner: web.AppRunner | None = None
        self._unlisten: list[Any] = []
        self.port = 0

    # -------------------------------------------------------------- setup
    def add_account(self, name: str, username: str | None = None, password: str = SIM_PASSWORD) -> SimAccount:
        """A Tradovate account (and its login, created on first use) over a paper-exchange account."""
        if name in self.account_by_name:
            return self.account_by_name[name]
        user = self.gate.user(username or name, password)
        acct = SimAccount(next(self._account_ids), name, user.id)
        user.accounts.append(acct.id)
        self.accounts[acct.id] = acct
        self.account_by_name[name] = acct
        paper = self.exchange.account(name, faults=replace(self.account_faults) if self.account_faults else None)
        self.orders.move_wire_faults(acct.id, paper)

        def drop() -> None:
            self.drop_sockets(name)

        self._unlisten.append(self.exchange.listen(name, lambda ev: self.orders.on_paper(acct.id, ev), drop))
        return acct

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/websocket"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        app = web.Application()
        app.router.add_get("/v1/websocket", self.sockets.handle)
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
        self.sockets.drop(None)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.admin.audit.close()

    # ------------------------------------------------------------ faults
    def expire_tokens(self) -> None:
        """Every token issued so far expires now (REST answers 401; open sockets stay authorized)."""
        self.gate.expire_tokens()

    def rate_limit(self, seconds: float) -> None:
        """Answer every request with 429 for ``seconds`` (HTTP 429 empty body, WS ``{"s":429}``)."""
        self.gate.rate_limit(seconds)

    def penalize(self, endpoint: str, times: int = 1, seconds: float = 0.2, captcha: bool = False) -> None:
        """The next ``times`` calls of ``endpoint`` get a penalty ticket instead of an answer."""
        self.gate.penalize(endpoint, times, seconds, captcha)

    def shutdown(self, reason_code: str = "Maintenance") -> None:
        """Push a ``shutdown`` event and close every WebSocket."""
        self.sockets.shutdown(reason_code)

    def drop_sockets(self, account: str | None = None) -> int:
        """Abort the WebSockets of ``account`` (all when None); returns how many."""
        acct = self.account_by_name.get(account) if account else None
        return self.sockets.drop(acct.id if acct is not None else None)

    def inject(self, account: str, text: str) -> None:
        """Send a raw frame to the sockets subscribed to ``account`` (malformed-frame tests)."""
        self.sockets.push(self.account_by_name[account].id, text)

    # --------------------------------------------------------- counters
    @property
    def users(self) -> dict[str, SimUser]:
        return self.gate.users

    @property
    def logins(self) -> int:
        return self.gate.logins

    @property
    def renewals(self) -> int:
        return self.gate.renewals

    @property
    def tickets_redeemed(self) -> int:
        return self.gate.tickets_redeemed

    @property
    def heartbeats(self) -> int:
        """``[]`` frames received from clients."""
        return self.sockets.heartbeats

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
        if self.gate.limited():
            return 429, None
        if call.endpoint == LOGIN:
            return 200, self.gate.login(call.body)
        auth = request.headers.get("Authorization", "")
        call.user_id = self.gate.user_of(auth[7:] if auth.startswith("Bearer ") else None)
        if call.user_id is None:
            return 401, "Access is denied"
        if call.endpoint == "auth/renewaccesstoken":
            if self.faults.renew_fails:
                return 401, "Access is denied"
            return 200, self.gate.renew(call.user_id)
        return await self.dispatch(call.endpoint, call.user_id, dict(request.query), call.body)

    # --------------------------------------------------------- endpoints
    async def dispatch(self, endpoint: str, user_id: int, query: dict[str, str], body: Any) -> tuple[int, Any]:
        """Any endpoint but the login's, over REST or the WebSocket: (status, answer)."""
        user = self.gate.user_by_id(user_id)
        mine = set(user.accounts)
        if endpoint in ORDER_ENDPOINTS:
            self.order_bodies.append((endpoint, body))
        pen = self.gate.penalty(endpoint, body)
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
            return self.sync(user_id, body)
        if endpoint in ORDER_ENDPOINTS:
            return await self.orders.handle(endpoint, mine, body)
        return 404, {"errorText": f"the simulator does not implement {endpoint}"}

    def sync(self, user_id: int, body: Any) -> tuple[int, Any]:
        """``user/syncrequest``: the snapshot of the user's accounts the body asks for."""
        user = self.gate.user_by_id(user_id)
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
        return self.orders.place_raw(self.account_by_name[account], side, qty, symbol, order_type, price)


__all__ = [
    "Faults",
    "SimAccount",
    "SimFaults",
    "TradovateSimulator",
    "bench_accounts",
    "serve",
    "standalone",
]
