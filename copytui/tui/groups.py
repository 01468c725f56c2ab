"""Follower groups on the desk (key ``g``): every group of the config with its followers and their
copy state; ``p`` pauses (or resumes) the highlighted group, ``f`` flattens it after asking. The
same actions are in the command palette per group, and in ``copytui ctl ... @GROUP``. Everything
goes through :class:`copytui.control.Operator` on the engine's loop, as the socket's commands do."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from copytui.engine import CopyState, EngineSnapshot
from copytui.tui.format import Palette, copy_state_text

GroupAction = Callable[[str, str], None]
"""``act(action, target)``: ``pause`` / ``resume`` / ``flatten`` of ``@GROUP`` or ``all``."""


def group_line(target: str, members: list[str], snap: EngineSnapshot | None, pal: Palette) -> Text:
    """``@apex  alpha, bravo  ● copying 1  ‖ PAUSED 1``: the group, its followers, how many in each state."""
    views = {v.name: v for v in snap.followers} if snap else {}
    text = Text(f"{target:<14}", style="bold")
    text.append(", ".join(members) if target != "all" else f"{len(members)} followers")
    counts: dict[str, tuple[Text, int]] = {}
    for name in members:
        v = views.get(name)
        if v is not None:
            state = copy_state_text(v.copy_state, pal, v.connection)
            seen = counts.get(state.plain)
            counts[state.plain] = (state, (seen[1] if seen else 0) + 1)
    for state, n in counts.values():
        text.append("  ")
        text.append_text(state)
        text.append(f" {n}")
    return text


def all_paused(members: list[str], snap: EngineSnapshot | None) -> bool:
    views = {v.name: v for v in snap.followers} if snap else {}
    return bool(members) and all(n in views and views[n].copy_state is CopyState.PAUSED for n in members)


class GroupScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("p", "act('pause')", "Pause/resume group"),
        Binding("f", "act('flatten')", "Flatten group"),
        Binding("escape,g,q", "close", "Close"),
    ]

    def __init__(self, groups: dict[str, list[str]], snap: EngineSnapshot | None, pal: Palette, act: GroupAction):
        super().__init__(classes="dialog-screen")
        everyone = [v.name for v in snap.followers] if snap else []
        self.targets = {f"@{g}": members for g, members in groups.items()} | {"all": everyone}
        self.snap = snap
        self.pal = pal
        self.act = act

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            title = "follower groups" if len(self.targets) > 1 else "no groups in the config: tag followers with groups"
            yield Label(title, classes="dialog-title")
            yield OptionList(
                *(Option(group_line(t, members, self.snap, self.pal), id=t) for t, members in self.targets.items()),
                id="group-list",
            )
            yield Label("p: pause / resume the group · f: flatten it (asks) · escape: close", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#group-list", OptionList).focus()

    @property
    def selected(self) -> str | None:
        ol = self.query_one("#group-list", OptionList)
        if ol.highlighted is None:
            return None
        return ol.get_option_at_index(ol.highlighted).id

    def action_act(self, action: str) -> None:
        target = self.selected
        if target is None:
            return
        if action == "pause" and all_paused(self.targets[target], self.snap):
            action = "resume"
        self.dismiss(None)
        self.act(action, target)

    def action_close(self) -> None:
        self.dismiss(None)
