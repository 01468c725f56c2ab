"""The desk's numbers as a trader reads them, with the demo's data flowing, at 160x48 and 80x24:
prices on the tick grid, one slippage sign everywhere, nothing cut without a mark, no follower
shown as copying while its broker is down, P&L "—" when unknown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.text import Text
from textual.app import App, ComposeResult

from copytui.engine import CopyState, FollowerView, HealthState
from copytui.instruments import format_price
from copytui.tui.format import SLIP_LEGEND, Palette, signed
from copytui.tui.grid import GRID_COLUMNS, NARROW_COLUMNS, AccountGrid
from copytui.tui.orderlog import OrderLog
from copytui.tui.reports import ReportsScreen
from tests.tui.conftest import desk, on_engine, screen_text, snapshot, until, view

SIZES = [(160, 48), (80, 24)]
ONE_DECIMAL_INDEX_PRICE = re.compile(r"\b\d{4,5}\.\d(?!\d)")  # 17501.2: a quarter-tick price cut by :g


def _quarter_fill(app) -> object | None:  # type: ignore[no-untyped-def]
    """A follower's NQ/ES fill at .25 or .75 in the log the desk holds, if any."""
    log = app.query_one("#log", OrderLog)
    for key, row in log.rows.items():
        data = row.data
        if data.fill_price is not None and data.symbol in ("NQ", "ES") and data.fill_price % 0.5 == 0.25:
            return key, data
    return None


@pytest.mark.parametrize("size", SIZES)
async def test_prices_are_on_the_tick_grid(tmp_path: Path, size: tuple[int, int]) -> None:
    async with desk(tmp_path, demo=True, size=size) as (app, pilot):
        await until(pilot, lambda: _quarter_fill(app) is not None, timeout=60)
        key, row = _quarter_fill(app)  # type: ignore[misc]
        log = app.query_one("#log", OrderLog)
        shown = str(log.get_cell(key, "fill"))
        assert shown == format_price(row.symbol, row.fill_price)
        assert re.fullmatch(r"\d+\.(25|75)", shown), shown
        text = screen_text(app)
        assert re.search(r"\b\d{4,5}\.\d\d\b", text)  # fills in the log on screen, two decimals
        assert not ONE_DECIMAL_INDEX_PRICE.search(text), text
        # the leader's events use the same formatter (folded to one line at 80x24)
        events = snapshot(app).leader.events
        assert all(not ONE_DECIMAL_INDEX_PRICE.search(e) for e in events)
        assert any(re.search(r"@ \d+\.\d\d\b", e) for e in events)


def _slipped(app) -> str | None:  # type: ignore[no-untyped-def]
    snap = snapshot(app)
    return next((v.name for v in snap.followers if v.fills and abs(v.slippage_avg_ticks) >= 0.005), None)


def _sign(text: str) -> int:
    value = float(text.replace(",", "").rstrip("t"))
    return (value > 0) - (value < 0)


async def test_slippage_has_one_sign_in_panel_details_and_reports(tmp_path: Path) -> None:
    async with desk(tmp_path, demo=True, size=(160, 48)) as (app, pilot):
        await until(pilot, lambda: _slipped(app) is not None, timeout=60)
        name = _slipped(app)
        assert name is not None
        await pilot.press("P")  # everyone paused: the figures stop moving while they are compared
        await until(pilot, lambda: all(v.copy_state == "paused" for v in snapshot(app).followers))
        v = view(app, name)
        app.query_one("#stats").show(snapshot(app).followers, name, app.palette)
        await pilot.pause()
        table = app.query_one("#slip-table")
        avg, cash = str(table.get_cell(name, "avg")), str(table.get_cell(name, "cash"))
        # the engine's sign (+ is worse for the follower), shown as it is, ticks and currency alike
        assert avg == signed(v.slippage_avg_ticks, 2)
        assert _sign(cash) == (v.slippage_avg_cash > 0) - (v.slippage_avg_cash < 0)
        assert "▲" not in cash and "▼" not in cash  # not a P&L: no gain/loss arrow that flips the meaning
        text = screen_text(app)
        assert SLIP_LEGEND in text and "$/fill" in text
        # details: the same figure, the same sign
        grid = app.query_one("#grid", AccountGrid)
        grid.focus()
        grid.move_cursor(row=grid.row_keys.index(name))
        await pilot.press("enter")
        await until(pilot, lambda: f"follower {name}" in screen_text(app))
        assert f"avg {signed(v.slippage_avg_ticks, 2)}t" in screen_text(app)
        assert "+ worse for the follower" in screen_text(app)
        await pilot.press("escape")
        # reports by follower: the same average, and a total of the same sign
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ReportsScreen) and bool(app.screen.rows))
        await pilot.press("g", "g")
        screen = app.screen
        await until(pilot, lambda: screen.by == ("follower",) and "by follower ·" in screen_text(app))
        row = next(r for r in screen.rows if r["follower"] == name)
        assert row["slippage_avg_ticks"] == pytest.approx(v.slippage_avg_ticks, abs=0.001)
        assert (row["slippage_cash_total"] > 0) == (v.slippage_avg_cash > 0)
        text = screen_text(app)
        assert "Slip $ total" in text and SLIP_LEGEND in text
        assert signed(row["slippage_avg_ticks"], 2) in text


@pytest.mark.parametrize("size", SIZES)
async def test_no_disconnected_follower_is_shown_copying(tmp_path: Path, size: tuple[int, int]) -> None:
    async with desk(tmp_path, demo=True, size=size) as (app, pilot):

        def drop_bravo() -> None:
            health = app.engine.followers["bravo"].adapter.health
            health.down()

        on_engine(app, drop_bravo)
        await until(pilot, lambda: app.snap is not None and view(app, "bravo").connection == "disconnected")
        await until(pilot, lambda: "bravo" in screen_text(app) and "✖ offline" in screen_text(app))
        line = next(x for x in screen_text(app).splitlines() if re.search(r"\bbravo\b.*(offline|copying)", x))
        assert "copying" not in line and "✖ offline" in line and "✖ down" in line
        # what a trader needs per follower is on screen at every size
        header = next(x for x in screen_text(app).splitlines() if "Position" in x and "Drift" in x)
        for label in ("Copy", "Conn", "Position", "Expected", "Drift"):
            assert label in header
        assert "P&L" in header or "Unrealised" in header


def follower(name: str = "echo", **changes: object) -> FollowerView:
    base: dict[str, object] = dict(
        name=name,
        broker="paper",
        connection=HealthState.CONNECTED,
        copy_state=CopyState.COPYING,
        rule="fills x1 NQ->MNQ x10 ES->MES x10",
        positions={"MES": -60, "MNQ": 10},
        expected={"MES": -60, "MNQ": 20},
        drift={"MNQ": 10, "MES": -60},
        realized_pnl=12.5,
        unrealized_pnl=-3.0,
        last_latency_ms=1.2,
        orders=3,
        rejects=0,
        fills=3,
        latency_p50=1.0,
        latency_p99=2.0,
        slippage_avg_ticks=0.5,
        slippage_p95_ticks=1.0,
        slippage_avg_cash=2.5,
        latency_history=(1.0,),
    )
    base.update(changes)
    return FollowerView(**base)  # type: ignore[arg-type]


class GridApp(App[None]):
    def __init__(self, views: tuple[FollowerView, ...]) -> None:
        super().__init__()
        self.views = views

    def compose(self) -> ComposeResult:
        yield AccountGrid(id="grid")

    def on_mount(self) -> None:
        self.query_one(AccountGrid).show(self.views, Palette())


def _grid_app_text(app: App[None]) -> str:
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(seg.text for seg in strip) for strip in strips)


async def test_every_symbols_drift_and_position_are_shown_whole_at_160() -> None:
    app = GridApp((follower(), follower("zulu", pnl_known=False, connection=HealthState.RECONNECTING)))
    async with app.run_test(size=(160, 10)) as pilot:
        await pilot.pause()
        text = _grid_app_text(app)
        assert "≠ MES -60 MNQ +10" in text  # every symbol, every digit
        assert "MES -60 MNQ +10" in text and "MES -60 MNQ +20" in text
        zulu = next(x for x in text.splitlines() if "zulu" in x)
        assert "—" in zulu and "0.00" not in zulu  # unknown P&L is never 0.00
        assert "◌ retry" in zulu and "copying" not in zulu
        grid = app.query_one(AccountGrid)
        assert grid.column_keys == tuple(k for k, _, _ in GRID_COLUMNS)
        assert "fills x1 NQ->MNQ x10 ES->MES x10" not in text and "…" in text  # the rule is cut, marked


async def test_at_80_columns_a_cut_is_marked_and_pnl_unknown_is_a_dash() -> None:
    app = GridApp((follower(), follower("zulu", pnl_known=False)))
    async with app.run_test(size=(80, 10)) as pilot:
        await pilot.pause()
        grid = app.query_one(AccountGrid)
        assert grid.column_keys == tuple(k for k, _, _ in NARROW_COLUMNS)
        text = _grid_app_text(app)
        echo = next(x for x in text.splitlines() if "echo" in x)
        assert "MES -60 MN…" in echo and "≠ MES -6…" in echo  # cut, and visibly so
        assert "▲ +9.50" in echo  # realised plus unrealised
        zulu = next(x for x in text.splitlines() if "zulu" in x)
        assert zulu.rstrip().endswith("—")
        assert max(len(x.rstrip()) for x in text.splitlines()) <= 80


async def test_order_log_note_is_shown_to_the_edge_or_marked(tmp_path: Path) -> None:
    async with desk(tmp_path, demo=True, size=(160, 48)) as (app, pilot):
        log = app.query_one("#log", OrderLog)
        await until(pilot, lambda: any(r.data.reason for r in log.rows.values()), timeout=60)
        text = screen_text(app)
        notes = {r.data.reason for r in log.rows.values() if r.data.reason and r.data.action == "place"}
        spec = dict((k, w) for k, _, w in log._spec)
        assert spec["reason"] >= 14  # latency and slippage fit beside it at 160; the whole note: enter
        for note in notes:
            if len(note) <= spec["reason"]:
                continue
            assert note[: spec["reason"] - 1] + "…" in text or note[: spec["reason"] - 1] not in text
        assert not re.search(r" (simul|cance|no ch)  *│", text)  # no five-letter stubs at the edge


async def test_folded_panels_at_80x24_mark_a_cut(tmp_path: Path) -> None:
    async with desk(tmp_path, demo=True, size=(80, 24)) as (app, pilot):
        await until(pilot, lambda: bool(snapshot(app).leader.events))
        long_line = Text("reconciled  ≠ drift: " + ", ".join(["alpha ES -1 NQ +2"] * 8))
        shown: list[str] = []
        for _ in range(100):  # the desk redraws the panel on its own snapshots: show it until a frame has it
            app.query_one("#alerts").show_text(long_line)
            await pilot.pause()
            shown = [x for x in screen_text(app).splitlines() if "≠ drift" in x]
            if shown:
                break
        assert shown and shown[0].rstrip().endswith("…")


async def test_the_desk_shows_todays_pnl_and_the_distance_to_each_loss_limit(tmp_path: Path) -> None:
    async with desk(tmp_path, demo=True, size=(160, 48)) as (app, pilot):
        await until(pilot, lambda: snapshot(app).signals >= 3)
        v = view(app, "delta")
        assert v.loss_limit == 2500 and v.loss_left is not None and v.session_pnl is not None
        assert v.loss_left == pytest.approx(2500 + v.session_pnl)
        assert "followers today" in screen_text(app)
        grid = app.query_one("#grid", AccountGrid)
        grid.focus()
        grid.move_cursor(row=grid.row_keys.index("delta"))
        await pilot.press("enter")
        await until(pilot, lambda: "follower delta" in screen_text(app))
        assert "loss limit  2,500.00 a day:" in screen_text(app) and " left" in screen_text(app)
