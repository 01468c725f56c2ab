"""The small panels: leader, slippage and latency, reconciliation and alerts."""

from __future__ import annotations

import time
from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline, Static

from copytui.engine import Alert, EngineSnapshot, FollowerView
from copytui.engine.market import MarketView
from copytui.instruments import format_price
from copytui.journal import JournaledAlert
from copytui.tui.format import (
    SLIP_LEGEND,
    Palette,
    clock,
    connection_text,
    money,
    ms,
    signed,
    signed_positions,
    slip_money,
)
from copytui.tui.table import DeskTable


class Panel(Static):
    """A text panel of a fixed size (set in the stylesheet): redrawn only when its text changed."""

    _shown: Text | None = None

    def show_text(self, text: Text) -> None:
        if self._shown is None or text != self._shown or text.style != self._shown.style:
            self._shown = text
            self.update(text, layout=False)


class LeaderPanel(Panel):
    """The leader's account: connection, position per symbol, P&L, latest events."""

    def show(self, snap: EngineSnapshot, pal: Palette) -> None:
        leaders = snap.leaders or (snap.leader,)
        text = Text()
        for i, lv in enumerate(leaders):
            if i:
                text.append("\n")
            text.append_text(
                Text.assemble(
                    (lv.name, "bold"),
                    f" {lv.broker} ",
                    connection_text(lv.connection, pal),
                    "  pos ",
                    (signed_positions(lv.positions), "bold"),
                    "  P&L ",
                    money(lv.unrealized_pnl + lv.realized_pnl, pal),
                )
            )
            if len(leaders) > 1:  # who copies whom
                text.append(f"\n  -> {followers_text(lv.followers)}", style=pal.dim)
            if i == 0 and len(leaders) == 1:
                text.append(f"  signals {snap.signals}")
        day = [v.session_pnl for v in snap.followers]
        if len(leaders) > 1:
            text.append(f"\n  signals {snap.signals}")
        text.append("\n  followers today ", style=pal.dim)
        text.append_text(money(sum(d for d in day if d is not None) if all(d is not None for d in day) else None, pal))
        near = [
            v for v in snap.followers if v.loss_left is not None and v.loss_limit and v.loss_left < 0.25 * v.loss_limit
        ]
        if near:
            text.append("  near loss limit: " + ", ".join(f"{v.name} {v.loss_left:,.0f}" for v in near), style=pal.warn)
        if snap.market is not None:
            text.append("\n  ")
            text.append_text(market_text(snap.market, pal))
        for line in reversed(leaders[0].events[-max(1, 6 - 3 * (len(leaders) - 1)) :]):
            text.append("\n  " + line, style=pal.dim)
        self.show_text(text)


FOLLOWERS_NAMED = 4
"""How many followers a leader's line names; past that it gives the count and the first names, so a
narrow terminal cuts names, never how many follow."""


def followers_text(names: tuple[str, ...] | list[str]) -> str:
    if not names:
        return "no follower"
    if len(names) <= FOLLOWERS_NAMED:
        return ", ".join(names)
    shown = FOLLOWERS_NAMED - 1
    return f"{len(names)} followers: {', '.join(names[:shown])} +{len(names) - shown} more"


def market_text(m: MarketView, pal: Palette) -> Text:
    """The market-data source and the leader's contracts' quotes with their age; a quote that is not
    live says so instead of showing its price as the market."""
    text = Text.assemble(("market ", pal.dim), connection_text(m.connection, pal))
    for q in m.quotes:
        text.append(f"  {q.symbol} ", style="bold")
        if q.note:
            text.append("stale" if q.bid is not None or q.ask is not None else "no quote", style=f"bold {pal.warn}")
        else:
            bid = format_price(q.symbol, q.bid) if q.bid is not None else "-"
            ask = format_price(q.symbol, q.ask) if q.ask is not None else "-"
            age = f" {q.age_ms / 1000:.1f}s" if q.age_ms is not None else ""
            text.append(f"{bid} × {ask}")
            text.append(age, style=pal.dim)
    return text


def alert_count(alerts: Iterable[Alert]) -> int:
    """Alerts a trader must look at: warnings and worse. Info lines ("drift cleared") are news, not alerts."""
    return sum(a.level != "info" for a in alerts)


def alert_line(a: Alert | JournaledAlert, pal: Palette) -> Text:
    if a.level == "info":
        style = pal.dim
    else:
        style = f"bold {pal.bad}" if a.level in ("error", "critical") else pal.warn
    return Text.assemble(
        (f"{clock(a.wall_ns)} ", pal.dim),
        (f"{a.level.upper():<7}", style),
        (f" {a.follower} ", "bold"),
        f"{a.kind}: {a.message}",
    )


class AlertsPanel(Panel):
    """Reconciliation summary and the latest alerts, newest first."""

    def show(self, snap: EngineSnapshot, pal: Palette, now_ns: int | None = None) -> None:
        drifting = [f for f in snap.followers if f.drift]
        if snap.last_reconcile_wall_ns:
            age = ((now_ns or time.time_ns()) - snap.last_reconcile_wall_ns) / 1e9
            when = f"reconciled {clock(snap.last_reconcile_wall_ns)} ({age:.0f}s ago)"
        else:
            when = "not reconciled yet"
        head = Text.assemble((when, "bold"), "  ")
        if drifting:
            head.append(
                "≠ drift: " + ", ".join(f"{f.name} {signed_positions(f.drift)}" for f in drifting),
                style=f"bold {pal.warn}",
            )
        else:
            head.append("✓ no drift", style=pal.up)
        head.append(f"  alerts {alert_count(snap.alerts)}  dup dropped {snap.duplicates_dropped}", style=pal.dim)
        for a in reversed(snap.alerts[-8:]):
            head.append("\n")
            head.append_text(alert_line(a, pal))
        self.show_text(head)


SLIP_COLUMNS = (
    ("name", "Follower", 8),
    ("avg", "Slip t", 6),
    ("p95", "p95 t", 5),
    ("cash", "$/fill", 9),
    ("p50", "Lat p50", 7),
    ("p99", "p99 ms", 6),
)
# with a market-data source: slippage against the market of the leader's moment instead of the p95
SLIP_MARKET_COLUMNS = tuple(("mkt", "Mkt t", 5) if key == "p95" else (key, label, w) for key, label, w in SLIP_COLUMNS)


def slip_cells(v: FollowerView, pal: Palette, columns: tuple[str, ...] = ()) -> tuple[object, ...]:
    have = v.fills > 0
    mkt = v.market_slippage_avg_ticks
    cells: dict[str, object] = {
        "name": v.name,
        "avg": Text(signed(v.slippage_avg_ticks, 2) if have else "-", justify="right"),
        "p95": Text(signed(v.slippage_p95_ticks) if have else "-", justify="right"),
        "mkt": Text(signed(mkt, 1) if mkt is not None else "-", justify="right"),
        "cash": slip_money(v.slippage_avg_cash, pal) if have else Text("-", justify="right"),
        "p50": Text(ms(v.latency_p50) if v.orders else "-", justify="right"),
        "p99": Text(ms(v.latency_p99) if v.orders else "-", justify="right"),
    }
    return tuple(cells[key] for key in (columns or tuple(k for k, _, _ in SLIP_COLUMNS)))


class SlipTable(DeskTable, can_focus=False):
    """Rows hold the followers' views; cells are made again only when a view changed. Not focusable:
    ``tab`` moves between the grid and the log only; the grid's cursor picks the follower shown here."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(SLIP_COLUMNS, **kwargs)  # type: ignore[arg-type]

    def row_cells(self, data: FollowerView) -> tuple[object, ...]:
        return slip_cells(data, self.palette or Palette(), self.column_keys)


class SlippagePanel(Vertical):
    """Per follower slippage (ticks and currency) and copy latency, with the selected one's sparkline."""

    _label = ""

    def compose(self) -> ComposeResult:
        yield Label(SLIP_LEGEND, id="slip-legend")
        yield SlipTable(id="slip-table")
        yield Label("latency ms", id="spark-label")
        yield Sparkline([], id="spark")  # the selected follower's recent copy latencies

    def show(
        self, followers: tuple[FollowerView, ...], selected: str | None, pal: Palette, market: bool = False
    ) -> None:
        table = self.query_one("#slip-table", SlipTable)
        table.set_palette(pal)
        table.set_columns(SLIP_MARKET_COLUMNS if market else SLIP_COLUMNS)
        for v in followers:
            table.sync_row(v.name, v)
        table.commit()
        view = next((v for v in followers if v.name == selected), followers[0] if followers else None)
        if view is None:
            return
        spark = self.query_one("#spark", Sparkline)
        data = list(view.latency_history)
        if spark.data != data:
            spark.data = data
        label = f"latency ms · {view.name} · last {len(data)}"
        if data:
            label += f" · max {max(data):.2f}"
        if label != self._label:
            self._label = label
            self.query_one("#spark-label", Label).update(label, layout=False)  # a fixed width: no layout
