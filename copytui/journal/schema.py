"""The journal's file: created private to its owner, its tables, and the migrations between versions."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

SCHEMA_VERSION = 4

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
    # the market of the moment a leader event was read (a market-data source's quote; mkt_note says
    # why it was not live), and each follower fill's slippage against it
    3: """
    ALTER TABLE signals ADD COLUMN mkt_bid REAL;
    ALTER TABLE signals ADD COLUMN mkt_ask REAL;
    ALTER TABLE signals ADD COLUMN mkt_last REAL;
    ALTER TABLE signals ADD COLUMN mkt_age_ms REAL;
    ALTER TABLE signals ADD COLUMN mkt_note TEXT;
    ALTER TABLE executions ADD COLUMN mkt_slippage_ticks REAL;
    ALTER TABLE executions ADD COLUMN mkt_slippage_cash REAL;
    """,
    # a trailing stop's distance from the market, the leader's and each follower copy's
    4: """
    ALTER TABLE signals ADD COLUMN trail REAL;
    ALTER TABLE intents ADD COLUMN trail REAL;
    """,
}


class JournalError(Exception):
    """The journal cannot be opened or read; the message says what to do."""


def create_private_file(path: Path) -> None:
    """Create ``path`` with mode 0600 if missing; tighten it if it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def tighten_side_files(path: Path) -> None:
    """SQLite creates the ``-wal`` and ``-shm`` files with the process's umask: they hold the same rows."""
    for suffix in ("-wal", "-shm"):
        side = Path(str(path) + suffix)
        if side.exists():
            os.chmod(side, 0o600)


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the journal at ``path`` to ``SCHEMA_VERSION``, one transaction per version; a journal
    written by a newer copytui is refused rather than misread."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise JournalError(
            f"journal {path} has schema {version}, newer than this copytui ({SCHEMA_VERSION}). Upgrade copytui."
        )
    for v in range(version + 1, SCHEMA_VERSION + 1):
        db.executescript("BEGIN;" + _MIGRATIONS[v] + f"PRAGMA user_version={v}; COMMIT;")


def missing_journal(path: Path) -> JournalError:
    """What a read of a journal that is not there says."""
    return JournalError(f"no journal at {path}. Run `copytui run` first or pass --journal.")
