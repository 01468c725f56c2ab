"""The journal: the only code in copytui that speaks SQL.

Writes on the copy path use the standard library's sqlite3 connection directly, in the event
loop's thread: a WAL commit of a signal and its intents costs tens of microseconds, while a
hop to a worker thread (aiosqlite) costs more than that in scheduling alone. The signal and its
intents are committed before any follower order leaves (invariant 1). Later status updates
(sent, acknowledged, filled) are buffered and committed in batches every few milliseconds:
losing them in a crash loses nothing, because recovery asks the broker by client order id.

Reads for reports and the summary go through aiosqlite on their own connection, so a long
report query never stalls the copy path.
"""

from __future__ import annotations

import contextlib
import json
import operator
import os
import sqlite3
import statistics
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from copytui.instruments import INSTRUMENTS
from copytui.models import FollowerOrder, OrderAck, OrderStatus, Side, Signal, apply_fill

SCHEMA_VERSION = 2

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE IF NOT EXISTS signals (
        id TEXT PRIMARY KEY, leader TEXT NOT NULL, kind TEXT NOT NULL, leader_order_id TEXT,
        symbol TEXT NOT NULL, side TEXT, order_type TEXT, qty INTEGER, price REAL, stop_price REAL,
        fill_qty INTEGER, cum_qty INTEGER, fill_price REAL, leader_position INTEGER,
        wall_ns INTEGER, recv_ns INTEGER, journaled_ns INTEGER
    );
    CREATE TABLE IF NOT EXISTS intents (
        client_order_id TEXT PRIMARY KEY, signal_id TEXT NOT NULL, follower TEXT NOT NULL,
        action TEXT NOT NULL, symbol TEXT NOT NULL, leader_symbol TEXT, side TEXT NOT NULL,
        qty INTEGER NOT NULL, order_type TEXT NOT NULL, price REAL, stop_price REAL,
        target_client_order_id TEXT, leader_order_id TEXT, reference_price REAL,
        status TEXT NOT NULL, reason TEXT, broker_order_id TEXT,
        filled_qty INTEGER NOT NULL DEFAULT 0, avg_fill_price REAL,
        recv_ns INTEGER, journaled_ns INTEGER, sent_ns INTEGER, ack_ns INTEGER, fill_ns INTEGER,
        wall_ns INTEGER, send_count INTEGER NOT NULL DEFAULT 0
    );
    -- no secondary indexes on intents: each one costs every fan-out; the queries that would use
    -- them run once at start-up or in reports, off the copy path
    CREATE TABLE IF NOT EXISTS executions (
        follower TEXT NOT NULL, fill_id TEXT NOT NULL, client_order_id TEXT, symbol TEXT, side TEXT,
        qty INTEGER, price REAL, slippage_ticks REAL, slippage_cash REAL, fill_ns INTEGER, wall_ns INTEGER,
        PRIMARY KEY (follower, fill_id)
    );
    CREATE TABLE IF NOT EXISTS operator_actions (
        id INTEGER PRIMARY KEY, wall_ns INTEGER, action TEXT, target TEXT, detail TEXT
    );
    CREATE TABLE IF NOT EXISTS alerts (
        id INTEGER PRIMARY KEY, wall_ns INTEGER, level TEXT, follower TEXT, kind TEXT, message TEXT
    );
    CREATE TABLE IF NOT EXISTS errors (
        id INTEGER PRIMARY KEY, wall_ns INTEGER, source TEXT, message TEXT, payload TEXT
    );
    CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS reconciliation (
        follower TEXT, symbol TEXT, expected INTEGER, actual INTEGER, wall_ns INTEGER,
        PRIMARY KEY (follower, symbol)
    );
    CREATE TABLE IF NOT EXISTS cursors (account TEXT PRIMARY KEY, cursor TEXT);
    """,
    2: """
    ALTER TABLE signals ADD COLUMN pending_intents TEXT;
    """,
}

# Statuses whose quantity counts towards what the follower holds or will hold.
LIVE_STATUSES = (
    OrderStatus.PENDING,
    OrderStatus.SENT,
    OrderStatus.WORKING,
    OrderStatus.PARTIALLY_FILLED,
    OrderStatus.FILLED,
    OrderStatus.UNKNOWN,
)


class JournalError(Exception):
    pass


# an intent's own columns, read in one C call (the copy path journals one row of these per follower)
_intent_fields = operator.attrgetter(
    "client_order_id", "signal_id", "follower", "action", "symbol", "leader_symbol", "side", "qty", "order_type",
    "price", "stop_price", "target_client_order_id", "leader_order_id", "reference_price", "status", "reason",
    "broker_order_id",
)


def create_private_file(path: Path) -> None:
    """Create ``path`` with mode 0600 if missing; tighten it if it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


class Journal:
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
        self._migrate()
        for suffix in ("-wal", "-shm"):
            side = Path(str(self.path) + suffix)
            if side.exists():
                os.chmod(side, 0o600)
        self._pending: list[tuple[str, Sequence[Any]]] = []
        self._fills: list[tuple[Any, ...]] = []
        self._materialize: list[tuple[str, list[Any]]] = []
        self._materialize_leftovers()
        self._start_checkpointer()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"journal {self.path} has schema {version}, newer than this copytui"
                f" ({SCHEMA_VERSION}). Upgrade copytui."
            )
        for v in range(version + 1, SCHEMA_VERSION + 1):
            self.db.executescript("BEGIN;" + _MIGRATIONS[v] + f"PRAGMA user_version={v}; COMMIT;")

    def close(self) -> None:
        self.flush()
        self._stop_checkpoints.set()
        self._checkpointer.join(timeout=5)
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.close()

    # ------------------------------------------------------------ copy path
    def seen_signal_ids(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT id FROM signals")}

    _INTENT_COLUMNS = (  # the order of _intent_fields, then the signal's recv_ns, journaled_ns, wall_ns
        "client_order_id, signal_id, follower, action, symbol, leader_symbol, side, qty, order_type, price,"
        " stop_price, target_client_order_id, leader_order_id, reference_price, status, reason, broker_order_id,"
        " recv_ns, journaled_ns, wall_ns"
    )

    def commit_signal(self, signal: Signal, intents: Iterable[FollowerOrder]) -> bool:
        """Journal a signal and its intents in one transaction. False when already journaled.

        The intents travel inside the signal's row as one compact JSON array, so the commit on the
        copy path is a single-row insert whatever the number of followers; the flusher copies them
        into the ``intents`` table moments later, and a journal opened after a crash does so first.
        """
        now = time.perf_counter_ns()
        tail = (signal.recv_ns, now, signal.wall_ns)
        rows = [_intent_fields(o) + tail for o in intents]
        cur = self.db.execute(
            "INSERT OR IGNORE INTO signals (id, leader, kind, leader_order_id, symbol, side, order_type, qty, price,"
            " stop_price, fill_qty, cum_qty, fill_price, leader_position, wall_ns, recv_ns, journaled_ns,"
            " pending_intents) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                signal.id, signal.leader, signal.kind, signal.leader_order_id, signal.symbol, signal.side,
                signal.order_type, signal.qty, signal.price, signal.stop_price, signal.fill_qty, signal.cum_qty,
                signal.fill_price, signal.leader_position, signal.wall_ns, signal.recv_ns, now,
                json.dumps(rows, separators=(",", ":")) if rows else None,
            ),
        )  # fmt: skip
        if cur.rowcount == 0:
            self.count("duplicates_dropped")
            return False
        if rows:
            self._materialize.append((signal.id, rows))
        return True

    def _write_intents(self, batch: list[tuple[str, list[Any]]]) -> None:
        """Inside a transaction: copy journaled intents into their table."""
        self.db.executemany(
            f"INSERT OR IGNORE INTO intents ({self._INTENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [tuple(r) for _, rows in batch for r in rows],
        )
        self.db.executemany("UPDATE signals SET pending_intents = NULL WHERE id = ?", [(sid,) for sid, _ in batch])

    def _materialize_leftovers(self) -> None:
        """After a crash: intents still inside their signal's row are copied out before anything else."""
        cur = self.db.execute("SELECT id, pending_intents FROM signals WHERE pending_intents IS NOT NULL")
        left = [(sid, json.loads(blob)) for sid, blob in cur]
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
    ) -> None:
        self._pending.append(
            (
                "INSERT OR IGNORE INTO executions VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    follower,
                    fill_id,
                    client_order_id,
                    symbol,
                    side,
                    qty,
                    price,
                    slippage_ticks,
                    slippage_cash,
                    fill_ns,
                    time.time_ns(),
                ),
            )
        )
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
        db = self.db
        if self._materialize:
            taken, rows = 0, 0
            while taken < len(self._materialize) and (rows < limit or taken == 0):
                rows += len(self._materialize[taken][1])
                taken += 1
            intents, self._materialize = self._materialize[:taken], self._materialize[taken:]
            db.execute("BEGIN")
            try:
                self._write_intents(intents)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return bool(self._materialize or self._pending or self._fills)
        if not self._pending and not self._fills:
            return False
        fills, self._fills = self._fills[:limit], self._fills[limit:]
        room = max(0, limit - len(fills))
        batch, self._pending = self._pending[:room], self._pending[room:]
        db.execute("BEGIN")
        try:
            if fills:
                db.executemany("INSERT OR IGNORE INTO executions VALUES (?,?,?,?,?,?,?,?,?,?,?)", fills)
            i = 0
            while i < len(batch):
                sql = batch[i][0]
                j = i + 1
                while j < len(batch) and batch[j][0] == sql:
                    j += 1
                db.executemany(sql, [params for _, params in batch[i:j]])
                i = j
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return bool(self._pending or self._fills)

    # ------------------------------------------------------------ checkpoints
    def _start_checkpointer(self, every_s: float = 2.0) -> None:
        """Copy the WAL back into the database from a thread of its own, on its own connection.

        SQLite's automatic checkpoint would run inside whichever commit crosses the threshold: on
        the copy path, for milliseconds. A passive checkpoint elsewhere never blocks that writer.
        """
        self.db.execute("PRAGMA wal_autocheckpoint=0")
        self._stop_checkpoints = threading.Event()

        def run() -> None:
            conn = sqlite3.connect(self.path, check_same_thread=False)
            try:
                while not self._stop_checkpoints.wait(every_s):
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                conn.close()

        self._checkpointer = threading.Thread(target=run, name="journal-checkpoint", daemon=True)
        self._checkpointer.start()

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
        return row[0] if row else None

    # ------------------------------------------------------- state on start
    def follower_intents(self, follower: str) -> list[dict[str, Any]]:
        self.flush()
        cur = self.db.execute("SELECT * FROM intents WHERE follower = ? ORDER BY rowid", (follower,))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]

    def signals_for_leader(self, leader: str) -> list[dict[str, Any]]:
        cur = self.db.execute("SELECT * FROM signals WHERE leader = ? ORDER BY rowid", (leader,))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]

    def unresolved_intents(self) -> list[dict[str, Any]]:
        self.flush()
        cur = self.db.execute("SELECT * FROM intents WHERE status IN ('pending', 'sent', 'unknown') ORDER BY rowid")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]


# ------------------------------------------------------------------------- reading
def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[idx]


PNL_FILLS_SQL = (
    "SELECT date(wall_ns / 1000000000, 'unixepoch', 'localtime'), follower, symbol, side, qty, price"
    " FROM executions ORDER BY rowid"
)


async def realised_pnl(db: aiosqlite.Connection) -> dict[tuple[str, str, str], float | None]:
    """Realised P&L in account currency per (day, follower, symbol), from the journal's fills.

    Each follower's fills in one contract are netted in the order they were journaled by
    :func:`copytui.models.apply_fill`, times the contract's point value; a closing fill's P&L
    counts on its own day. Positions held before the journal's first fill are not known here,
    so their closing is counted from the first fill seen. ``None``: a symbol copytui does not
    know, or a fill without price or side (its P&L cannot be computed)."""
    books: dict[tuple[str, str], tuple[int, float]] = {}
    out: dict[tuple[str, str, str], float | None] = {}
    async with db.execute(PNL_FILLS_SQL) as cur:
        async for day, follower, symbol, side, qty, price in cur:
            key = (day or "?", follower, symbol or "?")
            spec = INSTRUMENTS.get(symbol or "")
            before = out.get(key, 0.0)
            if spec is None or price is None or side not in (Side.BUY, Side.SELL) or before is None:
                out[key] = None
                continue
            held, avg = books.get((follower, symbol), (0, 0.0))
            held, avg, points = apply_fill(held, avg, Side(side).sign * int(qty or 0), float(price))
            books[(follower, symbol)] = (held, avg)
            out[key] = before + points * spec.point_value
    return out


def _total(values: Iterable[float | None]) -> float | None:
    """The sum, or None when any part is unknown."""
    total = 0.0
    for v in values:
        if v is None:
            return None
        total += v
    return round(total, 2)


async def summary(path: str | Path) -> dict[str, Any]:
    """The numbers `copytui journal summary` prints."""
    p = Path(path).expanduser()
    if not p.exists():
        raise JournalError(f"no journal at {p}. Run `copytui run` first or pass --journal.")
    async with aiosqlite.connect(f"file:{p}?mode=ro", uri=True) as db:

        async def scalar(sql: str, *args: Any) -> int:
            async with db.execute(sql, args) as cur:
                row = await cur.fetchone()
            return int(row[0] or 0) if row else 0

        out: dict[str, Any] = {
            "signals": await scalar("SELECT COUNT(*) FROM signals"),
            "follower_orders": await scalar(
                "SELECT COUNT(*) FROM intents WHERE status != 'skipped' AND action = 'place'"
            ),
            "modifies": await scalar("SELECT COUNT(*) FROM intents WHERE status != 'skipped' AND action = 'modify'"),
            "cancels": await scalar("SELECT COUNT(*) FROM intents WHERE status != 'skipped' AND action = 'cancel'"),
            "skipped": await scalar("SELECT COUNT(*) FROM intents WHERE status = 'skipped'"),
            "fills": await scalar("SELECT COUNT(*) FROM executions"),
            "rejects": await scalar("SELECT COUNT(*) FROM intents WHERE status = 'rejected'"),
            "unresolved": await scalar("SELECT COUNT(*) FROM intents WHERE status IN ('pending','sent','unknown')"),
            "duplicates_dropped": await scalar("SELECT value FROM counters WHERE name = 'duplicates_dropped'"),
            "duplicate_orders": await scalar("SELECT COUNT(*) FROM intents WHERE send_count > 1"),
            "alerts": await scalar("SELECT COUNT(*) FROM alerts WHERE level != 'info'"),  # info is news, not an alert
            "errors": await scalar("SELECT COUNT(*) FROM errors"),
            "operator_actions": await scalar("SELECT COUNT(*) FROM operator_actions"),
        }
        drift: dict[str, dict[str, int]] = {}
        async with db.execute("SELECT follower, symbol, expected, actual FROM reconciliation ORDER BY 1, 2") as cur:
            async for f, s, e, a in cur:
                drift.setdefault(f, {})[s] = int(e) - int(a)
        out["open_drift"] = drift
        lat: dict[str, list[float]] = {}
        ack: dict[str, list[float]] = {}
        async with db.execute(
            "SELECT follower, sent_ns - recv_ns, ack_ns - sent_ns FROM intents"
            " WHERE sent_ns IS NOT NULL AND recv_ns > 0 AND action = 'place'"
        ) as cur:
            async for f, copy_ns, ack_ns in cur:
                lat.setdefault(f, []).append(copy_ns / 1e6)
                if ack_ns is not None and ack_ns > 0:
                    ack.setdefault(f, []).append(ack_ns / 1e6)
        out["latency_ms"] = {
            f: {"p50": round(statistics.median(v), 3), "p99": round(_pct(v, 0.99), 3), "n": len(v)}
            for f, v in sorted(lat.items())
        }
        out["ack_latency_ms"] = {
            f: {"p50": round(statistics.median(v), 3), "p99": round(_pct(v, 0.99), 3)} for f, v in sorted(ack.items())
        }
        slip: dict[str, list[float]] = {}
        async with db.execute(
            "SELECT follower, slippage_ticks FROM executions WHERE slippage_ticks IS NOT NULL"
        ) as cur:
            async for f, t in cur:
                slip.setdefault(f, []).append(float(t))
        out["slippage_ticks"] = {f: {"avg": round(sum(v) / len(v), 3), "p95": _pct(v, 0.95)} for f, v in slip.items()}
        pnl = await realised_pnl(db)
        followers = sorted({f for _, f, _ in pnl})
        out["realised_pnl"] = {f: _total(v for (_, g, _), v in pnl.items() if g == f) for f in followers}
    return out


def _pnl_text(value: float | None) -> str:
    """Signed currency with two decimals; ``—`` when unknown, as on the desk (never a made-up 0.00)."""
    return "—" if value is None else f"{value:+,.2f}"


def summary_text(s: dict[str, Any]) -> str:
    lines = [
        f"signals {s['signals']}  follower orders {s['follower_orders']}  fills {s['fills']}  rejects {s['rejects']}",
        f"duplicates dropped {s['duplicates_dropped']}  duplicate orders {s['duplicate_orders']}"
        f"  unresolved {s['unresolved']}  alerts {s['alerts']}",
    ]
    for f, v in s["latency_ms"].items():
        d = s["open_drift"].get(f, {})
        drift = ", ".join(f"{k} {n:+d}" for k, n in d.items() if n) or "none"
        slip = s.get("slippage_ticks", {}).get(f)
        slipped = f"  slip avg {slip['avg']:+.2f}t p95 {slip['p95']:+.1f}t" if slip else ""
        lines.append(f"  {f:<14} copy latency p50 {v['p50']:.3f} ms  p99 {v['p99']:.3f} ms{slipped}  drift {drift}")
    if s.get("slippage_ticks"):
        lines.append("  (slippage: + worse for the follower, - better)")
    if s.get("realised_pnl"):
        pnl = "  ".join(f"{f} {_pnl_text(v)}" for f, v in s["realised_pnl"].items())
        lines.append(f"realised P&L (from the journal's fills): {pnl}")
    return "\n".join(lines)


def dumps(s: dict[str, Any]) -> str:
    return json.dumps(s, indent=2, sort_keys=True)


# ---- reports (desk)
REPORT_KEYS = ("day", "follower", "symbol")
REPORT_COLUMNS = (
    *REPORT_KEYS,
    "orders",
    "rejects",
    "fills",
    "filled_qty",
    "slippage_avg_ticks",
    "slippage_p95_ticks",
    "slippage_cash_total",
    "latency_p50_ms",
    "latency_p99_ms",
    "realised_pnl",
)


async def report_rows(path: str | Path, by: Sequence[str] = REPORT_KEYS) -> list[dict[str, Any]]:
    """Fills, slippage and copy latency grouped by any of day (local date), follower and symbol.

    Slippage keeps the engine's sign: positive is worse for the follower (ticks per fill, and the
    currency total of the group). Realised P&L is :func:`realised_pnl` summed over the group
    (None when any part is unknown).

    Read-only, on its own connection: safe while the engine writes. Rows come sorted by the
    group keys, newest day first; keys not grouped by read ``*``.
    """
    keys = [k for k in REPORT_KEYS if k in by]
    if len(keys) != len(set(by)):
        raise ValueError(f"report groups must be among {', '.join(REPORT_KEYS)}; got {', '.join(by)}")
    p = Path(path).expanduser()
    if not p.exists():
        raise JournalError(f"no journal at {p}. Run `copytui run` first or pass --journal.")
    groups: dict[tuple[str, ...], dict[str, Any]] = {}

    def group(day: str, follower: str, symbol: str) -> dict[str, Any]:
        values = {"day": day, "follower": follower, "symbol": symbol}
        key = tuple(values[k] if k in keys else "*" for k in REPORT_KEYS)
        g = groups.get(key)
        if g is None:
            g = groups[key] = {"key": key, "orders": 0, "rejects": 0, "fills": 0, "filled_qty": 0}
            g.update(lat=[], slip=[], cash=0.0)
        return g

    day_sql = "date(wall_ns / 1000000000, 'unixepoch', 'localtime')"
    async with aiosqlite.connect(f"file:{p}?mode=ro", uri=True) as db:
        async with db.execute(
            f"SELECT {day_sql}, follower, symbol, status, sent_ns, recv_ns FROM intents"
            " WHERE action = 'place' AND status != 'skipped'"
        ) as cur:
            async for day, follower, symbol, status, sent_ns, recv_ns in cur:
                g = group(day or "?", follower, symbol)
                g["orders"] += 1
                g["rejects"] += status == "rejected"
                if sent_ns and recv_ns:
                    g["lat"].append((sent_ns - recv_ns) / 1e6)
        async with db.execute(
            f"SELECT {day_sql}, follower, symbol, qty, slippage_ticks, slippage_cash FROM executions"
        ) as cur:
            async for day, follower, symbol, qty, slip_ticks, slip_cash in cur:
                g = group(day or "?", follower, symbol or "?")
                g["fills"] += 1
                g["filled_qty"] += qty or 0
                if slip_ticks is not None:
                    g["slip"].append(float(slip_ticks))
                g["cash"] += float(slip_cash or 0.0)
        pnl = await realised_pnl(db)
    for (day, follower, symbol), value in pnl.items():
        group(day, follower, symbol).setdefault("pnl", []).append(value)
    out = []
    for g in groups.values():
        slip, lat = g["slip"], g["lat"]
        row = dict(zip(REPORT_KEYS, g["key"], strict=True))
        row.update(
            orders=g["orders"],
            rejects=g["rejects"],
            fills=g["fills"],
            filled_qty=g["filled_qty"],
            slippage_avg_ticks=round(sum(slip) / len(slip), 3) if slip else None,
            slippage_p95_ticks=_pct(slip, 0.95) if slip else None,
            slippage_cash_total=round(g["cash"], 2),
            latency_p50_ms=round(statistics.median(lat), 3) if lat else None,
            latency_p99_ms=round(_pct(lat, 0.99), 3) if lat else None,
            realised_pnl=_total(g.get("pnl", [])),
        )
        out.append(row)
    out.sort(key=lambda r: (r["follower"], r["symbol"]))
    out.sort(key=lambda r: r["day"], reverse=True)
    return out


# ---- the desk's log filter
def _prefix(word: str) -> str:
    """A LIKE pattern for words starting with ``word``, its own ``%`` and ``_`` taken literally."""
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def matching_orders(path: str | Path, words: Sequence[str]) -> list[dict[str, Any]]:
    """Every follower order in the journal whose follower, symbol, status or action starts with each of
    ``words`` (any case), oldest first: the desk's ``/`` filter, over the whole journal.

    Each row has the order's columns the log shows, ``latency_ms`` (leader event to order sent) and
    ``slippage_ticks`` (the average of its fills). Read-only, on its own connection."""
    p = Path(path).expanduser()
    if not p.exists():
        raise JournalError(f"no journal at {p}. Run `copytui run` first or pass --journal.")
    field = "({col} LIKE ? ESCAPE '\\')"
    word_sql = " OR ".join(field.format(col=c) for c in ("i.follower", "i.symbol", "i.status", "i.action"))
    where = " AND ".join(f"({word_sql})" for _ in words) or "1"
    args = [pattern for w in words for pattern in (_prefix(w),) * 4]
    sql = (
        "SELECT i.wall_ns, i.signal_id, i.follower, i.symbol, i.side, i.qty, i.status, i.action,"
        " i.client_order_id, CASE WHEN i.sent_ns IS NOT NULL AND i.recv_ns > 0"
        " THEN (i.sent_ns - i.recv_ns) / 1e6 END AS latency_ms, i.avg_fill_price AS fill_price,"
        " x.slippage_ticks, COALESCE(i.reason, '') AS reason FROM intents i"
        " LEFT JOIN (SELECT client_order_id, AVG(slippage_ticks) AS slippage_ticks FROM executions"
        " GROUP BY client_order_id) x ON x.client_order_id = i.client_order_id"
        f" WHERE {where} ORDER BY i.rowid"
    )
    async with aiosqlite.connect(f"file:{p}?mode=ro", uri=True) as db:
        db.row_factory = aiosqlite.Row
        async with db.execute(sql, args) as cur:
            return [dict(row) async for row in cur]
