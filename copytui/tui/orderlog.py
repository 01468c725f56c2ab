"""The order log: appended as rows arrive, bounded, filterable by follower, symbol or status."""

from __future__ import annotations

from dataclasses import replace

from rich.text import Text

from copytui.engine import LogRow
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
    ("fill", "Fill", 10),
    ("slip", "Slip", 6),
    ("signal", "Signal", 8),
    ("reason", "Note", 48),
)

MAX_ROWS = 400


def matches(row: LogRow, needle: str) -> bool:
    """``needle`` is one or more words; each must be a follower, symbol or status (prefix, any case)."""
    fields = (row.follower.lower(), row.symbol.lower(), row.status.lower(), row.action.lower())
    return all(any(f.startswith(word) for f in fields) for word in needle.lower().split())


def log_cells(row: LogRow, pal: Palette) -> tuple[object, ...]:
    if row.action == "operator":
        what = row.reason.split(":")[0].split(" (")[0]  # "paused", "resumed", "flatten", "flat and paused"
        return (
            clock(row.wall_ns),
            Text(row.follower, style="bold"),
            Text(what, style=f"bold {pal.warn}"),
            "",
            "",
            "",
            "",
            "",
            "",
            "operator",
            Text(row.reason, style=f"bold {pal.warn}"),
        )
    action = "" if row.action == "place" else f"{row.action} "
    return (
        clock(row.wall_ns),
        row.follower,
        status_text(row.status, pal),
        row.symbol,
        side_text(row.side, pal),
        Text(str(row.qty), justify="right"),
        Text(ms(row.latency_ms) if row.latency_ms is not None else "", justify="right"),
        f"{row.fill_price:g}" if row.fill_price is not None else "",
        ticks(row.slippage_ticks) if row.slippage_ticks is not None else "",
        row.signal_id[:8],
        action + row.reason,
    )


class OrderLog(DeskTable):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(LOG_COLUMNS, **kwargs)  # type: ignore[arg-type]
        self.needle = ""
        self.last_seq = 0
        self.rows_by_key: dict[str, LogRow] = {}

    def show(self, rows: tuple[LogRow, ...], pal: Palette) -> None:
        follow = not self.has_focus or self.cursor_row >= self.row_count - 1
        added = False
        for row in rows:
            if row.seq <= self.last_seq:
                continue
            self.last_seq = row.seq
            if self.needle and not matches(row, self.needle):
                continue
            # one line per follower order: its ack and its fills update the same line in place
            key = row.client_order_id if row.client_order_id and row.action != "operator" else str(row.seq)
            old = self.rows_by_key.get(key)
            if old is not None:
                row = replace(
                    row,
                    latency_ms=row.latency_ms if row.latency_ms is not None else old.latency_ms,
                    fill_price=row.fill_price if row.fill_price is not None else old.fill_price,
                    slippage_ticks=row.slippage_ticks if row.slippage_ticks is not None else old.slippage_ticks,
                    reason=row.reason or old.reason,
                    wall_ns=old.wall_ns,
                )
            self.rows_by_key[key] = row
            self.sync_row(key, log_cells(row, pal))
            added = True
        while self.row_count > MAX_ROWS:
            oldest = self.row_keys[0]
            self.rows_by_key.pop(oldest, None)
            self.drop_row(oldest)
        if added and follow:
            self.move_cursor(row=self.row_count - 1, animate=False)

    def refilter(self, needle: str, rows: tuple[LogRow, ...], pal: Palette) -> None:
        """A new filter: the one time the log is rebuilt."""
        self.needle = needle.strip()
        self.drop_all()
        self.rows_by_key.clear()
        self.last_seq = 0
        self.show(rows, pal)
        self.border_subtitle = f"filter: {self.needle}  (/ to change)" if self.needle else ""

    def repaint(self, pal: Palette) -> None:
        for key, row in self.rows_by_key.items():
            self.sync_row(key, log_cells(row, pal))

    @property
    def selected(self) -> LogRow | None:
        key = self.cursor_key
        return self.rows_by_key.get(key) if key else None
