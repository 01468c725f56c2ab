"""Our P&L and the daily loss limit on a real broker's wire: a Tradovate follower over a loopback socket,
whose broker sends no P&L of its own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from adapters.tradovate.simulator import TradovateSimulator
from copytui.config import AccountConfig, RiskConfig
from copytui.engine import Engine
from copytui.engine.stats import FollowerView
from copytui.instruments import instrument
from copytui.journal import Journal
from copytui.models import Side
from tests.adapters.tv_support import follower_config, make_adapter, running_sim

LEADER, FOLLOWER = "DEMO0001", "DEMO0002"


@asynccontextmanager
async def tradovate_engine(tmp_path: Path, **follower_kw: Any) -> AsyncIterator[tuple[TradovateSimulator, Engine]]:
    async with running_sim(LEADER, FOLLOWER) as sim:
        tvf = follower_config(sim, "tvf", FOLLOWER, **follower_kw)
        journal = Journal(tmp_path / "journal.sqlite3")
        engine = Engine(
            leader_cfg=AccountConfig(name="lead", broker="tradovate"),
            leader=make_adapter(sim, "lead", LEADER),
            followers=[(tvf, make_adapter(sim, "tvf", FOLLOWER))],
            journal=journal,
            reconcile_interval_s=3600,
        )
        await engine.start()
        try:
            yield sim, engine
        finally:
            await engine.stop(settle=False)
            journal.close()


def held(sim: TradovateSimulator, symbol: str = "ES") -> int:
    p = sim.exchange.accounts[FOLLOWER].positions.get(symbol)
    return p.qty if p else 0


def view(engine: Engine) -> FollowerView:
    return engine.snapshot().followers[0]


async def until(what: str, ok: Callable[[], bool]) -> None:
    """Wait for the sockets to deliver; the deadline only guards against a hang."""
    deadline = time.monotonic() + 20
    while not ok():
        assert time.monotonic() < deadline, f"still waiting: {what}"
        await asyncio.sleep(0.02)


async def test_tradovate_round_trip_realises_exit_minus_entry(tmp_path: Path) -> None:
    async with tradovate_engine(tmp_path) as (sim, engine):
        x = sim.exchange
        sim.place_raw(LEADER, Side.BUY, 2, "ES")
        await until("the follower bought 2", lambda: held(sim) == 2 and view(engine).positions.get("ES") == 2)
        x.set_price("ES", x.price("ES") + 3.25)
        sim.place_raw(LEADER, Side.SELL, 2, "ES")
        fills = x.accounts[FOLLOWER].fills
        await until("the follower's round trip", lambda: held(sim) == 0 and view(engine).fills == 2)
        assert await engine.drain(timeout_s=5)
        [buy, sell] = [f.event for f in fills]
        assert (buy.side, sell.side, buy.fill_qty, sell.fill_qty) == (Side.BUY, Side.SELL, 2, 2)
        assert buy.fill_price is not None and sell.fill_price is not None
        expected = (sell.fill_price - buy.fill_price) * 2 * instrument("ES").point_value
        v = view(engine)
        assert expected != 0
        assert v.realized_pnl == pytest.approx(expected)
        assert v.unrealized_pnl == 0.0 and v.pnl_known
        # Tradovate's positions carry no P&L of their own: nothing to compare, nothing invented
        assert v.broker_pnl is None
        positions = await engine.followers["tvf"].adapter.positions()
        assert all(p.realized_pnl is None and p.unrealized_pnl is None for p in positions)


async def test_tradovate_daily_loss_limit_flattens_and_stops_copying(tmp_path: Path) -> None:
    async with tradovate_engine(tmp_path, risk=RiskConfig(daily_loss_limit=100)) as (sim, engine):
        x = sim.exchange
        sim.place_raw(LEADER, Side.BUY, 2, "ES")
        await until("the follower bought 2", lambda: held(sim) == 2)
        x.set_price("ES", x.price("ES") - 5)  # 2 ES x 5 points x $50 = $500 down
        sim.place_raw(LEADER, Side.BUY, 1, "ES")  # its fill is the new mark
        await until("the loss is seen", lambda: view(engine).unrealized_pnl < -100)
        await engine.reconcile_now()
        await until("flattened and disabled", lambda: held(sim) == 0 and view(engine).copy_state == "disabled")
        sim.place_raw(LEADER, Side.BUY, 1, "ES")
        await until("the leader's buy processed", lambda: engine.builder.positions.get("ES") == 4)
        assert await engine.drain(timeout_s=5)
        await engine.reconcile_now()
        assert held(sim) == 0
        engine.journal.flush()
        [(detail,)] = engine.journal.db.execute("SELECT detail FROM operator_actions WHERE action='risk_stop'")
        assert detail.startswith("daily loss ") and "reached the limit 100.00" in detail
