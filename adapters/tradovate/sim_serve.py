"""The Tradovate simulator on its own: ``copytui sim tradovate`` (:func:`serve`) and the benchmark's
hook (:func:`bench_accounts`). Both are named in the broker's spec through ``adapters.tradovate.simulator``,
which re-exports them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING

from adapters.simkit import Faults, walk_until_stopped
from adapters.tradovate.settings import SIM_PASSWORD
from copytui.config import AccountConfig

if TYPE_CHECKING:
    from adapters.tradovate.simulator import TradovateSimulator


def standalone(
    accounts: int,
    seed: int,
    *,
    faults: Faults | None = None,
    audit: str | None = None,
    token_lifetime_s: float = 80 * 60.0,
) -> TradovateSimulator:
    """The simulator ``copytui sim tradovate`` runs: demo accounts DEMO0001... of users trader1..."""
    from adapters.tradovate.simulator import TradovateSimulator  # here, not above: simulator.py imports this module

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
        user = sim.gate.user_by_id(a.user_id)
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
    from adapters.tradovate.simulator import TradovateSimulator  # here, not above: simulator.py imports this module

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
