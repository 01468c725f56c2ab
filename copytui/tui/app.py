"""CopyDeskApp: the composition root of the desk.

The engine never waits on the desk: it runs on a thread and event loop of its own
(``EngineThread``), and every engine call from here goes through that bridge. The app reads the
snapshot the bridge publishes on a timer (at most ``REFRESH_HZ`` times a second, redrawing only
when a new one arrived) and updates its tables cell by cell. Engine calls that take a while
(flatten, reconcile) run in exclusive workers; every worker failure becomes a toast in
``on_worker_state_changed``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.worker import Worker

from copytui.control import groups_of
from copytui.engine import CopyState, EngineSnapshot, FollowerView
from copytui.journal import matching_orders
from copytui.runtime import Runtime
from copytui.tui.alerts import AlertHistoryScreen
from copytui.tui.bridge import EngineThread
from copytui.tui.chart import ChartScreen
from copytui.tui.failures import report_failure
from copytui.tui.footer import DeskFooter
from copytui.tui.format import Palette, leader_positions, signed_positions
from copytui.tui.grid import AccountGrid
from copytui.tui.groups import GroupScreen
from copytui.tui.modals import (
    ConfirmScreen,
    DetailScreen,
    FilterScreen,
    HelpScreen,
    ResumeScreen,
    follower_detail,
    log_detail,
)
from copytui.tui.orderlog import OrderLog, journal_row
from copytui.tui.panels import AlertsPanel, LeaderPanel, SlippagePanel
from copytui.tui.reports import ReportsScreen
from copytui.tui.state import remember_theme, start_theme, state_path
from copytui.tui.table import DeskTable
from themes import STYLESHEET, THEMES, next_theme

log = logging.getLogger("copytui.tui")

REFRESH_HZ = 10  # a trader reads at most a few updates a second; the copy path keeps the rest
STATS_EVERY = 5  # redraws: slippage and latency statistics move slowly, twice a second is plenty

# Keys not in BINDINGS (they belong to the tables) but listed in the help screen.
TABLE_KEYS = (
    ("↑ ↓  j k", "move between followers / log rows"),
    ("enter", "details of the follower or log row under the cursor"),
    ("tab", "switch between the account grid and the order log"),
)


def free_name(folder: Path, stem: str, suffix: str = ".svg") -> str:
    """``stem.svg``, or ``stem-2.svg``... when a file of that name is already in ``folder``."""
    name, n = stem + suffix, 1
    while (folder / name).exists():
        n += 1
        name = f"{stem}-{n}{suffix}"
    return name


def key_label(key: str) -> str:
    return {"question_mark": "?", "slash": "/"}.get(key, key)


class CopyDeskApp(App[None]):
    CSS_PATH = str(STYLESHEET)
    TITLE = "copytui"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    # the key bar shows them in this order, as many as fit: the trading keys first; `?` lists them all
    BINDINGS = [
        Binding("p", "pause", "Pause", tooltip="Pause or resume the selected follower"),
        Binding("P", "pause_all", "All", tooltip="Pause or resume every follower"),
        Binding("f", "flatten", "Flatten", tooltip="Flatten the selected follower (asks first)"),
        Binding("F", "flatten_all", "KILL", tooltip="Flatten every follower: the kill switch (asks first)"),
        Binding("question_mark", "help", "Help", tooltip="All keys"),
        Binding("q", "quit", "Quit", tooltip="Quit (asks first when positions are open)"),
        Binding("g", "groups", "Groups", tooltip="Pause, resume or flatten a group of followers"),
        Binding("a", "alerts", "Alerts", tooltip="Every alert in the journal, newest first, to scroll"),
        Binding("r", "reconcile", "Reconcile", tooltip="Reconcile every follower with its broker now"),
        Binding("slash", "filter", "Filter", tooltip="Filter the order log by follower, symbol or status"),
        Binding("R", "reports", "Reports", tooltip="Fills, slippage, latency, realised P&L by day, follower, symbol"),
        Binding("c", "chart", "Chart", tooltip="Chart of the selected follower's latency and slippage today"),
        Binding("t", "next_theme", "Theme", tooltip="Next theme"),
        Binding("ctrl+q", "quit_now", "Quit now", tooltip="Quit at once, without asking", show=False, priority=True),
    ]
    # keys that work over a dialog or the reports screen too
    ANYWHERE = frozenset({"quit_now"})

    def __init__(
        self,
        runtime: Runtime,
        *,
        start: bool = True,
        journal_path: Path | None = None,
        state_file: Path | None = None,
        duration: float | None = None,
        bridge: EngineThread | None = None,
    ) -> None:
        super().__init__()
        self.runtime = runtime
        self.engine = runtime.engine  # touched only through the bridge, on the engine's thread
        self.bridge = bridge or EngineThread(runtime)
        self.start_runtime = start
        self.journal_path = Path(journal_path or runtime.journal.path)
        self.state_file = state_file or state_path()
        self.duration = duration
        self.snap: EngineSnapshot | None = None
        self._redraws = 0
        self._running = False
        self._stopped = False
        for theme in THEMES:
            self.register_theme(theme)
        theme, self._theme_warning = start_theme(runtime.config.theme, self.state_file)
        self.config_theme = runtime.config.theme if self._theme_warning is None else theme
        self.theme = theme
        self.palette = self._make_palette()

    # ------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        with Horizontal(id="top"):
            yield LeaderPanel(id="leader")
            yield AlertsPanel(id="alerts")
        yield AccountGrid(id="grid")
        with Horizontal(id="bottom"):
            yield OrderLog(id="log")
            yield SlippagePanel(id="stats")
        yield DeskFooter()

    def on_resize(self) -> None:
        # below 160 columns the key bar drops its padding, so more keys fit (all of them from 120 on)
        self.query_one(DeskFooter).compact = self.size.width < 160

    def on_mount(self) -> None:
        self._panels = (
            self.query_one("#leader", LeaderPanel),
            self.query_one("#alerts", AlertsPanel),
            self.query_one("#grid", AccountGrid),
            self.query_one("#log", OrderLog),
            self.query_one("#stats", SlippagePanel),
        )
        self.query_one("#leader").border_title = "leader"
        self.query_one("#alerts").border_title = "reconciliation · alerts"
        self.query_one("#grid").border_title = "followers"
        self.query_one("#log").border_title = "order log"
        self.query_one("#stats").border_title = "slippage · latency"
        self.theme_changed_signal.subscribe(self, self._on_theme_changed)
        if self._theme_warning:
            self.notify(self._theme_warning, severity="warning")
        self.bridge.open()
        self.show_snapshot(self.bridge.snapshot().result())  # the first frame has every follower's row
        self.query_one("#grid", AccountGrid).focus()
        self.set_interval(1 / REFRESH_HZ, self.poll, name="desk-refresh")
        if self.start_runtime:
            self.run_engine()
        if self.duration is not None:
            self.set_timer(self.duration, self.shutdown, name="desk-duration")

    # ------------------------------------------------------------ runtime
    @work(group="engine", exit_on_error=False, name="engine")
    async def run_engine(self) -> None:
        await asyncio.wrap_future(self.bridge.start())
        self._running = True

    async def stop_runtime(self) -> None:
        """Stop the runtime once (the demo's leader goes flat and the followers settle first),
        then the engine's thread."""
        if self._stopped:
            return
        self._stopped = True
        self.workers.cancel_group(self, "engine")
        await asyncio.to_thread(self.bridge.stop)

    async def on_unmount(self) -> None:
        await self.stop_runtime()  # however the app ends, the engine's thread does not outlive it

    @work(exclusive=True, group="shutdown", exit_on_error=False)
    async def shutdown(self) -> None:
        self.notify("stopping: followers settling…", timeout=30)
        await self.stop_runtime()
        self.exit()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if report_failure(self, event) and event.worker.group == "shutdown":
            self.exit(return_code=1)

    # ------------------------------------------------------------ refresh
    def poll(self) -> None:
        """Redraw when the bridge published a new snapshot since the last frame."""
        snap = self.bridge.latest
        if snap is not None and snap is not self.snap:
            self._redraws += 1
            self.show_snapshot(snap, stats=self._redraws % STATS_EVERY == 0)

    def show_snapshot(self, snap: EngineSnapshot, stats: bool = True) -> None:
        self.snap = snap
        self.render_snapshot(snap, stats)

    def render_snapshot(self, snap: EngineSnapshot, stats: bool = True) -> None:
        leader, alerts, grid, log_table, stats_panel = self._panels
        if not grid.is_attached:  # the desk is closing
            return
        pal = self.palette
        with self.batch_update():
            leader.show(snap, pal)
            alerts.show(snap, pal)
            grid.show(snap.followers, pal, reconciled=snap.last_reconcile_wall_ns > 0)
            log_table.show(snap.log, pal)
            if stats:
                stats_panel.show(snap.followers, grid.cursor_key, pal, snap.market is not None)

    def on_desk_table_row_highlighted(self, event: DeskTable.RowHighlighted) -> None:
        if event.table.id == "grid" and self.snap is not None:
            self.query_one("#stats", SlippagePanel).show(
                self.snap.followers, event.row_key, self.palette, self.snap.market is not None
            )

    # ------------------------------------------------------------ themes
    def _make_palette(self) -> Palette:
        v = self.current_theme.variables
        t = self.current_theme
        return Palette(
            up=v.get("desk-up", t.success or "green"),
            down=v.get("desk-down", t.error or "red"),
            warn=v.get("desk-warn", t.warning or "yellow"),
            bad=v.get("desk-bad", t.error or "red"),
            dim=t.secondary or "grey50",
        )

    def _on_theme_changed(self, _theme: object) -> None:
        self.palette = self._make_palette()
        if self.snap is not None:
            self.render_snapshot(self.snap)  # the tables see another palette and make their cells again

    def action_next_theme(self) -> None:
        self.theme = next_theme(self.theme)
        remember_theme(self.theme, self.config_theme, self.state_file)
        self.notify(f"theme {self.theme}", timeout=2)

    # ------------------------------------------------------------ helpers
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # trading keys act on the desk only, never behind a dialog or the reports screen
        if action in {b.action for b in self.BINDINGS} - self.ANYWHERE and len(self.screen_stack) > 1:
            return False
        return True

    def selected_follower(self) -> str | None:
        name = self.query_one("#grid", AccountGrid).cursor_key
        if name is None:
            self.notify("no follower selected", severity="warning")
        return name

    async def on_engine(self, fn: Callable[..., object], *args: object) -> None:
        """Run an engine method on the engine's thread and wait for it."""
        await self.bridge.ask(fn, *args)

    async def refresh_now(self) -> EngineSnapshot:
        """A snapshot taken now, drawn now: what the trader just did shows at once."""
        snap = await asyncio.wrap_future(self.bridge.snapshot())
        if self.is_running:
            self.show_snapshot(snap)
        return snap

    async def _view(self, name: str) -> FollowerView | None:
        snap = await self.refresh_now()
        return next((v for v in snap.followers if v.name == name), None)

    # ------------------------------------------------------------ actions
    async def action_pause(self) -> None:
        name = self.selected_follower()
        if name is None:
            return
        view = await self._view(name)
        if view is not None and view.copy_state is CopyState.PAUSED:
            self.ask_resume([name], self.snap)
        else:
            await self.on_engine(self.engine.pause, name)
            self.notify(f"{name} paused: the leader's next trades are not copied to it", timeout=4)
            await self.refresh_now()

    async def action_pause_all(self) -> None:
        snap = await self.refresh_now()
        active = [v.name for v in snap.followers if v.copy_state is not CopyState.PAUSED]
        if active:

            def pause_all() -> None:
                for name in active:
                    self.engine.pause(name)

            await self.on_engine(pause_all)
            self.notify(f"paused all followers ({len(active)})", timeout=4)
            await self.refresh_now()
        else:
            self.ask_resume([v.name for v in snap.followers], snap)

    def ask_resume(self, names: list[str], snap: EngineSnapshot | None) -> None:
        who = names[0] if len(names) == 1 else f"all {len(names)} followers"

        async def answer(sync: bool | None) -> None:
            if sync is None:
                return

            def resume_all() -> None:
                for name in names:
                    self.engine.resume(name, sync=sync)

            await self.on_engine(resume_all)
            how = "synced to the leader" if sync else "waiting for the leader to be flat"
            self.notify(f"resumed {who}: {how}", timeout=4)
            await self.refresh_now()

        leader = leader_positions(snap)
        self.push_screen(ResumeScreen(who, leader), answer)

    async def action_flatten(self) -> None:
        name = self.selected_follower()
        if name is None:
            return
        view = await self._view(name)
        held = signed_positions(view.positions) if view else "?"

        def answer(yes: bool | None) -> None:
            if yes:
                self.flatten_follower(name)

        self.push_screen(
            ConfirmScreen(
                f"Flatten {name}?",
                f"{name} holds {held}.\nCancel its working orders, close its positions at the broker "
                "and leave it paused, so the next signal does not reopen it.",
                yes="Flatten",
            ),
            answer,
        )

    def action_flatten_all(self) -> None:
        def answer(yes: bool | None) -> None:
            if yes:
                self.flatten_everything()

        self.push_screen(
            ConfirmScreen(
                "KILL SWITCH: flatten every follower?",
                "Cancel every follower's working orders, close all follower positions at their brokers "
                "and pause every follower. The leader's account is not touched.",
                yes="Flatten all",
            ),
            answer,
        )

    @work(exclusive=True, group="flatten", exit_on_error=False, name="flatten")
    async def flatten_follower(self, name: str) -> None:
        self.notify(f"flattening {name}…", timeout=3)
        await self.bridge.ask_async(self.engine.flatten, name)
        await self.refresh_now()
        self.notify(f"{name} is flat and paused", timeout=5)

    @work(exclusive=True, group="flatten", exit_on_error=False, name="flatten all")
    async def flatten_everything(self) -> None:
        self.notify("flattening every follower…", timeout=3)
        await self.bridge.ask_async(self.engine.flatten_all)
        await self.refresh_now()
        self.notify("every follower is flat and paused", timeout=8)

    def action_reconcile(self) -> None:
        self.reconcile()

    @work(exclusive=True, group="reconcile", exit_on_error=False, name="reconcile")
    async def reconcile(self) -> None:
        await self.bridge.ask_async(self.engine.reconcile_now)
        snap = await self.refresh_now()
        drifting = [v.name for v in snap.followers if v.drift]
        self.notify("reconciled: " + (f"drift at {', '.join(drifting)}" if drifting else "no drift"), timeout=4)

    def action_filter(self) -> None:
        def answer(needle: str | None) -> None:
            if needle is not None:
                self.filter_log(needle)

        self.push_screen(FilterScreen(self.query_one("#log", OrderLog).needle), answer)

    @work(exclusive=True, group="filter", exit_on_error=False, name="filter")
    async def filter_log(self, needle: str) -> None:
        """Every order in the journal that matches, read on the journal's read connection, then this
        session's rows on top (they are newer than what the journal has committed)."""
        words = needle.split()
        found = await matching_orders(self.journal_path, words) if words else []
        self.query_one("#log", OrderLog).refilter(
            needle, self.snap.log if self.snap else (), self.palette, [journal_row(r) for r in found]
        )

    async def on_desk_table_row_selected(self, event: DeskTable.RowSelected) -> None:
        await self.show_details(event.table.id)

    async def action_details(self) -> None:
        focused = self.focused
        await self.show_details(focused.id if focused is not None else "grid")

    async def show_details(self, table_id: str | None) -> None:
        if table_id == "log":
            row = self.query_one("#log", OrderLog).selected
            if row is not None:
                self.push_screen(DetailScreen(f"order log · {row.follower}", log_detail(row)))
            return
        if table_id not in ("grid", "slip-table"):
            return
        name = self.query_one(f"#{table_id}", DeskTable).cursor_key
        snap = await self.refresh_now()
        view = next((v for v in snap.followers if v.name == name), None)
        if view is not None:
            self.push_screen(
                DetailScreen(f"follower {view.name}", follower_detail(view, snap.log), view.latency_history)
            )

    def action_reports(self) -> None:
        self.push_screen(ReportsScreen(self.journal_path, self.journal_path.parent / "reports"))

    def action_alerts(self) -> None:
        self.push_screen(AlertHistoryScreen(self.journal_path, self.palette))

    # ------------------------------------------------------------ groups
    def action_groups(self) -> None:
        groups = groups_of(self.runtime.config.followers)
        self.push_screen(GroupScreen(groups, self.snap, self.palette, self.act_on_group))

    def act_on_group(self, action: str, target: str) -> None:
        """Pause, resume (asks how) or flatten (asks first) ``@GROUP`` or ``all``, through the operator."""
        operator = self.runtime.operator
        if operator is None:
            self.notify("the engine is still starting", severity="warning")
            return
        if action == "pause":
            self.run_group(operator.pause, target)
        elif action == "resume":

            def answer(sync: bool | None) -> None:
                if sync is not None:
                    self.run_group(operator.resume, target, sync)

            leader = leader_positions(self.snap)
            self.push_screen(ResumeScreen(target, leader), answer)
        elif action == "flatten":
            members = operator.targets(target)

            def confirm(yes: bool | None) -> None:
                if yes:
                    self.flatten_group(target)

            self.push_screen(
                ConfirmScreen(
                    f"Flatten {target}?",
                    f"{', '.join(members)}: cancel their working orders, close their positions at their brokers "
                    "and leave them paused.",
                    yes="Flatten",
                ),
                confirm,
            )

    @work(group="groups", exit_on_error=False, name="group")
    async def run_group(self, fn: Callable[..., str], *args: object) -> None:
        message = await self.bridge.ask(fn, *args)
        self.notify(message, timeout=5)
        await self.refresh_now()

    @work(exclusive=True, group="flatten", exit_on_error=False, name="flatten group")
    async def flatten_group(self, target: str) -> None:
        operator = self.runtime.operator
        assert operator is not None
        self.notify(f"flattening {target}…", timeout=3)
        message = await self.bridge.ask_async(operator.flatten, target)
        await self.refresh_now()
        self.notify(message, timeout=8)

    def action_chart(self) -> None:
        names = [v.name for v in self.snap.followers] if self.snap else []
        selected = self.query_one("#grid", AccountGrid).cursor_key
        self.push_screen(ChartScreen(self.journal_path, names, selected, self.palette))

    def action_help(self) -> None:
        keys = [*TABLE_KEYS]
        keys += [(key_label(b.key), b.tooltip) for b in self.BINDINGS]
        self.push_screen(HelpScreen(keys))

    def action_quit_now(self) -> None:
        """``ctrl+q``: stop the engine and quit without asking, from any screen."""
        self.shutdown()

    async def action_quit(self) -> None:
        snap = await self.refresh_now()
        open_at = [lv.name for lv in snap.leaders or (snap.leader,) if lv.positions]
        open_at += [v.name for v in snap.followers if v.positions]
        if not open_at:
            self.shutdown()
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.shutdown()

        self.push_screen(
            ConfirmScreen(
                "Quit with open positions?",
                f"Positions are open at: {', '.join(open_at)}.\nQuitting stops the copying; "
                + (
                    "the demo's paper leader goes flat and the followers follow."
                    if self.runtime.trader is not None
                    else "open positions stay at the brokers."
                ),
                yes="Quit",
            ),
            answer,
        )

    # ------------------------------------------------------------ screenshot
    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """The palette's Screenshot (and ``action_screenshot``): an SVG of the screen written next to the
        journal, not to a Downloads folder that may not exist, and a toast with its full path or why not."""
        folder = Path(path).expanduser() if path else self.journal_path.expanduser().resolve().parent
        stem = "copytui-screenshot-" + time.strftime(time_format or "%Y-%m-%d_%H-%M-%S")
        target = folder / (filename or free_name(folder, stem))
        try:
            target.write_text(self.export_screenshot(), encoding="utf-8")
        except OSError as exc:
            why = exc.strerror or str(exc)
            self.notify(f"not saved to {target}: {why}", title="Screenshot", severity="error", timeout=15, markup=False)
            return None
        self.notify(f"saved to {target}", title="Screenshot", timeout=10, markup=False)
        return str(target)

    # ------------------------------------------------------------ command palette
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for cmd in super().get_system_commands(screen):
            if cmd.title not in ("Theme", "Quit"):
                yield cmd
        if screen is not self.screen_stack[0]:
            return  # invoked over a dialog or the reports screen: no trading commands
        for group in groups_of(self.runtime.config.followers):
            for action, verb in (("pause", "Pause"), ("resume", "Resume"), ("flatten", "Flatten")):
                yield SystemCommand(
                    f"{verb} group @{group}",
                    f"{verb} every follower tagged {group}" + (" (asks first)" if action == "flatten" else ""),
                    lambda action=action, group=group: self.act_on_group(action, f"@{group}"),
                )
        for b in self.BINDINGS:
            if isinstance(b, Binding):
                # the method itself: check_action would refuse while the palette is still on the stack
                action = getattr(self, f"action_{b.action}")
                yield SystemCommand(f"{b.tooltip} · key {key_label(b.key)}", b.description, action)
