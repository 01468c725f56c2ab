"""A loopback ProjectX Gateway: the REST endpoints and the SignalR user and market hubs, over the
paper exchange.

It speaks the gateway's wire format (JSON POSTs under /api, ``{success, errorCode, errorMessage}``
answers, SignalR JSON hubs at /hubs/user and /hubs/market with ``?access_token=``) and misbehaves
on request: tokens that expire, 429 answers past the request budget or on demand, hub connections
dropped, duplicated and reordered hub events, late answers to ``Order/place``, and whatever the
paper accounts' :class:`Faults` say (``faults=`` applies one set to every account; its stream
faults act on the user hub through the accounts' events and on the market hub's quote frames).
``customTag`` is unique per account, as the gateway documents.

Every order request received (place, modify, cancel, closeContract, partialCloseContract), refused
ones included and with the reason, goes to an :class:`AuditLog`: ``GET /admin/audit`` serves it as
JSON, and ``audit="file.jsonl"`` appends it to a file too. /admin is the simulator's own, not the
gateway's.

    sim = ProjectXSimulator(exchange, accounts={1001: "PRAC-1001"})
    await sim.start()          # sim.api_url, sim.hub_url, sim.market_hub_url, sim.admin_url
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from adapters.projectx import contracts
from adapters.projectx.ratelimit import TokenBucket
from adapters.projectx.sim_auth import GatewayAuth
from adapters.projectx.sim_book import GatewayBook
from adapters.projectx.sim_hub import HubFaults, HubServer
from adapters.projectx.sim_market import MarketHub
from adapters.projectx.sim_rest import BadRequest, GatewayTrading
from adapters.simkit import AuditLog, Faults, PaperExchange, walk_until_stopped
from copytui.config import AccountConfig

log = logging.getLogger("copytui.sim.projectx")

DEFAULT_ACCOUNTS = {1001: "PRAC-1001", 1002: "PRAC-1002", 1003: "PRAC-1003"}
Handler = Callable[[dict[str, Any], str], Awaitable[dict[str, Any]]]
# order requests, as the gateway's API names them in the audit log
_AUDITED = {
    "/api/Order/place": "place",
    "/api/Order/modify": "modify",
    "/api/Order/cancel": "cancel",
    "/api/Position/closeContract": "closeContract",
    "/api/Position/partialCloseContract": "partialCloseContract",
}


class ProjectXSimulator(GatewayTrading):
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
        faults: Faults | None = None,
        audit: AuditLog | str | None = None,
    ) -> None:
        """``faults``: given to every account (each its own copy); ``audit``: a log to record order requests
        in, or a JSON-lines file to append them to (the simulator then owns the log and closes it)."""
        self.exchange = exchange or PaperExchange()
        self.accounts = dict(accounts or DEFAULT_ACCOUNTS)
        self.account_ids = {name: aid for aid, name in self.accounts.items()}
        for name in self.accounts.values():
            self.exchange.account(name, faults=replace(faults) if faults is not None else None)
        self._owns_audit = not isinstance(audit, AuditLog)
        self.audit = audit if isinstance(audit, AuditLog) else AuditLog("projectx", audit)
        self.auth = GatewayAuth(users, token_ttl_s)
        self.budget = budget
        now = datetime.now(UTC)
        self.contract_month = contract_month or contracts.front_quarter(now.year, now.month)
        self.host, self.port = host, port
        self.buckets: dict[str, TokenBucket] = {}
        self.force_429 = 0
        self.answered_429 = 0
        self.retry_after_s = 1.0
        self.place_stall_s = 0.0
        self.trade_search_stall_s = 0.0
        """Seconds Trade/search takes: widens the window in which a resync races live hub events."""
        self.requests: list[str] = []
        self.book = GatewayBook(self.exchange, self.account_ids, self.contract_of)
        self.hub_faults = HubFaults(wrap=wrap, ping_interval_s=ping_interval_s)
        self.hub = HubServer(self.book, self.hub_faults, self.accounts)
        stream = faults or Faults()
        self.market_faults = HubFaults(
            wrap="none",
            ping_interval_s=ping_interval_s,
            duplicate_prob=stream.duplicate_prob,
            reorder_prob=stream.reorder_prob,
            drop_prob=stream.drop_stream_prob,
        )
        self.market = MarketHub(self.exchange, self.market_faults, self._contract_refusal)
        self._unlisten = [
            self.exchange.listen(name, self.hub.publish, self.hub.dropper(aid)) for aid, name in self.accounts.items()
        ]
        self._runner: web.AppRunner | None = None
        self.routes: dict[str, Handler] = {  # by path; a test may swap one for a misbehaving answer
            "/api/Auth/loginKey": self.auth.login,
            "/api/Auth/validate": self.auth.validate,
            "/api/Account/search": self._account_search,
            "/api/Contract/search": self._contract_search,
            "/api/Contract/searchById": self._contract_by_id,
            "/api/Order/place": self._place,
            "/api/Order/modify": self._modify,
            "/api/Order/cancel": self._cancel,
            "/api/Order/searchOpen": self._search_open,
            "/api/Order/search": self._search_orders,
            "/api/Order/searchById": self._order_by_id,
            "/api/Position/searchOpen": self._positions,
            "/api/Position/closeContract": self._close_contract,
            "/api/Position/partialCloseContract": self._partial_close,
            "/api/Trade/search": self._trades,
        }

    # ------------------------------------------------------------- lifecycle
    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def hub_url(self) -> str:
        return f"{self.api_url}/hubs/user"

    @property
    def market_hub_url(self) -> str:
        return f"{self.api_url}/hubs/market"

    @property
    def admin_url(self) -> str:
        return f"{self.api_url}/admin"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hubs/user/negotiate", self.auth.negotiate)
        app.router.add_get("/hubs/user", self._hub)
        app.router.add_post("/hubs/market/negotiate", self.auth.negotiate)
        app.router.add_get("/hubs/market", self._market_hub)
        app.router.add_get("/admin/audit", self._admin_audit)
        app.router.add_post("/api/{tail:.+}", self._api)
        return app

    async def start(self) -> ProjectXSimulator:
        # access_log=None: the hub URL carries the token, and a simulator log must not either
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]
        self.market.start()
        return self

    async def stop(self) -> None:
        self.hub.drop()
        await self.market.stop()
        for unlisten in self._unlisten:
            unlisten()
        self._unlisten = []
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._owns_audit:
            self.audit.close()

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
        self.auth.expire()

    @property
    def tokens(self) -> list[str]:
        """Every token issued so far (tests check that none reaches a log)."""
        return list(self.auth.tokens)

    # ------------------------------------------------------------------ REST
    async def _api(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.requests.append(path)
        handler = self.routes.get(path)
        if handler is None:
            return web.json_response({"title": "Not Found", "status": 404}, status=404)
        action = _AUDITED.get(path)
        if action is None:
            return await self._answer(request, handler)
        answer: web.StreamResponse | None = None
        try:
            answer = await self._answer(request, handler)
            return answer
        finally:
            await self._record(request, action, answer)

    async def _answer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        user = ""
        if request.path != "/api/Auth/loginKey":
            found = self.auth.user_of(request)
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

    async def _record(self, request: web.Request, action: str, answer: web.StreamResponse | None) -> None:
        """One audit entry per order request, whatever became of it (an order request carries no secret)."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        fields = body if isinstance(body, dict) else {}
        if answer is None:
            outcome, reason = "refused", "the simulator failed while answering"
        elif isinstance(answer, web.Response) and answer.status == 200 and isinstance(answer.body, bytes):
            data = json.loads(answer.body)
            outcome = "accepted" if data.get("success") else "refused"
            reason = "" if data.get("success") else f"errorCode {data.get('errorCode')}: {data.get('errorMessage')}"
        else:
            text = answer.text if isinstance(answer, web.Response) and answer.body is not None else ""
            outcome, reason = "refused", f"HTTP {answer.status} {answer.reason}{': ' + text if text else ''}"
        tag = fields.get("customTag")
        if tag is None and action in ("modify", "cancel"):
            tag = self._tag_of(fields.get("accountId"), fields.get("orderId"))
        self.audit.record(
            str(fields.get("accountId", "")),
            action,
            tag if isinstance(tag, str) else None,
            outcome,
            reason,
            fields if body is not None else {"body": "(not a JSON object)"},
        )

    def _tag_of(self, account_id: Any, order_id: Any) -> str | None:
        name = self.accounts.get(account_id) if isinstance(account_id, int) else None
        if name is None or not isinstance(order_id, int):
            return None
        order = self._order(name, order_id)
        return order.client_order_id if order is not None else None

    async def _admin_audit(self, _request: web.Request) -> web.StreamResponse:
        return web.json_response(self.audit.as_json())

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

    # ------------------------------------------------------------------- hub
    async def _hub(self, request: web.Request) -> web.StreamResponse:
        return await self._hub_connection(request, self.hub)

    async def _market_hub(self, request: web.Request) -> web.StreamResponse:
        return await self._hub_connection(request, self.market)

    async def _hub_connection(self, request: web.Request, hub: HubServer | MarketHub) -> web.StreamResponse:
        user = self.auth.hub_user(request)
        return user if isinstance(user, web.Response) else await hub.serve(request, user)


SIM_API_KEY = "sim-key"


async def _serve(port: int, accounts: int, seed: int, tick_s: float, faults: Faults | None, audit: str | None) -> None:
    exchange = PaperExchange(seed=seed)
    ids = {1000 + i: f"PRAC-{1000 + i}" for i in range(1, accounts + 1)}
    sim = ProjectXSimulator(exchange, accounts=ids, users=None, host="127.0.0.1", port=port, faults=faults, audit=audit)
    await sim.start()
    front = ", ".join(sim.contract_of(s) for s in ("ES", "MES", "NQ", "MNQ"))
    print(f"projectx simulator listening on {sim.api_url}/api   user hub {sim.hub_url}", flush=True)
    print(f"  market hub {sim.market_hub_url}   audit log GET {sim.admin_url}/audit", flush=True)
    if faults is not None and faults != Faults():
        print(f"  faults on every account: {faults}", flush=True)
    if audit:
        print(f"  order requests appended to {audit}", flush=True)
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


def serve(
    port: int,
    accounts: int = 3,
    seed: int = 7,
    *,
    faults: Faults | None = None,
    audit: str | None = None,
    tick_s: float = 0.25,
) -> None:
    """``copytui sim projectx --port PORT [fault flags] [--audit FILE]``: run until Ctrl-C.

    ``faults`` applies to every demo account (and to the market hub's quote frames), ``audit`` is a
    JSON-lines file that gets every order request received, refused ones included."""
    asyncio.run(_serve(port, accounts, seed, tick_s, faults, audit))


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
