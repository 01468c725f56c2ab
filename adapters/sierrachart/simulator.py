"""A loopback Sierra Chart DTC protocol server (JSON encoding) over the paper exchange.

It stands for Sierra Chart with Enable DTC Protocol Server, Allow Trading and Encoding: JSON set
(:mod:`adapters.sierrachart.sim_session` answers each connection, :mod:`adapters.sierrachart.sim_orders`
trades on the paper exchange, :mod:`adapters.sierrachart.sim_oco` keeps its OCO pairs and brackets
sent with SUBMIT_NEW_OCO_ORDER). Its trade accounts are paper accounts (``Sim1``, ``Sim2``, ...:
Sierra Chart's own simulated accounts are named so); its symbols are ``ESZ25_FUT_CME``-like, one
per copytui symbol, in the front quarterly month. It misbehaves on request: the accounts'
:class:`Faults` (latency on order requests, rejects, partial fills, dropped connections,
duplicated and reordered ORDER_UPDATEs), ``compact`` (answers in the compact JSON form),
``encoding="binary"`` (a server left at binary), ``allow_trading=False``, ``users`` (a login
required), ``heartbeats=False`` (a silent server), ``logoff()``, ``drop_sockets()`` and ``inject()``.
Every order request received, refused ones too, goes to the :class:`AuditLog`.

    sim = SierraChartSimulator(exchange, accounts=("Sim1", "Sim2"))
    await sim.start()          # sim.port
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Literal

from adapters.sierrachart.sim_orders import Desk
from adapters.sierrachart.sim_session import Connection, serve_connection
from adapters.sierrachart.wire import Msg, encode
from adapters.simkit import AuditLog, Faults, PaperExchange, walk_until_stopped
from copytui.config import AccountConfig
from copytui.instruments import INSTRUMENTS
from copytui.models import AccountEvent, Side


def front_quarter(now: datetime | None = None) -> str:
    """The quarterly month code and two-digit year at or after ``now``: "Z25"."""
    now = now or datetime.now(UTC)
    month = next(m for m in (3, 6, 9, 12) if m >= now.month)
    return "HMUZ"[(month // 3) - 1] + f"{now.year % 100:02d}"


def sim_contracts(now: datetime | None = None) -> dict[str, str]:
    month = front_quarter(now)
    return {root: f"{root}{month}_FUT_CME" for root in INSTRUMENTS}


def contracts_option(contracts: dict[str, str], roots: Sequence[str] = ("ES", "MES", "NQ", "MNQ")) -> str:
    """The ``contracts`` option line for these roots."""
    return ", ".join(f"{r}={contracts[r]}" for r in roots)


class SierraChartSimulator:
    def __init__(
        self,
        exchange: PaperExchange | None = None,
        *,
        accounts: Sequence[str] = ("Sim1",),
        users: dict[str, str] | None = None,
        contracts: dict[str, str] | None = None,
        allow_trading: bool = True,
        encoding: Literal["json", "binary"] = "json",
        compact: bool = False,
        faults: Faults | None = None,
        audit: AuditLog | str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """``users``: username -> password the logon must give (None: any login); ``faults``: given to every
        account (each its own copy); ``audit``: a log, or a JSON-lines file to append order requests to."""
        self.exchange = exchange or PaperExchange()
        self.accounts = list(accounts)
        for name in self.accounts:
            self.exchange.account(name, faults=replace(faults) if faults is not None else None)
        self.users, self.allow_trading, self.encoding, self.compact = users, allow_trading, encoding, compact
        self.heartbeats = True
        self.contracts = contracts or sim_contracts()
        self._owns_audit = not isinstance(audit, AuditLog)
        self.audit = audit if isinstance(audit, AuditLog) else AuditLog("sierrachart", audit)
        self.desk = Desk(self.exchange, self.contracts, self.audit, say=self._tell)
        self.host, self.port = host, port
        self.connections: set[Connection] = set()
        self.received: Counter[int] = Counter()
        """Messages received, by Type."""
        self.messages: deque[dict[str, Any]] = deque(maxlen=100_000)
        """Every message received, as decoded, a logon's Password replaced by "***" (contract tests)."""
        self.order_requests: list[dict[str, Any]] = []
        """Every order request as received (for contract tests of what a client sends)."""
        self.bad_requests: list[str] = []
        self._server: asyncio.Server | None = None
        self._unlisten = [self.exchange.listen(n, self._publisher(n), self._dropper(n)) for n in self.accounts]

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> SierraChartSimulator:
        self._server = await asyncio.start_server(lambda r, w: serve_connection(self, r, w), self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for unlisten in self._unlisten:
            unlisten()
        self._unlisten = []
        for conn in list(self.connections):
            conn.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None
        if self._owns_audit:
            self.audit.close()

    async def __aenter__(self) -> SierraChartSimulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------ events out
    def _publisher(self, account: str) -> Callable[[AccountEvent], None]:
        def publish(ev: AccountEvent) -> None:
            message = self.desk.event_message(ev)
            if message is not None:
                self._tell(account, *message)
            self.desk.after(ev)

        return publish

    def _tell(self, account: str, msg_type: int, fields: dict[str, Any]) -> None:
        for conn in list(self.connections):
            if conn.follows(account):
                conn.send(msg_type, fields)

    def _dropper(self, account: str) -> Callable[[], None]:
        def drop() -> None:
            self.drop_sockets(account)

        return drop

    # ------------------------------------------------------------ switches
    def drop_sockets(self, account: str | None = None) -> int:
        """Close the connections that follow ``account`` (None: every connection), as a network drop would."""
        dropped = [c for c in self.connections if account is None or c.follows(account)]
        for conn in dropped:
            conn.close()
        return len(dropped)

    def logoff(self, reason: str, do_not_reconnect: bool = False) -> int:
        """LOGOFF to every connection, then close it (a Sierra Chart shutting down its server)."""
        conns = list(self.connections)
        for conn in conns:
            conn.send(Msg.LOGOFF, {"Reason": reason, "DoNotReconnect": int(do_not_reconnect)})
            conn.close()
        return len(conns)

    def inject(self, account: str, data: bytes) -> int:
        """Raw bytes to the connections following ``account`` (malformed-message tests)."""
        conns = [c for c in self.connections if c.follows(account)]
        for conn in conns:
            conn.write_raw(data)
        return len(conns)

    def say(self, account: str, msg_type: int, fields: dict[str, Any]) -> int:
        """One well-formed message to the connections following ``account``."""
        return self.inject(account, encode(msg_type, fields))

    def place_raw(self, account: str, side: Side, qty: int, symbol: str = "ES") -> str:
        """A trade made in Sierra Chart itself (its order entry, not DTC): the account's news only."""
        return self.exchange.submit(account, symbol=symbol, side=side, qty=qty).id


DEMO_NOTE = "any username and password log on (the simulator asks for none)"


async def _serve(port: int, accounts: int, seed: int, tick_s: float, faults: Faults | None, audit: str | None) -> None:
    exchange = PaperExchange(seed=seed)
    names = [f"Sim{i}" for i in range(1, accounts + 1)]
    sim = SierraChartSimulator(exchange, accounts=names, faults=faults, audit=audit, port=port)
    await sim.start()
    print(f"sierrachart simulator (DTC protocol, JSON encoding) listening on 127.0.0.1:{sim.port}", flush=True)
    print(f"  trade accounts: {', '.join(names)}; {DEMO_NOTE}", flush=True)
    print(f"  symbols: {contracts_option(sim.contracts, tuple(sim.contracts))}", flush=True)
    if faults is not None and faults != Faults():
        print(f"  faults on every account: {faults}", flush=True)
    if audit:
        print(f"  order requests appended to {audit}", flush=True)
    for name in names:
        print(
            f"  config: broker: sierrachart, host: 127.0.0.1, port: {sim.port}, account_id: {name}, "
            f'options: {{contracts: "{contracts_option(sim.contracts)}"}}',
            flush=True,
        )
    print("  Ctrl-C to stop", flush=True)
    try:
        await walk_until_stopped(exchange, tick_s, "sierrachart-sim")
    finally:
        await sim.stop()
        print("sierrachart simulator stopped", flush=True)


def serve(
    port: int,
    accounts: int = 3,
    seed: int = 7,
    *,
    faults: Faults | None = None,
    audit: str | None = None,
    tick_s: float = 0.25,
) -> None:
    """``copytui sim sierrachart --port PORT [fault flags] [--audit FILE]``: run until Ctrl-C."""
    asyncio.run(_serve(port, accounts, seed, tick_s, faults, audit))


@contextlib.asynccontextmanager
async def bench_accounts(
    names: Sequence[str],
) -> AsyncIterator[tuple[list[AccountConfig], Callable[[str], str | None]]]:
    """The benchmark's hook (copytui/bench/brokers.py): one simulated trade account per follower name."""
    accounts = [f"BENCH{i}" for i in range(1, len(names) + 1)]
    sim = SierraChartSimulator(accounts=accounts)
    await sim.start()
    configs = [
        AccountConfig(
            name=n,
            broker="sierrachart",
            environment="sim",
            host="127.0.0.1",
            port=sim.port,
            account_id=acct,
            options={"contracts": contracts_option(sim.contracts, tuple(sim.contracts))},
        )
        for n, acct in zip(names, accounts, strict=True)
    ]
    try:
        yield configs, lambda _key: None  # the simulator asks for no login
    finally:
        await sim.stop()


__all__ = ["SierraChartSimulator", "bench_accounts", "front_quarter", "serve", "sim_contracts"]
