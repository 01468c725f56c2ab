"""MetaTrader terminals standing in for real ones: ``copytui sim mt``, the benchmark's hook and
the tests' venue.

The bridge is copytui's server and the terminal its client, so the simulator here is the client
side: each :class:`StandIn` is the copytui EA of one terminal (:mod:`adapters.mt.sim_terminal`),
dialing 127.0.0.1 at the bridge's port and redialing until copytui listens, over one account of
a shared paper exchange kept as MetaTrader keeps it (:mod:`adapters.mt.sim_book`), with the
paper exchange's fault switches (latency, rejects, partial fills, dropped connections, duplicated
and reordered events), requotes, and an audit log of every request received.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Sequence

from adapters.kit.tasks import TaskGroup
from adapters.mt.protocol import Platform
from adapters.mt.sim_book import CFD, FUTURES, SimSymbol, TerminalBook
from adapters.mt.sim_terminal import StandIn
from adapters.simkit import AuditLog, Faults, PaperExchange, walk_until_stopped
from copytui.config import AccountConfig

__all__ = ["CFD", "FUTURES", "MtSimulator", "StandIn", "bench_accounts", "free_port", "serve", "sim_token"]


def sim_token(login: int) -> str:
    """A demo terminal's bridge token (simulator only)."""
    return f"mt-sim-{login}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the bridge will)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class MtSimulator:
    """Stand-in terminals over one paper exchange, each dialing 127.0.0.1:``port``."""

    def __init__(
        self,
        port: int,
        exchange: PaperExchange | None = None,
        *,
        seed: int = 7,
        faults: Faults | None = None,
        audit: str | None = None,
    ) -> None:
        self.port = port
        self.exchange = exchange or PaperExchange(seed=seed)
        self.faults = faults
        self.audit = AuditLog("mt", audit)
        self.audit_path = audit
        self.terminals: dict[int, StandIn] = {}
        self.tasks = TaskGroup()
        self._started = False

    def add_terminal(
        self,
        login: int,
        token: str | None = None,
        *,
        account: str | None = None,
        hedging: bool = False,
        symbols: tuple[SimSymbol, ...] = FUTURES,
        platform: Platform = "mt5",
        requote_prob: float = 0.0,
    ) -> StandIn:
        """A terminal of login ``login`` over paper account ``account`` (default: the login)."""
        name = account or str(login)
        faults = Faults(**vars(self.faults)) if self.faults is not None else None
        self.exchange.account(name, faults=faults)
        book = TerminalBook(self.exchange, name, login, hedging=hedging, symbols=symbols, audit=self.audit,
                            requote_prob=requote_prob)  # fmt: skip
        latency = (faults.latency_ms / 1000.0) if faults is not None else 0.0
        terminal = StandIn(book, self.port, token or sim_token(login), platform=platform, latency_s=latency)
        self.terminals[login] = terminal
        if self._started:
            self.tasks.spawn(terminal.run(), f"mt-standin-{login}")
        return terminal

    def book(self, login: int) -> TerminalBook:
        return self.terminals[login].book

    async def start(self) -> None:
        self._started = True
        for login, terminal in self.terminals.items():
            self.tasks.spawn(terminal.run(), f"mt-standin-{login}")

    def drop(self, login: int | None = None) -> int:
        """Cut the connection of ``login``'s terminal (every one: None); how many were connected."""
        cut = 0
        for each, terminal in self.terminals.items():
            if login in (None, each) and terminal.writer is not None:
                terminal.drop("dropped by the simulator")
                cut += 1
        return cut

    async def stop(self) -> None:
        for terminal in self.terminals.values():
            terminal.stop()
            terminal.book.detach()
        await self.tasks.cancel_all()
        self.audit.close()


def standalone(port: int, accounts: int, seed: int, faults: Faults | None, audit: str | None) -> MtSimulator:
    """What ``copytui sim mt`` runs: terminals 5001... on a futures-style symbol list; every
    second one a hedging account."""
    sim = MtSimulator(port, seed=seed, faults=faults, audit=audit)
    for i in range(1, accounts + 1):
        sim.add_terminal(5000 + i, hedging=i % 2 == 0)
    return sim


async def _serve(sim: MtSimulator, tick_s: float) -> None:
    await sim.start()
    n = len(sim.terminals)
    print(f"MetaTrader stand-in: {n} terminal(s) dialing the copytui bridge at 127.0.0.1:{sim.port}", flush=True)
    print("  (each redials until copytui listens there; simulator tokens, never real ones)", flush=True)
    for login, terminal in sim.terminals.items():
        mode = "hedging" if terminal.book.hedging else "netting"
        print(f"    login {login}  server {terminal.server}  {mode:<8} token {terminal.token}", flush=True)
    symbols = " ".join(s.name for s in FUTURES)
    print(f"  symbols {symbols} (1 lot = 1 contract: no options.symbols needed)", flush=True)
    first = next(iter(sim.terminals))
    print(f'  config: broker: mt, host: 127.0.0.1, port: {sim.port}, account_id: "{first}"', flush=True)
    print(f"  token: copytui accounts add NAME --broker mt   (answer {sim_token(first)})", flush=True)
    if sim.faults is not None and sim.faults != Faults():
        print(f"  faults on every account: {sim.faults}", flush=True)
    if sim.audit_path:
        print(f"  audit log: every request received is appended to {sim.audit_path}", flush=True)
    print("  Ctrl-C to stop", flush=True)
    try:
        await walk_until_stopped(sim.exchange, tick_s, "mt-sim")
    finally:
        await sim.stop()
        print("MetaTrader stand-in stopped", flush=True)


def serve(
    port: int,
    accounts: int = 3,
    seed: int = 7,
    *,
    faults: Faults | None = None,
    audit: str | None = None,
    tick_s: float = 0.25,
) -> None:
    """``copytui sim mt``: terminals dialing 127.0.0.1:``port`` (0: a free port, printed) until Ctrl-C."""
    sim = standalone(port or free_port(), accounts, seed, faults, audit)
    asyncio.run(_serve(sim, tick_s))


@contextlib.asynccontextmanager
async def bench_accounts(
    names: Sequence[str],
) -> AsyncIterator[tuple[list[AccountConfig], Callable[[str], str | None]]]:
    """The benchmark's hook (copytui/bench/brokers.py): one terminal per follower name, dialing a
    port copytui's bridge will listen on once the benchmark connects the accounts."""
    port = free_port()
    sim = MtSimulator(port, seed=7)
    logins = [6000 + i for i in range(1, len(names) + 1)]
    for login in logins:
        sim.add_terminal(login)
    await sim.start()
    configs = [
        AccountConfig(name=n, broker="mt", host="127.0.0.1", port=port, account_id=str(login))
        for n, login in zip(names, logins, strict=True)
    ]
    tokens = {f"{n}:token": sim_token(login) for n, login in zip(names, logins, strict=True)}
    try:
        yield configs, tokens.get
    finally:
        await sim.stop()
