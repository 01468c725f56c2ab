"""What the benchmark measures in a live journal: per leader fill, how long copytui took to journal
it and to write every follower's order. Read on the journal's own connection after a flush (the
benchmark drives the engine in this process)."""

from __future__ import annotations

from dataclasses import dataclass

from copytui.journal.store import Journal


@dataclass(frozen=True, slots=True)
class FanoutTiming:
    """One leader fill's follower orders, in ``perf_counter_ns`` differences from the leader event read."""

    last_sent_ns: int
    """To the last follower order written to its socket (0 when none was sent)."""
    last_ack_ns: int | None
    """To the last answer; None while some order has none."""
    orders: int
    sent: int
    to_journal_ns: int | None
    """To the start of the journal commit."""


def last_signal_mark(journal: Journal) -> int:
    """A position in the journal: ``fanout_timings`` counts only signals after it."""
    journal.flush()
    row = journal.db.execute("SELECT COALESCE(MAX(rowid), 0) FROM signals").fetchone()
    return int(row[0])


def fanout_timings(journal: Journal, after: int) -> list[FanoutTiming]:
    """Each leader fill journaled after the mark ``after``, oldest first (placed orders only)."""
    journal.flush()
    rows = journal.db.execute(
        "SELECT MAX(i.sent_ns) - MIN(i.recv_ns), MAX(i.ack_ns) - MIN(i.recv_ns), MIN(i.ack_ns),"
        " COUNT(*), COUNT(i.sent_ns), MIN(i.journaled_ns) - MIN(i.recv_ns)"
        " FROM intents i JOIN signals s ON s.id = i.signal_id"
        " WHERE s.rowid > ? AND s.kind = 'fill' AND i.action = 'place' AND i.status != 'skipped'"
        " GROUP BY i.signal_id ORDER BY MIN(s.rowid)",
        (after,),
    ).fetchall()
    return [
        FanoutTiming(int(sent or 0), int(acked) if first_ack else None, int(n), int(n_sent), to_journal)
        for sent, acked, first_ack, n, n_sent, to_journal in rows
    ]


def followers_per_signal(journal: Journal) -> dict[str, int]:
    """Per signal id: how many followers have a placed (not skipped) order for it."""
    journal.flush()
    rows = journal.db.execute(
        "SELECT signal_id, COUNT(DISTINCT follower) FROM intents"
        " WHERE action = 'place' AND status != 'skipped' GROUP BY signal_id"
    )
    return {str(sid): int(n) for sid, n in rows}
