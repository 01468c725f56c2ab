"""The numbers ``copytui journal summary`` prints, read from a journal file on a read-only connection."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import TypedDict

from copytui.journal.reports import read_only, realised_pnl, total
from copytui.journal.stats import percentile


class LatencyStats(TypedDict):
    p50: float
    p99: float
    n: int


class AckLatencyStats(TypedDict):
    p50: float
    p99: float


class SlippageStats(TypedDict):
    avg: float
    p95: float


class MarketQuotes(TypedDict):
    events: int
    """Leader events journaled while a market-data source was configured."""
    live: int
    not_live: int


class Summary(TypedDict):
    signals: int
    follower_orders: int
    modifies: int
    cancels: int
    skipped: int
    fills: int
    rejects: int
    unresolved: int
    duplicates_dropped: int
    duplicate_orders: int
    alerts: int
    errors: int
    operator_actions: int
    open_drift: dict[str, dict[str, int]]  # per follower and symbol: expected - actual, last reconciliation
    latency_ms: dict[str, LatencyStats]  # per follower: leader event read -> follower order sent
    ack_latency_ms: dict[str, AckLatencyStats]  # per follower: order sent -> the broker's answer
    slippage_ticks: dict[str, SlippageStats]
    market_slippage_ticks: dict[str, SlippageStats]  # against the market quote of the leader's moment
    market_quotes: MarketQuotes  # how many leader events had a live market quote
    realised_pnl: dict[str, float | None]
    leader_fills: dict[str, int]  # per leader: its fills copied (signals of kind fill)


_COUNTS = {
    "signals": "SELECT COUNT(*) FROM signals",
    "follower_orders": "SELECT COUNT(*) FROM intents WHERE status != 'skipped' AND action = 'place'",
    "modifies": "SELECT COUNT(*) FROM intents WHERE status != 'skipped' AND action = 'modify'",
    "cancels": "SELECT COUNT(*) FROM intents WHERE status != 'skipped' AND action = 'cancel'",
    "skipped": "SELECT COUNT(*) FROM intents WHERE status = 'skipped'",
    "fills": "SELECT COUNT(*) FROM executions",
    "rejects": "SELECT COUNT(*) FROM intents WHERE status = 'rejected'",
    "unresolved": "SELECT COUNT(*) FROM intents WHERE status IN ('pending','sent','unknown')",
    "duplicates_dropped": "SELECT value FROM counters WHERE name = 'duplicates_dropped'",
    "duplicate_orders": "SELECT COUNT(*) FROM intents WHERE send_count > 1",
    "alerts": "SELECT COUNT(*) FROM alerts WHERE level != 'info'",  # info is news, not an alert
    "errors": "SELECT COUNT(*) FROM errors",
    "operator_actions": "SELECT COUNT(*) FROM operator_actions",
}


async def summary(path: str | Path) -> Summary:
    """The numbers `copytui journal summary` prints."""
    async with read_only(path) as db:
        counts: dict[str, int] = {}
        for name, sql in _COUNTS.items():
            async with db.execute(sql) as cur:
                row = await cur.fetchone()
            counts[name] = int(row[0] or 0) if row else 0
        drift: dict[str, dict[str, int]] = {}
        async with db.execute("SELECT follower, symbol, expected, actual FROM reconciliation ORDER BY 1, 2") as cur:
            async for f, s, e, a in cur:
                drift.setdefault(f, {})[s] = int(e) - int(a)
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
        slip: dict[str, list[float]] = {}
        async with db.execute(
            "SELECT follower, slippage_ticks FROM executions WHERE slippage_ticks IS NOT NULL"
        ) as cur:
            async for f, t in cur:
                slip.setdefault(f, []).append(float(t))
        mkt: dict[str, list[float]] = {}
        async with db.execute(
            "SELECT follower, mkt_slippage_ticks FROM executions WHERE mkt_slippage_ticks IS NOT NULL"
        ) as cur:
            async for f, t in cur:
                mkt.setdefault(f, []).append(float(t))
        async with db.execute(
            "SELECT COUNT(*), SUM(mkt_note IS NULL), SUM(mkt_note IS NOT NULL) FROM signals WHERE recv_ns > 0"
            " AND (mkt_bid IS NOT NULL OR mkt_note IS NOT NULL OR mkt_last IS NOT NULL)"
        ) as cur:
            row = await cur.fetchone()
        quoted, live, stale = (int(x or 0) for x in row) if row else (0, 0, 0)
        by_leader: dict[str, int] = {}
        async with db.execute("SELECT leader, COUNT(*) FROM signals WHERE kind = 'fill' GROUP BY leader") as cur:
            async for leader, n in cur:
                by_leader[str(leader)] = int(n)
        pnl = await realised_pnl(db)
    followers = sorted({f for _, f, _ in pnl})
    return Summary(
        signals=counts["signals"],
        follower_orders=counts["follower_orders"],
        modifies=counts["modifies"],
        cancels=counts["cancels"],
        skipped=counts["skipped"],
        fills=counts["fills"],
        rejects=counts["rejects"],
        unresolved=counts["unresolved"],
        duplicates_dropped=counts["duplicates_dropped"],
        duplicate_orders=counts["duplicate_orders"],
        alerts=counts["alerts"],
        errors=counts["errors"],
        operator_actions=counts["operator_actions"],
        open_drift=drift,
        latency_ms={
            f: LatencyStats(p50=round(statistics.median(v), 3), p99=round(percentile(v, 0.99), 3), n=len(v))
            for f, v in sorted(lat.items())
        },
        ack_latency_ms={
            f: AckLatencyStats(p50=round(statistics.median(v), 3), p99=round(percentile(v, 0.99), 3))
            for f, v in sorted(ack.items())
        },
        slippage_ticks={
            f: SlippageStats(avg=round(sum(v) / len(v), 3), p95=percentile(v, 0.95)) for f, v in slip.items()
        },
        market_slippage_ticks={
            f: SlippageStats(avg=round(sum(v) / len(v), 3), p95=percentile(v, 0.95)) for f, v in mkt.items()
        },
        market_quotes=MarketQuotes(events=quoted, live=live, not_live=stale),
        realised_pnl={f: total(v for (_, g, _), v in pnl.items() if g == f) for f in followers},
        leader_fills=by_leader,
    )


def _pnl_text(value: float | None) -> str:
    """Signed currency with two decimals; ``—`` when unknown, as on the desk (never a made-up 0.00)."""
    return "—" if value is None else f"{value:+,.2f}"


def summary_text(s: Summary) -> str:
    lines = [
        f"signals {s['signals']}  follower orders {s['follower_orders']}  fills {s['fills']}  rejects {s['rejects']}",
        f"duplicates dropped {s['duplicates_dropped']}  duplicate orders {s['duplicate_orders']}"
        f"  unresolved {s['unresolved']}  alerts {s['alerts']}",
    ]
    if len(s.get("leader_fills", {})) > 1:
        lines.append("leader fills copied: " + "  ".join(f"{k} {n}" for k, n in s["leader_fills"].items()))
    for f, v in s["latency_ms"].items():
        d = s["open_drift"].get(f, {})
        drift = ", ".join(f"{k} {n:+d}" for k, n in d.items() if n) or "none"
        slip = s.get("slippage_ticks", {}).get(f)
        slipped = f"  slip avg {slip['avg']:+.2f}t p95 {slip['p95']:+.1f}t" if slip else ""
        lines.append(f"  {f:<14} copy latency p50 {v['p50']:.3f} ms  p99 {v['p99']:.3f} ms{slipped}  drift {drift}")
    market = s.get("market_quotes")
    if market and market["events"]:
        lines.append(
            f"market quotes: {market['live']} of {market['events']} leader events had a live quote"
            f" ({market['not_live']} stale or missing: no slippage against the market for them)"
        )
        for f, m in s.get("market_slippage_ticks", {}).items():
            lines.append(f"  {f:<14} slip vs market avg {m['avg']:+.2f}t p95 {m['p95']:+.1f}t")
    if s.get("slippage_ticks") or s.get("market_slippage_ticks"):
        lines.append("  (slippage: + worse for the follower, - better; vs market: the ask to buy, the bid to sell)")
    if s.get("realised_pnl"):
        pnl = "  ".join(f"{f} {_pnl_text(v)}" for f, v in s["realised_pnl"].items())
        lines.append(f"realised P&L (from the journal's fills): {pnl}")
    return "\n".join(lines)


def dumps(s: Summary) -> str:
    return json.dumps(s, indent=2, sort_keys=True)
