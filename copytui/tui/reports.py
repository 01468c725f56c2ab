"""The reports screen: fills, slippage, latency and realised P&L from the journal, grouped, exportable as CSV."""

from __future__ import annotations

import asyncio
import csv
import time
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Label, Static
from textual.worker import Worker

from copytui.journal import REPORT_COLUMNS, report_rows
from copytui.tui.failures import report_failure
from copytui.tui.format import SLIP_LEGEND, Palette, money, signed
from copytui.tui.table import DeskTable

GROUPINGS: tuple[tuple[str, ...], ...] = (
    ("day", "follower", "symbol"),
    ("day",),
    ("follower",),
    ("symbol",),
    ("day", "follower"),
)

HEADERS = {
    "day": ("Day", 10),
    "follower": ("Follower", 9),
    "symbol": ("Sym", 4),
    "orders": ("Orders", 6),
    "rejects": ("Rej", 4),
    "fills": ("Fills", 5),
    "filled_qty": ("Qty", 5),
    "slippage_avg_ticks": ("Slip avg t", 10),
    "slippage_p95_ticks": ("p95 t", 6),
    "slippage_cash_total": ("Slip $ total", 12),
    "market_slippage_avg_ticks": ("Mkt slip t", 10),
    "latency_p50_ms": ("Lat p50", 7),
    "latency_p99_ms": ("p99", 7),
    "realised_pnl": ("Realised $", 13),
}


def write_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(REPORT_COLUMNS))
        w.writeheader()
        for row in rows:
            w.writerow({k: "" if row.get(k) is None else row[k] for k in REPORT_COLUMNS})
    return path


def _cell(key: str, value: Any, pal: Palette) -> Any:
    if key == "realised_pnl":  # as in the grid: arrow, sign and colour; unknown is a dash
        return money(value, pal)
    if value is None:
        return "-"
    if "slippage" in key:  # signed as everywhere on the desk: + is worse for the follower
        return Text(signed(float(value), 2), justify="right")
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


class ReportsScreen(Screen[None]):
    BINDINGS = [
        Binding("g", "regroup", "Group by"),
        Binding("e", "export", "Export CSV"),
        Binding("escape,R,q", "close", "Back"),
    ]

    def __init__(self, journal_path: Path, export_dir: Path) -> None:
        super().__init__()
        self.journal_path = journal_path
        self.export_dir = export_dir
        self.grouping = 0
        self.rows: list[dict[str, Any]] = []
        self.exported: Path | None = None

    def compose(self) -> ComposeResult:
        yield Label("", id="report-title")
        yield DeskTable([(k, *HEADERS[k]) for k in REPORT_COLUMNS], id="report-table")
        yield Static("", id="report-status")
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    @property
    def by(self) -> tuple[str, ...]:
        return GROUPINGS[self.grouping]

    @work(exclusive=True, group="report", exit_on_error=False)
    async def load(self) -> None:
        self.query_one("#report-title", Label).update(f"Reports by {' / '.join(self.by)} · loading…")
        self.rows = await report_rows(self.journal_path, self.by)
        table = self.query_one("#report-table", DeskTable)
        table.drop_all()
        for i, row in enumerate(self.rows):
            table.sync_row(str(i), tuple(_cell(k, row[k], self.app.palette) for k in REPORT_COLUMNS))
        table.commit()
        count = f"{len(self.rows)} row" if len(self.rows) == 1 else f"{len(self.rows)} rows"
        self.query_one("#report-title", Label).update(
            f"Reports by {' / '.join(self.by)} · {count} · {SLIP_LEGEND} · journal {self.journal_path}"
        )
        table.focus()

    def action_regroup(self) -> None:
        self.grouping = (self.grouping + 1) % len(GROUPINGS)
        self.load()

    @work(exclusive=True, group="export", exit_on_error=False)
    async def action_export(self) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = f"copytui-report-{'-'.join(self.by)}-{stamp}.csv"
        path = await asyncio.to_thread(write_csv, list(self.rows), self.export_dir / name)
        self.exported = path
        self.query_one("#report-status", Static).update(f"exported {len(self.rows)} rows to {path}")
        self.notify(f"CSV written to {path}", title="Report exported", timeout=10)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_failure(self.app, event)

    def action_close(self) -> None:
        self.dismiss(None)
