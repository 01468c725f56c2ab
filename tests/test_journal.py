"""The journal on a real SQLite file: crash safety of the copy-path commit, modes, migrations."""

from __future__ import annotations

import sqlite3
from collections import deque

import pytest

from copytui.journal import Journal, JournalError, percentile
from copytui.models import FollowerOrder, OrderAction, OrderStatus, OrderType, Side, Signal, SignalKind


def _signal(i: int) -> Signal:
    return Signal(id=f"s{i}", leader="L", kind=SignalKind.FILL, symbol="ES", side=Side.BUY, recv_ns=1)


def _orders(i: int, n: int) -> list[FollowerOrder]:
    return [FollowerOrder(follower=f"f{k}", signal_id=f"s{i}", client_order_id=f"c{i}-{k}", action=OrderAction.PLACE,
                          symbol="ES", side=Side.BUY, qty=1) for k in range(n)]


def test_intents_survive_a_crash_before_the_flush(tmp_path) -> None:
    path = tmp_path / "j.sqlite3"
    j = Journal(path)
    assert j.commit_signal(_signal(1), _orders(1, 20))
    assert not j.commit_signal(_signal(1), _orders(1, 20))  # a replay is refused
    j.abandon()  # kill -9: nothing flushed
    j2 = Journal(path)
    rows = j2.db.execute("SELECT COUNT(*), MIN(status) FROM intents WHERE signal_id='s1'").fetchone()
    assert rows == (20, "pending")
    assert j2.unresolved_intents()[0].order.client_order_id == "c1-0"
    j2.close()


def test_a_crash_leaves_intents_that_carry_the_signals_times(tmp_path) -> None:
    path = tmp_path / "j.sqlite3"
    j = Journal(path)
    sig = _signal(3).model_copy(update={"recv_ns": 111, "wall_ns": 222})
    assert j.commit_signal(sig, _orders(3, 2))
    j.abandon()
    db = sqlite3.connect(path)  # a journal of an earlier version: each row of the blob carries the times
    db.execute("UPDATE signals SET pending_intents = ? WHERE id = 's3'", (
        '[["c3-x","s3","fx","place","ES","ES","buy",1,"market",null,null,null,null,null,"pending",null,null,'
        '111,5,222]]',))  # fmt: skip
    db.commit()
    db.close()
    j2 = Journal(path)
    got = j2.db.execute("SELECT client_order_id, recv_ns, wall_ns FROM intents WHERE signal_id = 's3'").fetchall()
    j2.close()
    assert got == [("c3-x", 111, 222)]


def test_a_trailing_stops_distance_survives_a_crash_and_a_restart(tmp_path) -> None:
    path = tmp_path / "j.sqlite3"
    j = Journal(path)
    sig = Signal(id="s5", leader="L", kind=SignalKind.NEW, leader_order_id="L7", symbol="ES", side=Side.SELL,
                 order_type=OrderType.TRAILING_STOP, qty=1, stop_price=4990.0, trail=5.0)  # fmt: skip
    copy = FollowerOrder(follower="f0", signal_id="s5", client_order_id="c5-0", action=OrderAction.PLACE,
                         symbol="ES", side=Side.SELL, qty=1, order_type=OrderType.TRAILING_STOP, trail=5.0)  # fmt: skip
    assert j.commit_signal(sig, [copy])
    j.abandon()  # kill -9: the intent is still inside the signal's row
    j2 = Journal(path)
    [intent] = j2.restart_state("L", ["f0"]).intents["f0"]
    [leader_order] = j2.restart_state("L", []).leader_signals
    j2.close()
    assert (intent.order.order_type, intent.order.trail) == (OrderType.TRAILING_STOP, 5.0)
    assert (leader_order.order_type, leader_order.trail) == (OrderType.TRAILING_STOP, 5.0)


def test_an_intent_journaled_before_trailing_stops_is_read_after_the_upgrade(tmp_path) -> None:
    path = tmp_path / "j.sqlite3"
    j = Journal(path)
    assert j.commit_signal(_signal(6), _orders(6, 1))
    j.abandon()
    db = sqlite3.connect(path)  # schema 3 wrote 17 fields per intent, no trail
    v3_blob = '[["c6-x","s6","fx","place","ES","ES","buy",1,"market",null,null,null,null,null,"pending",null,null]]'
    db.execute("UPDATE signals SET pending_intents = ? WHERE id = 's6'", (v3_blob,))
    db.commit()
    db.close()
    j2 = Journal(path)
    got = j2.db.execute("SELECT client_order_id, qty, trail FROM intents WHERE signal_id = 's6'").fetchall()
    j2.close()
    assert got == [("c6-x", 1, None)]


def test_intents_keep_the_signals_times(tmp_path) -> None:
    j = Journal(tmp_path / "j.sqlite3")
    sig = _signal(4).model_copy(update={"recv_ns": 333, "wall_ns": 444})
    j.commit_signal(sig, _orders(4, 3))
    j.abandon()
    j2 = Journal(tmp_path / "j.sqlite3")  # copied out of the new, shorter blob after the crash
    got = j2.db.execute("SELECT DISTINCT recv_ns, wall_ns FROM intents WHERE signal_id = 's4'").fetchall()
    assert got == [(333, 444)] and j2.db.execute("SELECT COUNT(*) FROM intents").fetchone()[0] == 3
    j2.close()


def test_files_are_private_and_newer_schema_refused(tmp_path) -> None:
    path = tmp_path / "j.sqlite3"
    j = Journal(path)
    j.commit_signal(_signal(2), _orders(2, 1))
    j.flush()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    j.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(JournalError, match="newer than this copytui"):
        Journal(path)


def test_unwritable_path_is_a_clear_error(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(JournalError, match="cannot open journal .* Pass --journal with a writable path"):
        Journal(blocker / "j.sqlite3")


def test_restart_state_decodes_what_the_engine_rebuilds_from(tmp_path) -> None:
    j = Journal(tmp_path / "j.sqlite3")
    new = Signal(id="n1", leader="L", kind=SignalKind.NEW, leader_order_id="42", symbol="ES", side=Side.SELL,
                 order_type=OrderType.LIMIT, qty=3, price=5001.25)  # fmt: skip
    fill = Signal(id="f1", leader="L", kind=SignalKind.FILL, leader_order_id="42", symbol="ES", side=Side.SELL,
                  order_type=OrderType.LIMIT, qty=3, price=5001.25, cum_qty=2, leader_position=-2)  # fmt: skip
    limit = FollowerOrder(follower="f0", signal_id="n1", client_order_id="c-n1", action=OrderAction.PLACE,
                          symbol="MES", leader_symbol="ES", side=Side.SELL, qty=30, order_type=OrderType.LIMIT,
                          price=5001.25, leader_order_id="42")  # fmt: skip
    assert j.commit_signal(new, [limit])
    assert j.commit_signal(fill, _orders(9, 2)[1:])  # f1 only
    assert j.commit_signal(Signal(id="op", leader="L", kind=SignalKind.OPERATOR, symbol="ES"), [])
    assert j.commit_signal(Signal(id="other", leader="M", kind=SignalKind.FILL, symbol="NQ", side=Side.BUY), [])
    j.record_ack("c-n1", OrderStatus.WORKING, "B7", 5, None)
    j.record_fill("f0", "x1", "c-n1", "MES", "sell", 20, 5001.25, 20, 5001.25, False, 0.0, 0.0, 6)

    state = j.restart_state("L", ["f0", "f1", "f2"])
    assert state.seen_signal_ids == {"n1", "f1", "op", "other"}
    assert [(s.id, s.kind) for s in state.leader_signals] == [("n1", SignalKind.NEW), ("f1", SignalKind.FILL)]
    filled = state.leader_signals[1]
    assert (filled.leader_order_id, filled.side, filled.order_type, filled.cum_qty, filled.leader_position) == (
        "42", Side.SELL, OrderType.LIMIT, 2, -2
    )
    [mine] = state.intents["f0"]
    assert mine.order == limit.model_copy(update={"broker_order_id": "B7", "status": OrderStatus.PARTIALLY_FILLED})
    assert (mine.status, mine.filled_qty, mine.avg_fill_price, mine.broker_order_id) == (
        OrderStatus.PARTIALLY_FILLED, 20, 5001.25, "B7"
    )
    [market] = state.intents["f1"]
    assert market.order.leader_symbol == "ES" and market.status is OrderStatus.PENDING and market.filled_qty == 0
    assert state.intents["f2"] == ()
    j.close()


def test_one_percentile_nearest_rank() -> None:
    assert percentile([], 0.99) == 0.0
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile(deque([1.0, 2.0, 3.0, 4.0]), 0.99) == 4.0 and percentile([5.0, 1.0], 0.0) == 1.0
