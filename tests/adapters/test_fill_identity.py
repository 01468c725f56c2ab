"""A FIX fill's identity is what the broker guarantees unique (DESIGN.md invariant 12), over real
sockets against the FIX simulator playing a counterparty whose OrderIDs and ExecIDs restart at 1
with each process, as QuickFIX's executor does: a fill of the restarted counterparty is never taken
for one of the previous process, and the same execution report delivered twice is still one fill.
Whatever the adapter cannot use is counted, not only logged."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from adapters.fix import FixAdapter
from adapters.fix import wire as w
from adapters.fix.simulator import FixSimulator, LockedExchange
from copytui.config import load_config
from copytui.models import AccountEvent, EventKind, OrderStatus, Side
from copytui.runtime import build_runtime
from tests.adapters.fix_support import account, adapter, comp_id, free_port, order, simulator, until

VERSIONS = ["FIX.4.2", "FIX.4.4"]


def restarting(tmp_path: Path, sender: str, port: int) -> FixSimulator:
    """A counterparty process: ids from 1, its store (sequence numbers) kept across restarts."""
    return FixSimulator(
        port,
        exchange=LockedExchange(seed=5, first_order_id=1),
        clients=(sender,),
        store_dir=tmp_path / "venue-store",
        log_path=tmp_path / "venue.log",
        ids_from_one=True,
    )


@asynccontextmanager
async def streaming(a: FixAdapter) -> AsyncIterator[list[AccountEvent]]:
    events: list[AccountEvent] = []

    async def pump() -> None:
        async for ev in a.subscribe():
            events.append(ev)

    reader = asyncio.create_task(pump(), name="test-fix-pump")
    try:
        yield events
    finally:
        await a.disconnect()
        await reader


def fills_by_order(events: list[AccountEvent]) -> Counter[str | None]:
    return Counter(e.client_order_id for e in events if e.kind is EventKind.FILL)


async def trade(a: FixAdapter, events: list[AccountEvent], coids: list[str]) -> None:
    for i, coid in enumerate(coids):
        ack = await a.place(order(coid, Side.BUY if i % 2 == 0 else Side.SELL, qty=i + 1))
        assert ack.status is not OrderStatus.REJECTED, ack.reason
    await until("every order's fill", lambda: set(coids) <= set(fills_by_order(events)))


@pytest.mark.parametrize("begin", VERSIONS)
async def test_counterparty_restarted_under_a_running_adapter_loses_no_fill(tmp_path: Path, begin: str) -> None:
    sender, port = comp_id("RS"), free_port()
    a = adapter(account("rs", port, sender, begin, account_id="RSACC"), tmp_path / "data")
    first, second = [f"r{begin[-1]}a{i}" for i in range(4)], [f"r{begin[-1]}b{i}" for i in range(4)]
    venue = restarting(tmp_path, sender, port).start()
    try:
        await a.connect()
        async with streaming(a) as events:
            await trade(a, events, first)
            first_ids = {(e.order_id, e.fill_id) for e in events if e.kind is EventKind.FILL}
            venue.stop()  # the counterparty's process ends; quickfix keeps trying to log on again
            await until("the adapter to see the logout", lambda: not a.health.connected)
            venue = restarting(tmp_path, sender, port).start()
            await until("a logon to the new process", lambda: a.health.connected, timeout=10)
            venue.duplicate_next(2 * len(second), sender)  # and each report comes twice
            await trade(a, events, second)
            await until("the duplicates sent", lambda: venue.duplicates_sent == 2 * len(second))
            await asyncio.sleep(0.2)  # a late duplicate would arrive right behind its original
            assert fills_by_order(events) == {c: 1 for c in first + second}  # each once, none lost
            # the new process reused the OrderIDs and ExecIDs of the first: the fill ids differ anyway
            reused = {e.order_id for e in events if e.kind is EventKind.FILL and e.client_order_id in second}
            assert reused == {oid for oid, _ in first_ids}
            fill_ids = [e.fill_id for e in events if e.kind is EventKind.FILL]
            assert len(set(fill_ids)) == len(fill_ids) == 8
            assert all(a._book.orders[c].status is OrderStatus.FILLED for c in first + second)
            held = venue.exchange.accounts["RSACC"].positions["ES"].qty
            assert {p.symbol: p.qty for p in await a.positions()} == {"ES": held}
            assert held == (1 - 2 + 3 - 4) and a.bad_frames == 0
    finally:
        venue.stop()


async def test_a_report_sent_twice_with_possdup_is_one_fill(tmp_path: Path) -> None:
    sender = comp_id("PD")
    with simulator(tmp_path, (sender,), ids_from_one=True) as sim:
        a = adapter(account("pd", sim.port, sender), tmp_path / "data")
        await a.connect()
        async with streaming(a) as events:
            sim.duplicate_next(6, sender)  # new + fill of three market orders, each also resent
            await trade(a, events, ["pd0", "pd1", "pd2"])
            await until("the duplicates sent", lambda: sim.duplicates_sent == 6)
            await asyncio.sleep(0.2)
            assert fills_by_order(events) == {"pd0": 1, "pd1": 1, "pd2": 1}
            assert [p.qty for p in await a.positions()] == [1 - 2 + 3]
    client_log = next((tmp_path / "data").rglob("messages.log")).read_text()
    assert client_log.count("|43=Y|") >= 6  # the duplicates did reach the client


async def test_an_unusable_fill_is_counted_and_the_order_still_answered(tmp_path: Path) -> None:
    sender = comp_id("BF")
    with simulator(tmp_path, (sender,)) as sim:
        a = adapter(account("bf", sim.port, sender), tmp_path / "data")
        await a.connect()
        async with streaming(a) as events:
            assert a.bad_frames == 0
            sim.strip_next((w.LAST_PX,), reports=2, client=sender)  # the "new" and the fill
            ack = await a.place(order("bf0"))
            assert ack.status is not OrderStatus.REJECTED and ack.broker_order_id
            await until("the unusable fill counted", lambda: a.bad_frames == 1)
            assert "bf0" in a.health.detail and "not a usable fill" in a.health.detail
            await trade(a, events, ["bf1"])  # the session goes on
            assert fills_by_order(events) == {"bf1": 1}


CONFIG = """\
journal: {journal}
leader:
  name: lead
  broker: paper
followers:
  - name: fixf
    broker: fix
    account_id: FIXF
    host: 127.0.0.1
    port: {port}
    multiplier: 2
    options:
      begin_string: FIX.4.4
      sender_comp_id: {sender}
      target_comp_id: SIM
      heartbeat_interval: 1
      reconnect_interval: 1
reconcile:
  interval_s: 1
"""


async def test_restarted_counterparty_on_the_same_journal_journals_every_fill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # the session store lands under it
    sender, port = comp_id("JR"), free_port()
    path, journal = tmp_path / "copytui.yaml", tmp_path / "journal.sqlite3"
    path.write_text(CONFIG.format(journal=journal, port=port, sender=sender))
    for _run in range(2):  # each run meets a new counterparty process whose ids start at 1 again
        with restarting(tmp_path, sender, port) as venue:
            await copy_a_round_trip(path, venue)
    with sqlite3.connect(journal) as db:
        filled = db.execute("SELECT COUNT(*) FROM intents WHERE follower = 'fixf' AND status = 'filled'").fetchone()
        rows = db.execute("SELECT COUNT(*), SUM(qty) FROM executions WHERE follower = 'fixf'").fetchone()
    assert filled == (4,)
    assert rows == (4, 8)  # 14 rows for 15 orders before: a fill of run 2 took run 1's ExecID


async def copy_a_round_trip(path: Path, venue: FixSimulator) -> None:
    """One copytui run: the paper leader buys 1 and sells 1, the FIX follower copies both."""
    rt = build_runtime(load_config(path))
    await rt.start()
    try:
        for side in (Side.BUY, Side.SELL):
            before = _venue_fills(venue)
            rt.exchange.submit("lead", symbol="ES", side=side, qty=1)
            await until("the follower's fill at the venue", lambda b=before: _venue_fills(venue) > b, 8)
        follower = rt.engine.followers["fixf"]
        await until("engine idle", lambda: rt.engine.drain(timeout_s=1))
        await until("both fills seen by the engine", lambda: follower.stats.fills >= 2)
    finally:
        await rt.stop()


def _venue_fills(venue: FixSimulator) -> int:
    with venue.locked() as x:
        acct = x.accounts.get("FIXF")
        return len(acct.fills) if acct else 0


async def test_a_fix_leader_whose_counterparty_restarts_is_copied_in_full(tmp_path: Path) -> None:
    """The leader's counterparty restarts and reuses OrderIDs P1, P2...: the leader's new orders are
    new orders to copytui (known by ClOrdID and OrderID together), so every one is copied."""
    from adapters.paper import PaperAdapter, PaperExchange
    from copytui.config import AccountConfig, FollowerConfig
    from copytui.engine import Engine
    from copytui.journal import Journal

    sender, port = comp_id("LR"), free_port()

    def venue_process() -> FixSimulator:  # copytui watches the leader's account, as a drop copy
        sim = restarting(tmp_path, sender, port)
        sim.watch[sender] = "LEADACC"
        sim.account("LEADACC")
        return sim

    leader = adapter(account("lead", port, sender, account_id="LEADACC"), tmp_path / "data")
    x = PaperExchange(seed=2)
    x.account("copy")
    journal = Journal(tmp_path / "journal.sqlite3")
    engine = Engine(
        leader_cfg=AccountConfig(name="lead", broker="fix"),
        leader=leader,
        followers=[(FollowerConfig(name="copy", broker="paper"), PaperAdapter(x, "copy"))],
        journal=journal,
        reconcile_interval_s=3600,
    )

    def copied() -> int:
        p = x.accounts["copy"].positions.get("ES")
        return p.qty if p else 0

    def platform_buys(venue: FixSimulator, *coids: str) -> list[str]:
        with venue.locked() as ex:  # the trader's platform places orders; copytui only watches
            return [ex.submit("LEADACC", symbol="ES", side=Side.BUY, qty=1, client_order_id=c).id for c in coids]

    venue = venue_process().start()
    try:
        await engine.start()
        first = platform_buys(venue, "la1", "la2")
        await until("two copies", lambda: copied() == 2)
        venue.stop()
        await until("the leader to see the logout", lambda: not leader.health.connected)
        venue = venue_process().start()
        await until("a logon to the new process", lambda: leader.health.connected, timeout=10)
        second = platform_buys(venue, "lb1", "lb2")
        assert second == first  # the new process numbers its orders from 1 again
        await until("four copies", lambda: copied() == 4, timeout=8)
    finally:
        await engine.stop(settle=False)
        journal.close()
        venue.stop()
