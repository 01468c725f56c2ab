"""Small questions and answers: confirm, resume how, filter, help, details."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Sparkline, Static

from copytui.engine import FollowerView, LogRow
from copytui.instruments import format_price
from copytui.tui.format import SLIP_LEGEND, UNKNOWN, clock, ms, signed, signed_positions, ticks


class ConfirmScreen(ModalScreen[bool]):
    """Yes or no. ``y`` confirms; ``n`` or ``escape`` says no. No is focused first."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, title: str, body: str, yes: str = "Yes") -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.body = body
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.body, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} [y]", id="yes", variant="error")
                yield Button("No [n]", id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class ResumeScreen(ModalScreen[bool | None]):
    """How to resume: sync to the leader now (True), wait until the leader is flat (False), or not (None)."""

    BINDINGS = [
        Binding("s", "answer('sync')", "Sync now"),
        Binding("w", "answer('wait')", "Wait for flat"),
        Binding("escape", "answer('no')", "Cancel"),
    ]

    def __init__(self, who: str, leader_position: str) -> None:
        super().__init__(classes="dialog-screen")
        self.who = who
        self.leader_position = leader_position

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Resume {self.who}", classes="dialog-title")
            yield Static(
                f"The leader holds: {self.leader_position}.\n\n"
                "[s] Sync now: send market orders so it holds what the leader holds.\n"
                "[w] Wait: copy again from the next time the leader is flat in each symbol.",
                classes="dialog-body",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Sync now [s]", id="sync", variant="warning")
                yield Button("Wait for flat [w]", id="wait", variant="primary")
                yield Button("Cancel [esc]", id="no")

    def on_mount(self) -> None:
        self.query_one("#wait", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_answer(event.button.id or "no")

    def action_answer(self, how: str) -> None:
        self.dismiss({"sync": True, "wait": False}.get(how))


class FilterScreen(ModalScreen[str | None]):
    """The log filter: words that must each match a follower, symbol or status. Empty clears it."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, current: str) -> None:
        super().__init__(classes="dialog-screen")
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Filter the order log", classes="dialog-title")
            yield Static("Follower, symbol or status (e.g. `alpha`, `ES rejected`). Empty shows all.")
            yield Input(value=self.current, placeholder="alpha ES rejected", id="filter-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss_help", "Close")]

    def __init__(self, keys: Iterable[tuple[str, str]]) -> None:
        super().__init__(classes="dialog-screen")
        self.keys = list(keys)

    def compose(self) -> ComposeResult:
        text = Text()
        for key, what in self.keys:
            text.append(f"{key:>12}  ", style="bold")
            text.append(what + "\n")
        text.append("\nctrl+p opens the command palette; escape closes any dialog.")
        with Vertical(classes="dialog wide"):
            yield Label("copytui desk · keys", classes="dialog-title")
            yield Static(text, classes="dialog-body")

    def action_dismiss_help(self) -> None:
        self.dismiss(None)


class DetailScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter,q", "close", "Close")]

    def __init__(self, title: str, body: Text, history: tuple[float, ...] = ()) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.body = body
        self.history = history

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.body, classes="dialog-body")
            if self.history:
                yield Label(f"copy latency, last {len(self.history)} orders (ms)")
                yield Sparkline(list(self.history), classes="detail-spark")

    def action_close(self) -> None:
        self.dismiss(None)


def follower_detail(v: FollowerView, rows: Iterable[LogRow]) -> Text:
    t = Text()

    def line(label: str, value: str) -> None:
        t.append(f"{label:>16}  ", style="bold")
        t.append(value + "\n")

    line("broker", f"{v.broker} ({v.connection})")
    line("copy", v.copy_state)
    line("rule", v.rule)
    if len(v.follows) > 1:
        line("follows", f"{', '.join(v.follows)}: targets the sum of their positions through its rule")
    if v.brackets:
        line(
            "brackets",
            {
                "native": "OCO kept by the broker",
                "native pairs": "a bracket's two legs sent as one OCO pair its broker keeps (legs the leader's "
                "broker announces apart: kept by copytui)",
            }.get(
                v.brackets,
                "OCO kept by copytui (the broker has none): a leg's fill cancels or shrinks the other leg at once",
            ),
        )
    if v.trailing:
        line(
            "trailing stops",
            "copied as trailing stops its broker moves"
            if v.trailing == "native"
            else "copied as stops moved each time the leader's moves (the broker has no trailing stop)",
        )
    line("position", signed_positions(v.positions))
    line("expected", signed_positions(v.expected))
    line("drift", signed_positions(v.drift) if v.drift else "none")
    line("P&L", pnl_text(v))
    if v.loss_limit is not None:
        left = "unknown" if v.loss_left is None else f"{v.loss_left:,.2f} left"
        line("loss limit", f"{v.loss_limit:,.2f} a day: {left}")
    line("orders", f"{v.orders} sent  {v.rejects} rejected  {v.fills} fills")
    line("latency", f"last {ms(v.last_latency_ms)}  p50 {ms(v.latency_p50)}  p99 {ms(v.latency_p99)} ms")
    if v.fills:
        line(
            "slippage",
            f"avg {signed(v.slippage_avg_ticks, 2)}t  p95 {signed(v.slippage_p95_ticks)}t"
            f"  avg {signed(v.slippage_avg_cash, 2)} per fill",
        )
        if v.market_slippage_avg_ticks is not None and v.market_slippage_avg_cash is not None:
            line(
                "vs market",
                f"avg {signed(v.market_slippage_avg_ticks, 2)}t  avg {signed(v.market_slippage_avg_cash, 2)} per fill"
                f"  ({v.market_fills} of {v.fills} fills had a live quote: the ask to buy, the bid to sell)",
            )
        line("", SLIP_LEGEND.split(": ", 1)[1])
    else:
        line("slippage", "- (no fills yet)")
    recent = [r for r in rows if r.follower == v.name][-8:]
    if recent:
        t.append("\nlatest\n", style="bold")
        for r in reversed(recent):
            what = r.reason if r.action == "operator" else f"{r.action} {r.side} {r.qty} {r.symbol} {r.status}"
            t.append(f"  {clock(r.wall_ns)}  {what}\n")
    return t


def pnl_text(v: FollowerView) -> str:
    """Realised and unrealised, or ``—`` when a position's average price or mark is unknown; the
    broker's own figure beside it when the broker sends one."""
    if v.pnl_known:
        text = f"realised {v.realized_pnl:+,.2f}  unrealised {v.unrealized_pnl:+,.2f}"
    else:
        text = f"realised {UNKNOWN}  unrealised {UNKNOWN}  (a position's average price or mark is unknown)"
    if v.broker_pnl is not None:
        text += f"  broker's figure {v.broker_pnl:+,.2f}"
    return text


def log_detail(r: LogRow) -> Text:
    t = Text()
    fields = [
        ("time", clock(r.wall_ns)),
        ("follower", r.follower),
        ("signal", r.signal_id),
        ("client order id", r.client_order_id or "-"),
        ("action", r.action),
        ("order", f"{r.side} {r.qty} {r.symbol}".strip() or "-"),
        ("status", r.status),
        ("copy latency", f"{ms(r.latency_ms)} ms"),
        ("fill price", format_price(r.symbol, r.fill_price) if r.fill_price is not None else "-"),
        ("slippage", f"{ticks(r.slippage_ticks)}  ({SLIP_LEGEND})" if r.slippage_ticks is not None else "-"),
        ("note", r.reason or "-"),
    ]
    for label, value in fields:
        t.append(f"{label:>16}  ", style="bold")
        t.append(value + "\n")
    return t
