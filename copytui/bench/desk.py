"""Scenario 4: the same copy path with the Textual desk running headless and refreshing live.

Runs are interleaved (without, with, without, with) so drift in a shared machine's load
spreads over both sides. The desk is ``copytui.tui.app.CopyDeskApp(runtime)``; until it exists
the scenario reports nothing and says why.

The desk runs the engine on a thread and event loop of its own (``app.bridge``, as `copytui run`
does); the leader is then driven on that loop too, exactly as the engine's own socket reads
would be, while Textual renders on this one.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import time
from typing import Any

from copytui.bench.brokers import follower_accounts
from copytui.bench.rig import Rig, Sample, follower_names, open_rig, paced, until
from copytui.bench.scenarios import PAPER, row

DESK_MODULE = "copytui.tui.app"
DESK_CLASS = "CopyDeskApp"
SIZE = (160, 48)
SETTLE_S = 0.5


def find_desk() -> tuple[Any, str | None]:
    """The desk's App class, or None and why not."""
    try:
        spec = importlib.util.find_spec(DESK_MODULE)
    except ModuleNotFoundError:
        spec = None
    if spec is None:
        return None, f"desk not built yet ({DESK_MODULE} missing): tui_p99_ratio is null"
    cls = getattr(importlib.import_module(DESK_MODULE), DESK_CLASS, None)
    if cls is None:
        return None, f"{DESK_MODULE} has no {DESK_CLASS} yet: tui_p99_ratio is null"
    return cls, None


async def _bridge_started(app: Any, rig: Rig, wait_s: float = 30.0) -> None:
    """The desk starts the runtime on its engine thread; wait for that (read on that thread)."""
    deadline = time.monotonic() + wait_s
    while not await app.bridge.ask(lambda: rig.engine.started):
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark stalled: the desk did not start the engine in {wait_s:g}s")
        await asyncio.sleep(0.01)


async def _started(rig: Rig, wait_s: float = 2.0) -> None:
    """The desk starts the runtime it is given, as `copytui run` does; start it here if it does not."""
    try:
        await until(lambda: rig.engine.started, wait_s, what="the desk starting the engine", poll_s=0.01)
    except TimeoutError:
        if rig.engine.tasks.tasks:  # the desk is still starting it
            await until(lambda: rig.engine.started, 30.0, what="the desk starting the engine", poll_s=0.01)
        else:
            await rig.rt.start()


async def _run(desk: Any, followers: int, samples: int, warmup: int, seed: int) -> list[Sample]:
    async with (
        follower_accounts(PAPER, follower_names(followers)) as (configs, secret),
        open_rig(configs, secret, seed=seed, start=desk is None) as rig,
    ):
        if desk is None:
            return await paced(rig, samples, warmup)
        app = desk(rig.rt)
        async with app.run_test(headless=True, size=SIZE):
            bridge = getattr(app, "bridge", None)
            if bridge is None:  # a desk sharing this loop with the engine
                await _started(rig)
                await asyncio.sleep(SETTLE_S)  # past the first layout and the first refreshes with data
                return await paced(rig, samples, warmup)
            await _bridge_started(app, rig)
            await asyncio.sleep(SETTLE_S)
            return await bridge.ask_async(paced, rig, samples, warmup)


async def with_and_without(
    desk: Any, followers: int, samples: int, warmup: int, seed: int, rounds: int = 2
) -> tuple[dict[str, Any], dict[str, Any]]:
    off: list[Sample] = []
    on: list[Sample] = []
    per_run = max(1, samples // rounds)
    for _ in range(rounds):
        off += await _run(None, followers, per_run, warmup, seed)
        on += await _run(desk, followers, per_run, warmup, seed)
    return row("desk_off", "paper", followers, off), row("desk_on", "paper", followers, on)
