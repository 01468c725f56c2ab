"""The session over time: copy latency and slippage per time bucket, for the desk's chart (key ``c``).

Read from the journal on a read-only connection of its own, like the reports: the chart shows the
whole trading day on this journal, earlier sessions of the day included, not only what the desk
has seen since it started.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from copytui.journal.reports import read_only
from copytui.journal.stats import percentile

BUCKET_LADDER_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
"""Bucket sizes a chart picks from: the smallest that fits the session into the chart's width."""


@dataclass(frozen=True, slots=True)
class Bucket:
    """One time bucket of one follower (or of all): what was copied in it and how well."""

    start_ns: int
    orders: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    fills: int
    slippage_avg_ticks: float | None
    """Per fill, the engine's sign: positive is worse for the follower."""


@dataclass(frozen=True, slots=True)
class SessionSeries:
    follower: str | None
    """None: every follower together."""
    bucket_s: int
    buckets: tuple[Bucket, ...]
    """Consecutive, from the first order or fill of the day to the last; empty ones included."""


def start_of_day_ns(now_ns: int | None = None) -> int:
    """Local midnight of the day of ``now_ns`` (the journal's days are local days too)."""
    now = time.localtime((now_ns if now_ns is not None else time.time_ns()) / 1e9)
    midnight = time.mktime((now.tm_year, now.tm_mon, now.tm_mday, 0, 0, 0, 0, 0, -1))
    return int(midnight * 1e9)


def bucket_size_s(span_ns: int, width: int) -> int:
    """The smallest bucket of the ladder that shows ``span_ns`` in at most ``width`` columns."""
    for size in BUCKET_LADDER_S:
        if span_ns // (size * 1_000_000_000) + 1 <= width:
            return size
    return BUCKET_LADDER_S[-1]


async def session_series(
    path: str | Path, follower: str | None, *, width: int, since_ns: int | None = None
) -> SessionSeries:
    """Latency (order received from the leader -> sent to the broker, as in the reports) and
    slippage per bucket since ``since_ns`` (default: local midnight), at most ``width`` buckets."""
    since = start_of_day_ns() if since_ns is None else since_ns
    who, args = ("AND follower = ?", (since, follower)) if follower is not None else ("", (since,))
    orders: list[tuple[int, float | None]] = []
    fills: list[tuple[int, float | None]] = []
    async with read_only(path) as db:
        async with db.execute(
            "SELECT wall_ns, sent_ns, recv_ns FROM intents WHERE action = 'place' AND status != 'skipped'"
            f" AND wall_ns >= ? {who}",
            args,
        ) as cur:
            async for wall_ns, sent_ns, recv_ns in cur:
                orders.append((wall_ns, (sent_ns - recv_ns) / 1e6 if sent_ns and recv_ns else None))
        async with db.execute(f"SELECT wall_ns, slippage_ticks FROM executions WHERE wall_ns >= ? {who}", args) as cur:
            async for wall_ns, slip in cur:
                fills.append((wall_ns, None if slip is None else float(slip)))
    stamps = [w for w, _ in orders] + [w for w, _ in fills]
    if not stamps:
        return SessionSeries(follower, BUCKET_LADDER_S[0], ())
    first, last = min(stamps), max(stamps)
    size_s = bucket_size_s(last - first, max(1, width))
    size_ns = size_s * 1_000_000_000
    origin = first - first % size_ns  # buckets on round clock times: 10:05:00, not 10:04:37
    count = (last - origin) // size_ns + 1
    latencies: list[list[float]] = [[] for _ in range(count)]
    order_counts = [0] * count
    slips: list[list[float]] = [[] for _ in range(count)]
    fill_counts = [0] * count
    for wall_ns, lat in orders:
        i = (wall_ns - origin) // size_ns
        order_counts[i] += 1
        if lat is not None:
            latencies[i].append(lat)
    for wall_ns, slip in fills:
        i = (wall_ns - origin) // size_ns
        fill_counts[i] += 1
        if slip is not None:
            slips[i].append(slip)
    buckets = tuple(
        Bucket(
            start_ns=origin + i * size_ns,
            orders=order_counts[i],
            latency_p50_ms=percentile(latencies[i], 0.5) if latencies[i] else None,
            latency_p99_ms=percentile(latencies[i], 0.99) if latencies[i] else None,
            fills=fill_counts[i],
            slippage_avg_ticks=sum(slips[i]) / len(slips[i]) if slips[i] else None,
        )
        for i in range(count)
    )
    return SessionSeries(follower, size_s, buckets)
