"""The journal on a real SQLite file: crash safety of the copy-path commit, modes, migrations."""

from __future__ import annotations

import sqlite3

import pytest

from copytui.journal import Journal, JournalError
from copytui.models import FollowerOrder, OrderAction, Side, Signal, SignalKind


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
    j.db.close()  # kill -9: nothing flushed
    j._stop_checkpoints.set()
    j2 = Journal(path)
    rows = j2.db.execute("SELECT COUNT(*), MIN(status) FROM intents WHERE signal_id='s1'").fetchone()
    assert rows == (20, "pending")
    assert j2.unresolved_intents()[0]["client_order_id"] == "c1-0"
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
