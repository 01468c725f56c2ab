"""Invariant 11: after a restart, the leader's fills missed while copytui was down are copied, in
the leader's order, before any live event — a live fill that arrives while the missed ones are
being read waits its turn, and a follower never holds a position the leader never had."""

from __future__ import annotations

import asyncio
from pathlib import Path

from adapters.paper import PaperAdapter, PaperExchange
from copytui.config import AccountConfig
from copytui.engine import Engine
from copytui.journal import Journal
from copytui.models import Side
from tests.engine_harness import LEADER, follower


class TradesWhileRead(PaperAdapter):
    """A paper leader whose trader keeps trading: a live fill lands while copytui reads the
    fills it missed (the window a restart opens), and the read takes a moment, as a broker's does."""

    async def fills_since(self, cursor):  # type: ignore[no-untyped-def]
        missed = await super().fills_since(cursor)
        self.exchange.submit(LEADER, symbol="ES", side=Side.BUY, qty=3)  # live, after the missed ones
        await asyncio.sleep(0.05)  # the live fill reaches the leader stream while the read is pending
        return missed


def _engine(x: PaperExchange, journal: Journal, leader: PaperAdapter) -> Engine:
    f = follower("f")
    return Engine(leader_cfg=AccountConfig(name=LEADER), leader=leader, followers=[(f, PaperAdapter(x, "f"))],
                  journal=journal, reconcile_interval_s=3600)  # fmt: skip


async def test_missed_fills_are_copied_in_the_leaders_order_before_a_live_fill(tmp_path: Path) -> None:
    x = PaperExchange(seed=3, first_order_id=1)
    x.account(LEADER)
    x.account("f")
    path = tmp_path / "journal.sqlite3"

    journal = Journal(path)
    first = _engine(x, journal, PaperAdapter(x, LEADER))
    await first.start()  # sets the leader's fill cursor
    await first.stop()
    journal.close()

    # copytui is down: the leader buys 2, then sells 1
    x.submit(LEADER, symbol="ES", side=Side.BUY, qty=2)
    x.submit(LEADER, symbol="ES", side=Side.SELL, qty=1)

    journal = Journal(path)
    again = _engine(x, journal, TradesWhileRead(x, LEADER))
    await again.start()
    try:
        for _ in range(100):
            await again.drain(timeout_s=5)
            if x.accounts["f"].positions.get("ES") and x.accounts["f"].positions["ES"].qty == 4:
                break
            await asyncio.sleep(0.02)
        journal.flush()
        sent = [
            (side, qty)
            for side, qty in journal.db.execute("SELECT side, qty FROM intents WHERE follower='f' ORDER BY rowid")
        ]
    finally:
        await again.stop(settle=False)
        journal.close()
    # the follower's orders follow the leader's fills: +2, -1 (missed), then +3 (live)
    assert sent == [("buy", 2), ("sell", 1), ("buy", 3)]
    assert x.accounts["f"].positions["ES"].qty == 4
