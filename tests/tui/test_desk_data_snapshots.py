"""SVG snapshots of the desk with data, at 160x48 and 80x24: the real engine on the paper exchange,
a scripted leader, every follower rule of the demo, a reject, a paused and a disconnected follower.

A screen is only repeatable if its numbers are: the price walk is off, and the two clocks the
engine and the paper exchange stamp with (``time.time_ns``, ``time.perf_counter_ns``) advance by a
fixed step each time the engine's thread reads them, so every latency and every time of day comes
out the same on every run. Each snapshot was looked at (rsvg-convert to PNG) before it was accepted.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from copytui.config import parse_config
from copytui.models import OrderType, Side
from copytui.runtime import build_runtime
from copytui.tui.app import CopyDeskApp
from tests.tui.conftest import desk_is_current, drained, on_engine, until

CONFIG = """
leader: {name: leader, broker: paper}
followers:
  - {name: alpha, broker: paper, mode: fills, multiplier: 1}
  - {name: bravo, broker: paper, mode: fills, multiplier: 0.5, rounding: nearest, auto_correct: true}
  - {name: charlie, broker: paper, mode: mirror, multiplier: 1}
  - {name: delta, broker: paper, mode: fills, multiplier: 2, max_position: 6, risk: {daily_loss_limit: 2500}}
  - name: echo
    broker: paper
    mode: fills
    symbol_map: {NQ: {symbol: MNQ, factor: 10}, ES: {symbol: MES, factor: 10}}
  - {name: foxtrot, broker: paper, mode: fills, fixed_qty: 1, reverse: true}
reconcile: {interval_s: 3600, after_fanout: false}  # passes only when the script asks
"""

START_WALL_NS = 1_796_653_800 * 10**9  # 2026-12-07 14:30:00 UTC
WALL_STEP_NS = 40_000_000
PERF_STEP_NS = 97_000


class EngineClock:
    """``time.time_ns`` and ``time.perf_counter_ns`` that move only when the engine's thread reads
    them, by a fixed step; every other thread reads the current value. The engine's own work is
    the same on every run, so the same readings come out."""

    def __init__(self) -> None:
        self.wall = START_WALL_NS
        self.perf = 10**12
        self.lock = threading.Lock()

    @staticmethod
    def _engine() -> bool:
        return threading.current_thread().name == "copytui-engine"

    def time_ns(self) -> int:
        with self.lock:
            if self._engine():
                self.wall += WALL_STEP_NS
            return self.wall

    def perf_counter_ns(self) -> int:
        with self.lock:
            if self._engine():
                self.perf += PERF_STEP_NS
            return self.perf


@pytest.fixture
def engine_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[EngineClock]:
    clock = EngineClock()
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setattr(time, "time_ns", clock.time_ns)
    monkeypatch.setattr(time, "perf_counter_ns", clock.perf_counter_ns)
    try:
        yield clock
    finally:
        monkeypatch.undo()
        if "TZ" not in os.environ:
            time.tzset()


def data_desk(tmp_path: Path) -> CopyDeskApp:
    cfg = parse_config(CONFIG, "<snapshot config>")
    runtime = build_runtime(cfg, seed=5, journal_path=tmp_path / "journal.sqlite3")
    runtime.walk = False  # prices move only when the script moves them
    return CopyDeskApp(runtime, state_file=tmp_path / "desk-state.json")


async def trade(pilot: Pilot) -> None:
    app = pilot.app
    assert isinstance(app, CopyDeskApp)
    await until(pilot, lambda: app._running)
    x = app.runtime.exchange

    async def settle() -> None:
        assert await drained(app)

    def leader(**order: object) -> None:
        on_engine(app, lambda: x.submit("leader", **order))

    def bravo_rejects_next() -> None:
        x.accounts["bravo"].faults.reject_rate = 1.0

    def bravo_accepts() -> None:
        x.accounts["bravo"].faults.reject_rate = 0.0

    leader(symbol="NQ", side=Side.BUY, qty=2, order_type=OrderType.MARKET)
    await settle()
    on_engine(app, lambda: x.set_price("NQ", 17_503.25))
    on_engine(app, bravo_rejects_next)
    leader(symbol="ES", side=Side.BUY, qty=3, order_type=OrderType.MARKET)
    await settle()
    on_engine(app, bravo_accepts)
    on_engine(app, lambda: x.set_price("ES", 4_998.75))
    leader(symbol="ES", side=Side.SELL, qty=1, order_type=OrderType.LIMIT, price=5_004.50)
    await settle()
    on_engine(app, lambda: app.engine.pause("delta"))
    leader(symbol="NQ", side=Side.SELL, qty=1, order_type=OrderType.MARKET)
    await settle()
    on_engine(app, lambda: app.engine.followers["foxtrot"].adapter.health.down())
    await app.bridge.ask_async(app.engine.reconcile_now)  # bravo's reject is drift: auto-corrected
    await settle()
    await app.bridge.ask_async(app.engine.reconcile_now)  # and cleared; delta, paused, stays apart
    await until(pilot, lambda: desk_is_current(app))
    app.show_snapshot(app.snap)  # the statistics panel too (it is redrawn every few frames)
    await pilot.pause()


@pytest.mark.parametrize("size", [(160, 48), (80, 24)])
def test_desk_with_data(tmp_path: Path, snap_compare, engine_clock: EngineClock, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(data_desk(tmp_path), terminal_size=size, run_before=trade)
