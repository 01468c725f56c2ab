"""Themes (cycle, remembered, colour-blind safe) and the reports screen with CSV export."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from copytui.journal import REPORT_COLUMNS
from copytui.models import Side
from copytui.tui.app import CopyDeskApp
from copytui.tui.grid import AccountGrid
from copytui.tui.reports import ReportsScreen
from copytui.tui.state import remember_theme, start_theme
from tests.tui.conftest import LEADER, desk, drained, held, make_runtime, screen_text, submit, until, view
from themes import THEME_NAMES


async def test_t_cycles_the_themes_repaints_and_remembers(tmp_path: Path, xdg: Path) -> None:
    async with desk(tmp_path) as (app, pilot):
        assert app.theme == "copytui-dark"
        seen = []
        for _ in THEME_NAMES:
            await pilot.press("t")
            seen.append(app.theme)
        assert seen == ["copytui-light", "copytui-contrast", "copytui-cb", "copytui-dark"]
        await pilot.press("t", "t", "t")
        assert app.theme == "copytui-cb"
        # colour-blind safe: blue versus orange, and the cells carry arrows and signs as well
        assert (app.palette.up, app.palette.down) == ("#56B4E9", "#E69F00")
        await pilot.pause()
        cell = app.query_one("#grid", AccountGrid).get_cell("alpha", "state")
        assert str(cell.style) == app.palette.up and str(cell).startswith("●")
    saved = json.loads((xdg / "copytui" / "desk-state.json").read_text())
    assert saved["theme"] == "copytui-cb"
    again = CopyDeskApp(make_runtime(tmp_path / "second"), start=False)
    assert again.theme == "copytui-cb"
    again.runtime.journal.close()


def test_config_theme_sets_the_start_and_wins_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    assert start_theme("copytui-light", path) == ("copytui-light", None)
    remember_theme("copytui-contrast", "copytui-light", path)
    assert start_theme("copytui-light", path) == ("copytui-contrast", None)  # remembered
    assert start_theme("copytui-cb", path) == ("copytui-cb", None)  # the config was edited since
    theme, warning = start_theme("neon", path)
    assert theme == "copytui-dark" and warning is not None and "copytui-cb" in warning
    path.write_text("{not json")
    assert start_theme("copytui-light", path) == ("copytui-light", None)


async def test_reports_screen_groups_and_exports_csv(tmp_path: Path) -> None:
    async with desk(tmp_path) as (app, pilot):
        submit(app, LEADER, symbol="ES", side=Side.BUY, qty=2)
        submit(app, LEADER, symbol="NQ", side=Side.SELL, qty=1)
        await until(pilot, lambda: held(app, "alpha") == {"ES": 2, "NQ": -1} and view(app, "alpha").fills >= 2)
        assert await drained(app)
        await pilot.press("R")
        assert isinstance(app.screen, ReportsScreen)
        screen = app.screen
        await until(pilot, lambda: bool(screen.rows))
        keys = {(r["follower"], r["symbol"]) for r in screen.rows}
        assert {("alpha", "ES"), ("alpha", "NQ"), ("echo", "MNQ")} <= keys
        alpha_es = next(r for r in screen.rows if (r["follower"], r["symbol"]) == ("alpha", "ES"))
        assert alpha_es["fills"] >= 1 and alpha_es["filled_qty"] == 2 and alpha_es["latency_p50_ms"] is not None
        assert "alpha" in screen_text(app) and "Reports by day / follower / symbol" in screen_text(app)
        await pilot.press("p")  # trading keys do nothing on the reports screen
        assert view(app, "alpha").copy_state == "copying"
        await pilot.press("e")
        await until(pilot, lambda: screen.exported is not None)
        exported = screen.exported
        assert exported is not None and exported.parent == tmp_path / "reports"
        with exported.open() as fh:
            rows = list(csv.DictReader(fh))
        assert tuple(rows[0]) == REPORT_COLUMNS
        assert any(r["follower"] == "alpha" and r["symbol"] == "NQ" for r in rows)
        assert str(exported) in str(screen.query_one("#report-status").content)
        await until(pilot, lambda: "CSV written to" in screen_text(app) and exported.name[:20] in screen_text(app))
        await pilot.press("g")  # by day only
        await until(pilot, lambda: bool(screen.rows) and screen.rows[0]["follower"] == "*")
        assert len(screen.rows) == 1
        await pilot.press("escape")
        assert not isinstance(app.screen, ReportsScreen)


async def test_small_terminal_keeps_every_key_working(tmp_path: Path) -> None:
    async with desk(tmp_path, size=(80, 24)) as (app, pilot):
        assert app.screen.has_class("-narrow")
        submit(app, LEADER, symbol="ES", side=Side.BUY, qty=1)
        await until(pilot, lambda: held(app, "alpha") == {"ES": 1})
        text = screen_text(app)
        assert "alpha" in text and "foxtrot" in text and "Pause" in text
        await pilot.press("j", "p")
        await until(pilot, lambda: view(app, "bravo").copy_state == "paused")
        await pilot.press("F")
        await until(pilot, lambda: "KILL SWITCH" in screen_text(app))
        await pilot.press("y")
        await until(pilot, lambda: held(app, "alpha") == {} and held(app, "delta") == {})


async def test_reports_show_realised_pnl_as_the_grid_does(tmp_path: Path) -> None:
    async with desk(tmp_path, size=(160, 48)) as (app, pilot):
        submit(app, LEADER, symbol="ES", side=Side.BUY, qty=2)
        await until(pilot, lambda: held(app, "alpha") == {"ES": 2})
        submit(app, LEADER, symbol="ES", side=Side.SELL, qty=2)
        await until(pilot, lambda: held(app, "alpha") == {} and view(app, "alpha").fills >= 2)
        assert await drained(app)
        live = view(app, "alpha").realized_pnl
        assert live is not None
        await pilot.press("R")
        screen = app.screen
        assert isinstance(screen, ReportsScreen)
        await pilot.press("g", "g")  # by follower
        await until(pilot, lambda: bool(screen.rows) and screen.rows[0]["day"] == "*")
        alpha = next(r for r in screen.rows if r["follower"] == "alpha")
        assert alpha["realised_pnl"] == round(live, 2)
        text = screen_text(app)
        assert "Realised $" in text
        shown = "0.00" if abs(live) < 0.005 else f"{'▲ +' if live > 0 else '▼ -'}{abs(live):,.2f}"
        line = next(ln for ln in text.splitlines() if " alpha " in ln)
        assert line.rstrip(" │▐▌").endswith(shown), line
