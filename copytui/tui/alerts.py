"""The alert history: every alert of the journal, newest first, to scroll (key ``a``).

The alerts panel shows the latest few; this screen reads them all from the journal on a
read-only connection of its own, so it also shows alerts of earlier sessions on this journal."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from copytui.journal import JournaledAlert, JournalError, alert_history
from copytui.tui.format import Palette
from copytui.tui.panels import alert_line


class AlertHistoryScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,a,q", "close", "Close"),
        Binding("w", "toggle_info", "Warnings only"),
    ]

    def __init__(self, journal: Path, pal: Palette) -> None:
        super().__init__(classes="dialog-screen")
        self.journal = journal
        self.pal = pal
        self.alerts: list[JournaledAlert] = []
        self.warnings_only = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide history"):
            yield Label("alerts · reading the journal…", id="history-title", classes="dialog-title")
            with VerticalScroll(id="history-scroll"):
                yield Static("", id="history-body")
            yield Label("w: warnings and errors only / all · escape: close", classes="dialog-hint")

    async def on_mount(self) -> None:
        try:
            self.alerts = await alert_history(self.journal)
        except JournalError as exc:
            self.query_one("#history-title", Label).update(f"alerts · {exc}")
            return
        self._show()
        self.query_one("#history-scroll").focus()

    def _show(self) -> None:
        shown = [a for a in self.alerts if not (self.warnings_only and a.level == "info")]
        text = Text()
        for a in shown:
            text.append_text(alert_line(a, self.pal))
            text.append("\n")
        if not shown:
            text.append("no alerts" + (" above info" if self.alerts else ""), style=self.pal.dim)
        which = "warnings and errors" if self.warnings_only else "all"
        self.query_one("#history-title", Label).update(f"alerts · {len(shown)} in the journal ({which}), newest first")
        self.query_one("#history-body", Static).update(text)

    def action_toggle_info(self) -> None:
        self.warnings_only = not self.warnings_only
        self._show()

    def action_close(self) -> None:
        self.dismiss(None)
