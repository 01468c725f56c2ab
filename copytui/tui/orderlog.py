"""The order log: appended as rows arrive, bounded; filtered by follower, symbol or status over the journal."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from rich.text import Text

from copytui.engine import LogRow
from copytui.instruments import format_price
from copytui.tui.format import Palette, clock, ms, side_text, status_text, ticks
from copytui.tui.table import DeskTable

LOG_COLUMNS = (
    ("time", "Time", 8),
    ("follower", "Follower", 9),
    ("status", "Status", 10),
    ("symbol", "Sym", 4),
    ("side", "Side", 6),
    ("qty", "Qty", 4),
    ("latency", "Lat ms", 7),
    ("fill", "Fill", 9),
    ("slip", "Slip", 6),
    ("reason", "Note", 14),  # takes the room left on screen; the signal id and the whole note: enter
)

# less room (the log beside the slippage panel, 110-159 columns): latency and slippage are in that
# panel, per follower; then the fill price goes to the row's details (enter)
LOG_MEDIUM = tuple(c for c in LOG_COLUMNS if c[0] not in ("latency", "slip"))
LOG_SMALL = (
    ("time", "Time", 8),
    ("follower", "Follower", 8),
    ("status", "Status", 9),
    ("symbol", "Sym", 4),
    ("side", "Side", 6),
    ("qty", "Qty", 4),
    ("fill", "Fill", 9),
    ("reason", "Note", 4),
)
LOG_TINY = tuple(c for c in LOG_SMALL if c[0] != "fill")

MAX_ROWS = 400
TRIM_BATCH = 100


def matches(row: LogRow, needle: str) -> bool:
    """``needle`` is one or more words; each must be a follower, symbol or status (prefix, any case)."""
    fields = (row.follower.lower(), row.symbol.lower(), row.status.lower(), row.action.lower())
    return all(any(f.startswith(word) for f in fields) for word in needle.lower().split())


def journal_row(order: Mapping[str, Any]) -> LogRow:
    """A line of the log from a follower order the journal holds (``journal.matching_orders``)."""
    return LogRow(
        seq=0,  # older than every row of this session's log: the session's rows update it in place
        wall_ns=order["wall_ns"] or 0,
        signal_id=order["signal_id"],
        follower=order["follower"],
        symbol=order["symbol"],
        side=order["side"],
        qty=order["qty"],
        status=order["status"],
        action=order["action"],
        client_order_id=order["client_order_id"],
        latency_ms=order["latency_ms"],
        fill_price=order["fill_price"],
        slippage_ticks=order["slippage_ticks"],
        reason=order["reason"],
    )


LOG_KEYS = tuple(key for key, _, _ in LOG_COLUMNS)


def log_cells(row: LogRow, pal: Palette, columns: tuple[str, ...] = LOG_KEYS) -> tuple[object, ...]:
    """One log line's cells, for the ``columns`` shown."""
    if row.action == "operator":
        what = row.reason.split(":")[0].split(" (")[0]  # "paused", "resumed", "flatten", "flat and paused"
        cells: dict[str, object] = {
            "time": clock(row.wall_ns),
            "follower": Text(row.follower, style="bold"),
            "status": Text(what, style=f"bold {pal.warn}"),
            "reason": Text(row.reason, style=f"bold {pal.warn}"),
        }
        return tuple(cells.get(key, "") for key in columns)
    action = "" if row.action == "place" else f"{row.action} "
    cells = {
        "time": clock(row.wall_ns),
        "follower": row.follower,
        "status": status_text(row.status, pal),
        "symbol": row.symbol,
        "side": side_text(row.side, pal),
        "qty": Text(str(row.qty), justify="right"),
        "latency": Text(ms(row.latency_ms) if row.latency_ms is not None else "", justify="right"),
        "fill": Text(format_price(row.symbol, row.fill_price), justify="right") if row.fill_price is not None else "",
        "slip": Text(ticks(row.slippage_ticks), justify="right") if row.slippage_ticks is not None else "",
        "reason": action + row.reason,
    }
    return tuple(cells[key] for key in columns)


class OrderLog(DeskTable):
    """Rows hold ``LogRow``s; cells are made only for the lines drawn. Unfiltered, up to ``MAX_ROWS`` +
    ``TRIM_BATCH`` lines, the oldest dropped ``TRIM_BATCH`` or more at a time; filtered, every match."""

    def __init__(self, **kwargs: object) -> None:
        sets = (LOG_MEDIUM, LOG_SMALL, LOG_TINY)
        super().__init__(LOG_COLUMNS, flex="reason", smaller=sets, **kwargs)  # type: ignore[arg-type]
        self.needle = ""
        self.last_seq = 0
        self._skips: dict[str, tuple[str, str, int]] = {}
        """Per follower, its latest line if that line is a run of skipped orders: (key, reason, count)."""

    def row_cells(self, data: LogRow) -> tuple[object, ...]:
        return log_cells(data, self.palette or Palette(), self.column_keys)

    @property
    def rows_by_key(self) -> dict[str, LogRow]:
        return {key: row.data for key, row in self.rows.items()}

    def show(self, rows: Sequence[LogRow], pal: Palette) -> None:
        """Take the rows after the last one seen (``rows`` come in ``seq`` order, as the engine logs them)."""
        self.set_palette(pal)
        follow = not self.has_focus or self.cursor_row >= self.row_count - 1
        added = False
        for row in rows[bisect_right(rows, self.last_seq, key=_seq) :]:
            self.last_seq = row.seq
            if self.needle and not matches(row, self.needle):
                continue
            if row.status == "skipped":
                # a paused (or waiting) follower skips every leader event: one line per run, counted
                run = self._skips.get(row.follower)
                if run is not None and run[1] == row.reason and run[0] in self.rows:
                    key, count = run[0], run[2] + 1
                    self._skips[row.follower] = (key, row.reason, count)
                    self.sync_row(key, replace(row, reason=f"{row.reason} · {count} leader events"))
                    continue
                self._skips[row.follower] = (str(row.seq), row.reason, 1)
                self.sync_row(str(row.seq), row)
                added = True
                continue
            self._skips.pop(row.follower, None)
            # one line per follower order: its ack and its fills update the same line in place
            key = row.client_order_id if row.client_order_id and row.action != "operator" else str(row.seq)
            old = self.rows.get(key)
            if old is not None:
                row = merged(old.data, row)
            else:
                added = True
            self.sync_row(key, row)
        if not self.needle and self.row_count > MAX_ROWS + TRIM_BATCH:
            excess = self.row_count - MAX_ROWS
            self.drop_first(excess + excess % 2)  # an even count: every line keeps its stripe
        self.commit()
        if added and follow:
            self.move_cursor(row=self.row_count - 1, animate=False)

    def refilter(self, needle: str, rows: Sequence[LogRow], pal: Palette, found: Sequence[LogRow] = ()) -> None:
        """A new filter: the one time the log is rebuilt. ``found``: the journal's matching orders, oldest
        first; this session's ``rows`` then bring them up to date and add what the journal has not yet."""
        self.needle = needle.strip()
        self.drop_all()
        self._skips.clear()
        for row in found:
            self.sync_row(row.client_order_id, row)
        self.last_seq = 0
        self.show(rows, pal)
        if self.needle:
            count = f"{self.row_count} row" if self.row_count == 1 else f"{self.row_count} rows"
            self.border_subtitle = f"filter: {self.needle} · {count} in the journal  (/ to change)"
        else:
            self.border_subtitle = ""

    @property
    def selected(self) -> LogRow | None:
        key = self.cursor_key
        return self.data_of(key) if key is not None else None


def _seq(row: LogRow) -> int:
    return row.seq


def merged(old: LogRow, new: LogRow) -> LogRow:
    """The line of one follower order after its ack or a fill: what the newer row does not say, the older did."""
    return LogRow(
        seq=new.seq,
        wall_ns=old.wall_ns,
        signal_id=new.signal_id,
        follower=new.follower,
        symbol=new.symbol,
        side=new.side,
        qty=new.qty,
        status=new.status,
        action=new.action,
        client_order_id=new.client_order_id,
        latency_ms=new.latency_ms if new.latency_ms is not None else old.latency_ms,
        fill_price=new.fill_price if new.fill_price is not None else old.fill_price,
        slippage_ticks=new.slippage_ticks if new.slippage_ticks is not None else old.slippage_ticks,
        reason=new.reason or old.reason,
    )
