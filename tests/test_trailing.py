"""A leader's trailing stop (issue 23), in mirror mode: copied as a trailing stop to a follower whose
broker keeps trailing stops (the paper exchange does), and as a plain stop that copytui moves each
time the leader's moves to one whose broker does not. The real engine, a paper leader and paper
followers on one exchange (its prices move the leader's and the native copy's stops alike), a real
journal file."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from adapters.paper import PaperAdapter, PaperExchange
from copytui.config import AccountConfig, FollowerConfig
from copytui.engine import Engine
from copytui.journal import Journal
from copytui.models import OrderStatus, OrderType, Side
from tests.adapters.px_support import until

LEAD = "lead"


def no_trailing(x: PaperExchange, account: str) -> PaperAdapter:
    """A paper account whose broker, like most, has no trailing stop of its own."""
    adapter = PaperAdapter(x, account)
    adapter.capabilities = dataclasses.replace(PaperAdapter.capabilities, trailing_stops=False)
    return adapter


@asynccontextmanager
async def two_followers(tmp_path: Path, x: PaperExchange) -> AsyncIterator[tuple[Engine, Journal]]:
    """``native`` (its broker trails) and ``plain`` (it cannot), both mirroring the leader."""
    journal = Journal(tmp_path / "journal.sqlite3")
    engine = Engine(
        leader_cfg=AccountConfig(name=LEAD),
        leader=PaperAdapter(x, LEAD),
        followers=[
            (FollowerConfig(name="native", mode="mirror"), PaperAdapter(x, "native")),
            (FollowerConfig(name="plain", mode="mirror"), no_trailing(x, "plain")),
        ],
        journal=journal,
        reconcile_interval_s=3600,
    )
    await engine.start()
    try:
        yield engine, journal
    finally:
        await engine.stop(settle=False)
        journal.close()


def working(x: PaperExchange, account: str) -> list[Any]:
    return [o for o in x.accounts[account].orders.values() if not o.status.final]


def held(x: PaperExchange, account: str) -> int:
    position = x.accounts[account].positions.get("ES")
    return position.qty if position else 0


async def test_a_trailing_stop_is_copied_as_one_where_the_broker_trails_and_followed_where_it_cannot(
    tmp_path: Path,
) -> None:
    x = PaperExchange(seed=11)
    for name in (LEAD, "native", "plain"):
        x.account(name)
    x.set_price("ES", 5000.0)
    async with two_followers(tmp_path, x) as (engine, journal):
        x.submit(LEAD, symbol="ES", side=Side.BUY, qty=2)
        await until(lambda: held(x, "native") == 2 and held(x, "plain") == 2)
        lead_stop = x.submit(LEAD, symbol="ES", side=Side.SELL, qty=2, order_type=OrderType.TRAILING_STOP, trail=5.0)
        assert lead_stop.stop_price == 4995.0  # 5 below the bid
        await until(lambda: len(working(x, "native")) == 1 and len(working(x, "plain")) == 1)
        [native] = working(x, "native")
        [plain] = working(x, "plain")
        assert (native.order_type, native.trail, native.qty) == (OrderType.TRAILING_STOP, 5.0, 2)
        assert (plain.order_type, plain.trail, plain.stop_price) == (OrderType.STOP, None, 4995.0)

        x.set_price("ES", 5010.0)  # the market rises: the leader's stop follows it up
        assert lead_stop.stop_price == 5005.0
        assert native.stop_price == 5005.0  # its own broker moved it
        await until(lambda: plain.stop_price == 5005.0)  # copytui moved it after the leader's
        assert await engine.drain()
        modifies = journal.db.execute(
            "SELECT follower, order_type, stop_price FROM intents WHERE action = 'modify' ORDER BY rowid"
        ).fetchall()
        assert modifies == [("plain", "stop", 5005.0)]  # nothing sent to the follower whose broker trails

        x.modify(LEAD, lead_stop.id, qty=1)  # the leader halves its stop
        await until(lambda: native.qty == 1 and plain.qty == 1)
        assert (native.order_type, native.trail, native.stop_price) == (OrderType.TRAILING_STOP, 5.0, 5005.0)

        x.set_price("ES", 5004.0)  # down through every stop: each fills as a market order
        await until(lambda: held(x, "native") == 1 and held(x, "plain") == 1)
        assert held(x, LEAD) == 1
        assert lead_stop.status is OrderStatus.FILLED
        assert await engine.drain()
        trails = journal.db.execute(
            "SELECT follower, order_type, trail FROM intents WHERE action = 'place' AND order_type != 'market'"
        ).fetchall()
        assert sorted(trails) == [("native", "trailing_stop", 5.0), ("plain", "stop", None)]
        assert x.duplicate_submissions("native") == 0 and x.duplicate_submissions("plain") == 0
