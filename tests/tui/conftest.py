"""Desk tests: the real engine on the real paper exchange, a temp SQLite journal, Textual's Pilot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import pytest
from textual.pilot import Pilot

from copytui.demo import demo_config
from copytui.engine import EngineSnapshot, FollowerView
from copytui.runtime import Runtime, build_runtime
from copytui.tui.app import CopyDeskApp

SEED = 11
SIZE = (120, 40)
LEADER = "leader"

T = TypeVar("T")


@pytest.fixture(autouse=True)
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep the desk's remembered theme out of the real home directory."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "config"


def make_runtime(tmp_path: Path, *, demo: bool = False, seed: int = SEED) -> Runtime:
    return build_runtime(demo_config(), demo=demo, seed=seed, journal_path=tmp_path / "journal.sqlite3")


async def until(pilot: Pilot, cond: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the app run until ``cond()`` holds (a wait for state, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"condition not reached: {cond.__doc__ or cond}")
        await pilot.pause(0.02)
    await pilot.pause()


@asynccontextmanager
async def desk(
    tmp_path: Path, *, demo: bool = False, size: tuple[int, int] = SIZE
) -> AsyncIterator[tuple[CopyDeskApp, Pilot]]:
    """The desk over a started runtime; the leader is driven by the test unless ``demo``."""
    app = CopyDeskApp(make_runtime(tmp_path, demo=demo))
    try:
        async with app.run_test(size=size, notifications=True) as pilot:
            await until(pilot, lambda: app._running)
            yield app, pilot
    finally:
        await app.stop_runtime()


def screen_text(app: CopyDeskApp) -> str:
    """What the terminal shows right now, as plain text."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(seg.text for seg in strip) for strip in strips)


def on_engine(app: CopyDeskApp, fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` run on the engine's thread, as the desk does: engine and exchange live there."""
    return app.bridge.call(fn, *args).result(timeout=10)


def held(app: CopyDeskApp, account: str) -> dict[str, int]:
    """Non-zero positions of ``account`` at the paper exchange."""
    return on_engine(app, lambda: {p.symbol: p.qty for p in app.runtime.exchange.position_list(account) if p.qty})


def snapshot(app: CopyDeskApp) -> EngineSnapshot:
    return on_engine(app, app.engine.snapshot)


def view(app: CopyDeskApp, name: str) -> FollowerView:
    return next(v for v in snapshot(app).followers if v.name == name)


def states(app: CopyDeskApp) -> set[str]:
    return {v.copy_state for v in snapshot(app).followers}


def submit(app: CopyDeskApp, account: str = LEADER, **order: object) -> None:
    """A market order at the paper exchange, placed on the engine's thread."""
    on_engine(app, lambda: app.runtime.exchange.submit(account, **order))


async def drained(app: CopyDeskApp) -> bool:
    """Every follower queue empty and every order answered (``Engine.drain``, on the engine's thread)."""
    return await app.bridge.ask_async(app.engine.drain)


def desk_is_current(app: CopyDeskApp) -> bool:
    """The desk has drawn the engine's latest version."""
    return app.snap is not None and app.snap.version == on_engine(app, lambda: app.engine.version)
