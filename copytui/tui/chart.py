"""The session chart (key ``c``): one follower's copy latency and slippage over the trading day.

Two bar charts drawn with block characters, one column per time bucket, read from the journal
(:mod:`copytui.journal.series`): latency p50 as a solid bar with the p99 above it in the dim colour,
and slippage per fill around a zero line (up is worse for the follower, as everywhere on the desk).
``←``/``→`` move between followers and "all followers"; the chart re-reads the journal every few
seconds while it is open.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from copytui.journal import JournalError
from copytui.journal.series import Bucket, SessionSeries, session_series
from copytui.tui.format import Palette, clock

EIGHTHS = " ▁▂▃▄▅▆▇█"
AXIS = 8
"""Columns of the y axis labels."""
REREAD_S = 5.0


def nice_top(value: float) -> float:
    """The y axis' top: ``value`` rounded up to 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


def _cell(height_eighths: int, row_from_bottom: int) -> str:
    """The block for one cell of a bar ``height_eighths`` high, ``row_from_bottom`` rows up."""
    filled = height_eighths - row_from_bottom * 8
    return EIGHTHS[max(0, min(8, filled))]


def latency_chart(buckets: Sequence[Bucket], height: int, pal: Palette) -> Text:
    """p50 solid, p99 dim above it; an empty bucket is blank; the top label is the scale."""
    top = nice_top(max((b.latency_p99_ms or 0.0) for b in buckets) if buckets else 0.0)
    p50 = [round((b.latency_p50_ms or 0.0) / top * height * 8) for b in buckets]
    p99 = [round((b.latency_p99_ms or 0.0) / top * height * 8) for b in buckets]
    text = Text()
    for row in range(height - 1, -1, -1):
        label = f"{top:g}" if row == height - 1 else ("0" if row == 0 else "")
        text.append(f"{label:>{AXIS - 1}}┤", style=pal.dim)
        for lo, hi in zip(p50, p99, strict=True):
            if lo - row * 8 > 0:  # the p50 bar reaches into this cell
                text.append(_cell(lo, row), style=pal.up)
            else:
                text.append(_cell(hi, row), style=pal.dim)
        text.append("\n")
    return text


def slippage_chart(buckets: Sequence[Bucket], half: int, pal: Palette) -> Text:
    """Bars up from the zero line for slippage that cost the follower, down for slippage in its
    favour, ``half`` rows each way; the labels are the scale in ticks."""
    worst = max((abs(b.slippage_avg_ticks or 0.0) for b in buckets), default=0.0)
    top = nice_top(worst)
    scaled = [round((b.slippage_avg_ticks or 0.0) / top * half * 8) for b in buckets]
    text = Text()
    for row in range(half - 1, -1, -1):  # above the line: positive, worse
        label = f"+{top:g}t" if row == half - 1 else ""
        text.append(f"{label:>{AXIS - 1}}┤", style=pal.dim)
        for s in scaled:
            text.append(_cell(s, row) if s > 0 else " ", style=pal.bad)
        text.append("\n")
    text.append(f"{'0':>{AXIS - 1}}┼", style=pal.dim)
    text.append("─" * len(buckets), style=pal.dim)
    text.append("\n")
    for row in range(half):  # below the line: negative, better; whole and half cells only
        label = f"-{top:g}t" if row == half - 1 else ""
        text.append(f"{label:>{AXIS - 1}}┤", style=pal.dim)
        for s in scaled:
            depth = -s - row * 8  # eighths of this cell the bar covers, from its top
            text.append("█" if depth >= 8 else "▀" if depth >= 4 else " ", style=pal.up)
        text.append("\n")
    return text


def time_axis(series: SessionSeries, width: int) -> str:
    """The first bucket's clock time at the left, the last one's at the right."""
    if not series.buckets:
        return ""
    left, right = clock(series.buckets[0].start_ns), clock(series.buckets[-1].start_ns)
    gap = max(1, width - len(left) - len(right))
    return " " * AXIS + left + " " * gap + right


def render_series(series: SessionSeries, width: int, pal: Palette, height: int = 8) -> Text:
    """Both charts over the last ``width`` buckets, with their legends and the time axis."""
    buckets = series.buckets[-width:]
    shown = SessionSeries(series.follower, series.bucket_s, buckets)
    orders = sum(b.orders for b in buckets)
    fills = sum(b.fills for b in buckets)
    out = Text()
    out.append(f"copy latency ms per {series.bucket_s}s", style="bold")
    out.append("  █ p50", style=pal.up)
    out.append("  █ p99", style=pal.dim)
    out.append(f"  · {orders} orders\n")
    out.append_text(latency_chart(buckets, height, pal))
    out.append(time_axis(shown, len(buckets)) + "\n\n", style=pal.dim)
    out.append(f"slippage ticks per fill, per {series.bucket_s}s", style="bold")
    out.append("  + worse for the follower", style=pal.bad)
    out.append("  − better", style=pal.up)
    out.append(f"  · {fills} fills\n")
    out.append_text(slippage_chart(buckets, max(2, height // 2), pal))
    out.append(time_axis(shown, len(buckets)), style=pal.dim)
    return out


class ChartScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,c,q", "close", "Close"),
        Binding("left,h", "move(-1)", "Previous follower"),
        Binding("right,l", "move(1)", "Next follower"),
    ]

    def __init__(self, journal: Path, followers: Sequence[str], selected: str | None, pal: Palette) -> None:
        super().__init__(classes="dialog-screen")
        self.journal = journal
        self.choices: list[str | None] = [*followers, None]  # None: every follower together
        self.index = self.choices.index(selected) if selected in self.choices else 0
        self.pal = pal
        self.series: SessionSeries | None = None

    @property
    def follower(self) -> str | None:
        return self.choices[self.index]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide chart"):
            yield Label("session chart · reading the journal…", id="chart-title", classes="dialog-title")
            yield Static("", id="chart-body")
            yield Label("← →: follower / all · escape: close", classes="dialog-hint")

    async def on_mount(self) -> None:
        await self.reread()
        self.set_interval(REREAD_S, self.reread, name="chart-reread")

    def chart_width(self) -> int:
        """Bars that fit beside the axis: the dialog is 95% of the screen, less its border and padding
        (read from the screen, so the first read, before any layout, already has the right width)."""
        return max(10, int(self.app.size.width * 0.95) - 6 - AXIS - 1)

    async def reread(self) -> None:
        who = self.follower
        try:
            series = await session_series(self.journal, who, width=self.chart_width())
        except JournalError as exc:
            self.query_one("#chart-title", Label).update(f"session chart · {exc}")
            return
        if who != self.follower:  # moved on while reading
            return
        self.series = series
        name = who or "all followers"
        self.query_one("#chart-title", Label).update(f"session chart · {name} · today")
        body = (
            render_series(series, self.chart_width(), self.pal)
            if series.buckets
            else Text(f"nothing copied to {name} today", style=self.pal.dim)
        )
        self.query_one("#chart-body", Static).update(body)

    async def action_move(self, step: int) -> None:
        self.index = (self.index + step) % len(self.choices)
        await self.reread()

    def action_close(self) -> None:
        self.dismiss(None)
