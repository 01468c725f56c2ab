"""``copytui sim rithmic`` and the benchmark's hook: the simulator standalone, and one simulated
Rithmic user holding the benchmark's follower accounts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence

from adapters.rithmic.simulator import SIM_PASSWORD, RithmicSimulator, SimUser
from adapters.simkit import Faults, PaperExchange, walk_until_stopped
from copytui.config import AccountConfig


async def _serve(port: int, accounts: int, seed: int, tick_s: float, faults: Faults | None, audit: str | None) -> None:
    names = [f"RSIM-{1000 + i}" for i in range(1, accounts + 1)]
    exchange = PaperExchange(seed=seed)
    sim = RithmicSimulator(exchange, users={"trader1": SimUser(None, names)}, port=port, faults=faults, audit=audit)
    await sim.start()
    front = ", ".join(str(c) for c in sim.desk.contracts.values())
    print(f"rithmic simulator listening on {sim.url} (R|Protocol: ticker, order and PnL plants)", flush=True)
    print(f"  systems: {', '.join(sim.systems)}", flush=True)
    print(f"  user trader1, any password (e.g. {SIM_PASSWORD!r}; simulator only); accounts:", flush=True)
    for name in names:
        print(f"    account_id {name}", flush=True)
    print(f"  front months: {front}", flush=True)
    if faults is not None and faults != Faults():
        print(f"  faults on every account: {faults}", flush=True)
    if audit:
        print(f"  order requests appended to {audit}", flush=True)
    print(
        f"  config: broker: rithmic, environment: sim, host: 127.0.0.1, port: {sim.port}, username: trader1, "
        f"account_id: {names[0]}",
        flush=True,
    )
    print("  Ctrl-C to stop", flush=True)
    try:
        await walk_until_stopped(exchange, tick_s, "rithmic-sim")
    finally:
        await sim.stop()
        print("rithmic simulator stopped", flush=True)


def serve(
    port: int,
    accounts: int = 3,
    seed: int = 7,
    *,
    faults: Faults | None = None,
    audit: str | None = None,
    tick_s: float = 0.25,
) -> None:
    """``copytui sim rithmic --port PORT [fault flags] [--audit FILE]``: run until Ctrl-C."""
    asyncio.run(_serve(port, accounts, seed, tick_s, faults, audit))


@contextlib.asynccontextmanager
async def bench_accounts(
    names: Sequence[str],
) -> AsyncIterator[tuple[list[AccountConfig], Callable[[str], str | None]]]:
    """The benchmark's hook: one Rithmic user holding one account per follower (a prop trader's
    accounts share one login, so the followers share one session)."""
    accounts = [f"RBENCH-{2000 + i}" for i in range(1, len(names) + 1)]
    sim = RithmicSimulator(users={"bench": SimUser(None, accounts)})
    await sim.start()
    configs = [
        AccountConfig(
            name=n, broker="rithmic", environment="sim", host="127.0.0.1", port=sim.port, username="bench", account_id=a
        )
        for n, a in zip(names, accounts, strict=True)
    ]
    try:
        yield configs, lambda key: SIM_PASSWORD if key == "password" or key.endswith(":password") else None
    finally:
        await sim.stop()


__all__ = ["bench_accounts", "serve"]
