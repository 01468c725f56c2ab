"""The journal's write path, on the standard library's sqlite3 connection in the event loop's thread.

A WAL commit of a signal and its intents costs tens of microseconds, while a hop to a worker
thread (aiosqlite) costs more than that in scheduling alone. The signal and its intents are
committed before any follower order leaves (invariant 1). Later status updates (sent,
acknowledged, filled) are buffered and committed in batches every few milliseconds: losing them
in a crash loses nothing, because recovery asks the broker by client order id.
"""

from __future__ import annotations

import contextlib
import operator
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import orjson

from copytui.journal.restore import JournaledIntent, RestartState, read_restart_state, read_unresolved
from copytui.journal.schema import JournalError, create_private_file, migrate, tighten_side_files
from copytui.models import FollowerOrder, MarketMark, OrderAck, OrderStatus, Signal

SqlValue = str | int | float | bytes | None
"""What a bound parameter may be (a ``StrEnum`` is a ``str``)."""
Params = Sequence[SqlValue]

# an intent's own columns, read in one C call (the copy path journals one row of these per follower)
_intent_fields = operator.attrgetter(
    "client_order_id", "signal_id", "follower", "action", "symbol", "leader_symbol", "side", "qty", "order_type",
    "price", "stop_price", "target_client_order_id", "leader_order_id", "reference_price", "status", "reason",
    "broker_order_id", "trail",
)  # fmt: skip
_INTENT_COLUMNS = (  # the order of _intent_fields, then the signal's recv_ns, journaled_ns, wall_ns
    "client_order_id, signal_id, follower, action, symbol, leader_symbol, side, qty, order_type, price,"
    " stop_price, target_client_order_id, leader_order_id, reference_price, status, reason, broker_order_id,"
    " trail, recv_ns, journaled_ns, wall_ns"
)
_INSERT_INTENT = f"INSERT OR IGNORE INTO intents ({_INTENT_COLUMNS}) VALUES ({','.join('?' * 21)})"
_INSERT_SIGNAL = (
    "INSERT OR IGNORE INTO signals (id, leader, kind, leader_order_id, symbol, side, order_type, qty, price,"
    " stop_price, fill_qty, cum_qty, fill_price, leader_position, wall_ns, recv_ns, journaled_ns,"
    f" pending_intents, mkt_bid, mkt_ask, mkt_last, mkt_age_ms, mkt_note, trail) VALUES ({','.join('?' * 24)})"
)
_INSERT_EXECUTION = (
    "INSERT OR IGNORE INTO executions (follower, fill_id, client_order_id, symbol, side, qty, price, slippage_ticks,"
    " slippage_cash, fill_ns, wall_ns, mkt_slippage_ticks, mkt_slippage_cash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
)

_NO_MARK = (None,) * 5

CHECKPOINT_EVERY_S = 2.0
"""How often the WAL is copied back into the database (see ``Journal._start_checkpointer``)."""

# A signal's intents travel inside its row until the flusher copies them out: (signal id, each
# intent's own fields, the signal's recv_ns, journaled_ns and wall_ns that every one of them shares).
_Materialize = tuple[str, list[tuple[SqlValue, ...]], tuple[SqlValue, ...]]
_OWN_FIELDS = 18  # the fields _intent_fields reads
_OWN_FIELDS_V3 = 17  # before the trail (schema 3); such a blob may also carry the 3 shared times (20)


def _own_fields(row: list[SqlValue]) -> tuple[SqlValue, ...]:
    """An intent's own fields from a signal's blob, whichever copytui wrote it: 18 now; 17 before
    the trail, or 20 when the shared times were in every row too (no trail then)."""
    if len(row) == _OWN_FIELDS:
        return tuple(row)
    return (*row[:_OWN_FIELDS_V3], None)


class Journal:
    """One journal file, opened by one engine. ``db`` is the write connection; only this package
    runs SQL on it (tests may read through it)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        try:
            create_private_file(self.path)
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(
                f"cannot open journal {self.path}: {exc}. Pass --journal with a writable path."
            ) from None
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        migrate(self.db, self.path)
        tighten_side_files(self.path)
        self._pending: list[tuple[str, Params]] = []
        self._materialize: list[_Materialize] = []
        self._materialize_leftovers()
        self._stop_checkpoints = threading.Event()
        self._checkpointer = self._start_checkpointer(CHECKPOINT_EVERY_S)

    def close(self) -> None:
        self.flush()
        self._stop_checkpoints.set()
        self._checkpointer.join(timeout=5)
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.close()

    def abandon(self) -> None:
        """Stop as a killed process would: buffered updates are lost, nothing is flushed (tests)."""
        self._pending.clear()
        self._materialize.clear()
        self._stop_checkpoints.set()
        self.db.close()

    # ------------------------------------------------------------ copy path
    def commit_signal(
        self,
        signal: Signal,
        intents: Iterable[FollowerOrder],
        mark: MarketMark | None = None,
        cursor: str | None = None,
    ) -> bool:
        """Journal a signal and its intents in one transaction. False when already journaled.

        The intents travel inside the signal's row as one compact JSON array, so the commit on the
        copy path is a single-row insert whatever the number of followers; the flusher copies them
        into the ``intents`` table moments later, and a journal opened after a crash does so first.
        """
        now = time.perf_counter_ns()
        rows: list[tuple[SqlValue, ...]] = [_intent_fields(o) for o in intents]
        if cursor is not None:  # the leader's fill cursor moves in the same transaction as its signal
            self.db.execute("BEGIN")
            try:
                done = self._insert_signal(signal, rows, now, mark)
                if done:
                    self.set_cursor(signal.leader, cursor)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            return self._journaled(signal, rows, now, done)
        return self._journaled(signal, rows, now, self._insert_signal(signal, rows, now, mark))

    def _insert_signal(
        self, signal: Signal, rows: list[tuple[SqlValue, ...]], now: int, mark: MarketMark | None
    ) -> bool:
        cur = self.db.execute(
            _INSERT_SIGNAL,
            (
                signal.id, signal.leader, signal.kind, signal.leader_order_id, signal.symbol, signal.side,
                signal.order_type, signal.qty, signal.price, signal.stop_price, signal.fill_qty, signal.cum_qty,
                signal.fill_price, signal.leader_position, signal.wall_ns, signal.recv_ns, now,
                orjson.dumps(rows) if rows else None,
                *((mark.bid, mark.ask, mark.last, mark.age_ms, mark.note or None) if mark else _NO_MARK),
                signal.trail,
            ),
        )  # fmt: skip
        return bool(cur.rowcount)

    def _journaled(self, signal: Signal, rows: list[tuple[SqlValue, ...]], now: int, inserted: bool) -> bool:
        if not inserted:
            self.count("duplicates_dropped")
            return False
        if rows:
            self._materialize.append((signal.id, rows, (signal.recv_ns, now, signal.wall_ns)))
        return True

    def _write_intents(self, batch: list[_Materialize]) -> None:
        """Inside a transaction: copy journaled intents into their table."""
        self.db.executemany(_INSERT_INTENT, [(*r, *tail) for _, rows, tail in batch for r in rows])
        self.db.executemany("UPDATE signals SET pending_intents = NULL WHERE id = ?", [(sid,) for sid, _, _ in batch])

    def _materialize_leftovers(self) -> None:
        """After a crash: intents still inside their signal's row are copied out before anything else."""
        cur = self.db.execute(
            "SELECT id, pending_intents, recv_ns, journaled_ns, wall_ns FROM signals WHERE pending_intents IS NOT NULL"
        )
        left: list[_Materialize] = [
            # journals written before the shared times left the blob carry them in every row
            (sid, [_own_fields(r) for r in orjson.loads(blob)], (recv, journaled, wall))
            for sid, blob, recv, journaled, wall in cur
        ]
        if left:
            self.db.execute("BEGIN")
            self._write_intents(left)
            self.db.execute("COMMIT")

    def count(self, name: str, n: int = 1) -> None:
        self._pending.append(
            ("INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?", (name, n, n))
        )

    def mark_sent(self, client_order_id: str, sent_ns: int) -> None:
        self._pending.append(
            (
                "UPDATE intents SET status = CASE WHEN status = 'pending' THEN 'sent' ELSE status END,"
                " sent_ns = ?, send_count = send_count + 1 WHERE client_order_id = ?",
                (sent_ns, client_order_id),
            )
        )

    def record_sent_ack(self, client_order_id: str, ack: OrderAck) -> None:
        self._pending.append(
            (
                "UPDATE intents SET sent_ns = ?, send_count = send_count + 1, ack_ns = ?,"
                " status = CASE WHEN status IN ('filled', 'cancelled', 'partially_filled') THEN status ELSE ? END,"
                " broker_order_id = COALESCE(?, broker_order_id), reason = COALESCE(?, reason)"
                " WHERE client_order_id = ?",
                (ack.sent_ns, ack.ack_ns, ack.status, ack.broker_order_id, ack.reason, client_order_id),
            )
        )

    def record_ack(
        self, client_order_id: str, status: OrderStatus, broker_order_id: str | None, ack_ns: int, reason: str | None
    ) -> None:
        self._pending.append(
            (
                "UPDATE intents SET status = CASE WHEN status IN ('filled', 'cancelled') THEN status ELSE ? END,"
                " broker_order_id = COALESCE(?, broker_order_id), ack_ns = ?, reason = COALESCE(?, reason)"
                " WHERE client_order_id = ?",
                (status, broker_order_id, ack_ns, reason, client_order_id),
            )
        )

    def set_status(self, client_order_id: str, status: OrderStatus, reason: str | None = None) -> None:
        self._pending.append(
            (
                "UPDATE intents SET status = ?, reason = COALESCE(?, reason) WHERE client_order_id = ?",
                (status, reason, client_order_id),
            )
        )

    def record_fill(
        self,
        follower: str,
        fill_id: str,
        client_order_id: str,
        symbol: str,
        side: str,
        qty: int,
        price: float,
        cum_qty: int,
        avg_price: float | None,
        order_done: bool,
        slippage_ticks: float | None,
        slippage_cash: float | None,
        fill_ns: int,
        market_slippage_ticks: float | None = None,
        market_slippage_cash: float | None = None,
    ) -> None:
        execution = (follower, fill_id, client_order_id, symbol, side, qty, price, slippage_ticks, slippage_cash,
                     fill_ns, time.time_ns(), market_slippage_ticks, market_slippage_cash)  # fmt: skip
        self._pending.append((_INSERT_EXECUTION, execution))
        self._pending.append(
            (
                "UPDATE intents SET filled_qty = MAX(filled_qty, ?), avg_fill_price = ?, fill_ns = ?,"
                " status = ? WHERE client_order_id = ?",
                (cum_qty, avg_price, fill_ns, "filled" if order_done else "partially_filled", client_order_id),
            )
        )

    def flush(self) -> None:
        """Write everything buffered, now (stopping, before reads of intents)."""
        while self.flush_some(limit=1 << 30):
            pass

    def flush_some(self, limit: int = 120) -> bool:
        """Write about ``limit`` buffered rows in one transaction; True while more wait.

        The flusher calls this between leader events, so one call must stay short: a large batch
        written at once would hold the event loop for milliseconds. Intents are written before any
        update that refers to them.
        """
        if self._materialize:
            taken, rows = 0, 0
            while taken < len(self._materialize) and (rows < limit or taken == 0):
                rows += len(self._materialize[taken][1])
                taken += 1
            intents, self._materialize = self._materialize[:taken], self._materialize[taken:]
            self._in_transaction(lambda: self._write_intents(intents))
            return bool(self._materialize or self._pending)
        if not self._pending:
            return False
        batch, self._pending = self._pending[:limit], self._pending[limit:]
        self._in_transaction(lambda: self._write_updates(batch))
        return bool(self._pending)

    def _write_updates(self, batch: list[tuple[str, Params]]) -> None:
        """Consecutive updates of one statement go to SQLite in one ``executemany``."""
        i = 0
        while i < len(batch):
            sql = batch[i][0]
            j = i + 1
            while j < len(batch) and batch[j][0] == sql:
                j += 1
            self.db.executemany(sql, [params for _, params in batch[i:j]])
            i = j

    def _in_transaction(self, write: Callable[[], None]) -> None:
        self.db.execute("BEGIN")
        try:
            write()
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------ checkpoints
    def _start_checkpointer(self, every_s: float) -> threading.Thread:
        """Copy the WAL back into the database from a thread of its own, on its own connection.

        SQLite's automatic checkpoint would run inside whichever commit crosses the threshold: on
        the copy path, for milliseconds. A passive checkpoint elsewhere never blocks that writer.
        """
        self.db.execute("PRAGMA wal_autocheckpoint=0")
        stop, path = self._stop_checkpoints, self.path

        def run() -> None:
            conn = sqlite3.connect(path, check_same_thread=False)
            try:
                while not stop.wait(every_s):
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                conn.close()

        thread = threading.Thread(target=run, name="journal-checkpoint", daemon=True)
        thread.start()
        return thread

    # ------------------------------------------------------- rare, immediate
    def operator_action(self, action: str, target: str, detail: str = "") -> None:
        self.db.execute(
            "INSERT INTO operator_actions (wall_ns, action, target, detail) VALUES (?,?,?,?)",
            (time.time_ns(), action, target, detail),
        )

    def alert(self, level: str, follower: str, kind: str, message: str) -> None:
        self.db.execute(
            "INSERT INTO alerts (wall_ns, level, follower, kind, message) VALUES (?,?,?,?,?)",
            (time.time_ns(), level, follower, kind, message),
        )

    def error(self, source: str, message: str, payload: str = "") -> None:
        self.db.execute(
            "INSERT INTO errors (wall_ns, source, message, payload) VALUES (?,?,?,?)",
            (time.time_ns(), source, message, payload[:2000]),
        )

    def record_reconciliation(self, rows: Iterable[tuple[str, str, int, int]]) -> None:
        now = time.time_ns()
        self.db.execute("BEGIN")
        self.db.execute("DELETE FROM reconciliation")
        self.db.executemany("INSERT INTO reconciliation VALUES (?,?,?,?,?)", [(f, s, e, a, now) for f, s, e, a in rows])
        self.db.execute("COMMIT")

    def set_cursor(self, account: str, cursor: str | None) -> None:
        self.db.execute(
            "INSERT INTO cursors VALUES (?, ?) ON CONFLICT(account) DO UPDATE SET cursor = excluded.cursor",
            (account, cursor),
        )

    def get_cursor(self, account: str) -> str | None:
        row = self.db.execute("SELECT cursor FROM cursors WHERE account = ?", (account,)).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    # ------------------------------------------------------- state on start
    def restart_state(self, leader: str, followers: Iterable[str]) -> RestartState:
        """What the engine rebuilds itself from when it starts: the signal ids already journaled,
        ``leader``'s order signals and each of ``followers``' orders, decoded (see
        :mod:`copytui.journal.restore`). Flushes first: every buffered update is in the answer."""
        self.flush()
        return read_restart_state(self.db, leader, followers)

    def market_marks(self, signal_ids: Iterable[str]) -> dict[str, MarketMark]:
        """The market journaled with these signals (those that have one), for fills still to come."""
        ids = list(signal_ids)
        out: dict[str, MarketMark] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            cur = self.db.execute(
                "SELECT id, mkt_bid, mkt_ask, mkt_last, mkt_age_ms, mkt_note FROM signals"
                f" WHERE id IN ({','.join('?' * len(chunk))}) AND (mkt_bid IS NOT NULL OR mkt_ask IS NOT NULL"
                " OR mkt_last IS NOT NULL OR mkt_note IS NOT NULL)",
                chunk,
            )
            for sid, bid, ask, last, age, note in cur:
                out[sid] = MarketMark(bid, ask, last, age, note or "")
        return out

    def unresolved_intents(self) -> list[JournaledIntent]:
        """Follower orders still waiting on the broker (pending, sent, unknown), oldest first."""
        self.flush()
        return read_unresolved(self.db)
