"""Report queries: the desk's reports, its log filter over the whole journal, and realised P&L
from the journal's fills.

Reads go through aiosqlite on a read-only connection of their own, so a long report query never
stalls the copy path writing on the journal's connection.
"""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiosqlite

from copytui.instruments import INSTRUMENTS
from copytui.journal.schema import missing_journal
from copytui.journal.stats import percentile
from copytui.models import Side, apply_fill

ReportValue = str | int | float | None
"""A cell of a report or of the log filter's rows."""


@contextlib.asynccontextmanager
async def read_only(path: str | Path) -> AsyncIterator[aiosqlite.Connection]:
    """A read-only connection to the journal at ``path``: safe while an engine writes to it."""
    p = Path(path).expanduser()
    if not p.exists():
        raise missing_journal(p)
    async with aiosqlite.connect(f"file:{p}?mode=ro", uri=True) as db:
        yield db


# ------------------------------------------------------------------ realised P&L
PNL_FILLS_SQL = (
    "SELECT date(wall_ns / 1000000000, 'unixepoch', 'localtime'), follower, symbol, side, qty, price"
    " FROM executions ORDER BY rowid"
)

PnlKey = tuple[str, str, str]
"""(local day, follower, symbol)."""


async def realised_pnl(db: aiosqlite.Connection) -> dict[PnlKey, float | None]:
    """Realised P&L in account currency per (day, follower, symbol), from the journal's fills.

    Each follower's fills in one contract are netted in the order they were journaled by
    :func:`copytui.models.apply_fill`, times the contract's point value; a closing fill's P&L
    counts on its own day. Positions held before the journal's first fill are not known here,
    so their closing is counted from the first fill seen. ``None``: a symbol copytui does not
    know, or a fill without price or side (its P&L cannot be computed)."""
    books: dict[tuple[str, str], tuple[int, float]] = {}
    out: dict[PnlKey, float | None] = {}
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


def total(values: Iterable[float | None]) -> float | None:
    """The sum rounded to cents, or None when any part is unknown."""
    amount = 0.0
    for v in values:
        if v is None:
            return None
        amount += v
    return round(amount, 2)


# ----------------------------------------------------------------- desk reports
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
    "market_slippage_avg_ticks",
    "latency_p50_ms",
    "latency_p99_ms",
    "realised_pnl",
)
_DAY_SQL = "date(wall_ns / 1000000000, 'unixepoch', 'localtime')"


@dataclass
class _Group:
    """One report row while it is being added up."""

    key: tuple[str, str, str]
    orders: int = 0
    rejects: int = 0
    fills: int = 0
    filled_qty: int = 0
    latency_ms: list[float] = field(default_factory=list)
    slippage_ticks: list[float] = field(default_factory=list)
    slippage_cash: float = 0.0
    market_slippage_ticks: list[float] = field(default_factory=list)
    pnl: list[float | None] = field(default_factory=list)

    def row(self) -> dict[str, ReportValue]:
        slip, lat = self.slippage_ticks, self.latency_ms
        out: dict[str, ReportValue] = dict(zip(REPORT_KEYS, self.key, strict=True))
        out.update(
            orders=self.orders,
            rejects=self.rejects,
            fills=self.fills,
            filled_qty=self.filled_qty,
            slippage_avg_ticks=round(sum(slip) / len(slip), 3) if slip else None,
            slippage_p95_ticks=percentile(slip, 0.95) if slip else None,
            slippage_cash_total=round(self.slippage_cash, 2),
            market_slippage_avg_ticks=(
                round(sum(self.market_slippage_ticks) / len(self.market_slippage_ticks), 3)
                if self.market_slippage_ticks
                else None
            ),
            latency_p50_ms=round(statistics.median(lat), 3) if lat else None,
            latency_p99_ms=round(percentile(lat, 0.99), 3) if lat else None,
            realised_pnl=total(self.pnl),
        )
        return out


async def report_rows(path: str | Path, by: Sequence[str] = REPORT_KEYS) -> list[dict[str, ReportValue]]:
    """Fills, slippage and copy latency grouped by any of day (local date), follower and symbol.

    Slippage keeps the engine's sign: positive is worse for the follower (ticks per fill, and the
    currency total of the group). Realised P&L is :func:`realised_pnl` summed over the group
    (None when any part is unknown).

    Read-only, on its own connection: safe while the engine writes. Rows come sorted by the
    group keys, newest day first; keys not grouped by read ``*``. Each row has ``REPORT_COLUMNS``.
    """
    keys = [k for k in REPORT_KEYS if k in by]
    if len(keys) != len(set(by)):
        raise ValueError(f"report groups must be among {', '.join(REPORT_KEYS)}; got {', '.join(by)}")
    groups: dict[tuple[str, str, str], _Group] = {}

    def group(day: str, follower: str, symbol: str) -> _Group:
        values = {"day": day, "follower": follower, "symbol": symbol}
        day_key, follower_key, symbol_key = (values[k] if k in keys else "*" for k in REPORT_KEYS)
        key = (day_key, follower_key, symbol_key)
        found = groups.get(key)
        if found is None:
            found = groups[key] = _Group(key)
        return found

    async with read_only(path) as db:
        async with db.execute(
            f"SELECT {_DAY_SQL}, follower, symbol, status, sent_ns, recv_ns FROM intents"
            " WHERE action = 'place' AND status != 'skipped'"
        ) as cur:
            async for day, follower, symbol, status, sent_ns, recv_ns in cur:
                g = group(day or "?", follower, symbol)
                g.orders += 1
                g.rejects += status == "rejected"
                if sent_ns and recv_ns:
                    g.latency_ms.append((sent_ns - recv_ns) / 1e6)
        async with db.execute(
            f"SELECT {_DAY_SQL}, follower, symbol, qty, slippage_ticks, slippage_cash, mkt_slippage_ticks"
            " FROM executions"
        ) as cur:
            async for day, follower, symbol, qty, slip_ticks, slip_cash, mkt_ticks in cur:
                g = group(day or "?", follower, symbol or "?")
                g.fills += 1
                g.filled_qty += qty or 0
                if slip_ticks is not None:
                    g.slippage_ticks.append(float(slip_ticks))
                g.slippage_cash += float(slip_cash or 0.0)
                if mkt_ticks is not None:
                    g.market_slippage_ticks.append(float(mkt_ticks))
        pnl = await realised_pnl(db)
    for (day, follower, symbol), value in pnl.items():
        group(day, follower, symbol).pnl.append(value)
    out = [g.row() for g in groups.values()]
    out.sort(key=lambda r: (str(r["follower"]), str(r["symbol"])))
    out.sort(key=lambda r: str(r["day"]), reverse=True)
    return out


# ------------------------------------------------------------ the desk's log filter
def _prefix(word: str) -> str:
    """A LIKE pattern for words starting with ``word``, its own ``%`` and ``_`` taken literally."""
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def matching_orders(path: str | Path, words: Sequence[str]) -> list[dict[str, ReportValue]]:
    """Every follower order in the journal whose follower, symbol, status or action starts with each of
    ``words`` (any case), oldest first: the desk's ``/`` filter, over the whole journal.

    Each row has the order's columns the log shows, ``latency_ms`` (leader event to order sent) and
    ``slippage_ticks`` (the average of its fills). Read-only, on its own connection."""
    column = "({col} LIKE ? ESCAPE '\\')"
    word_sql = " OR ".join(column.format(col=c) for c in ("i.follower", "i.symbol", "i.status", "i.action"))
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
    async with read_only(path) as db:
        db.row_factory = aiosqlite.Row
        async with db.execute(sql, args) as cur:
            return [dict(row) async for row in cur]


@dataclass(frozen=True, slots=True)
class JournaledAlert:
    wall_ns: int
    level: str
    follower: str
    kind: str
    message: str


async def alert_history(path: str | Path, limit: int = 5000) -> list[JournaledAlert]:
    """Every alert the journal holds, newest first (at most ``limit``): the desk's alert history."""
    async with read_only(path) as db:
        async with db.execute(
            "SELECT wall_ns, level, follower, kind, message FROM alerts ORDER BY id DESC LIMIT ?", (limit,)
        ) as cur:
            return [JournaledAlert(int(w or 0), str(lv), str(f), str(k), str(m)) async for w, lv, f, k, m in cur]
