"""Every desk binding pressed against the real engine and paper exchange: engine state and screen."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from copytui.models import Side
from copytui.tui.grid import AccountGrid
from copytui.tui.modals import ConfirmScreen, DetailScreen, FilterScreen, HelpScreen, ResumeScreen
from copytui.tui.orderlog import OrderLog
from tests.tui.conftest import (
    LEADER,
    desk,
    desk_is_current,
    drained,
    held,
    on_engine,
    screen_text,
    snapshot,
    states,
    submit,
    until,
    view,
)

FOLLOWERS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot")


def buy(app, qty: int = 2, symbol: str = "ES", side: Side = Side.BUY) -> None:  # type: ignore[no-untyped-def]
    submit(app, LEADER, symbol=symbol, side=side, qty=qty)


def grid_cell(app, name: str, column: str) -> str:  # type: ignore[no-untyped-def]
    return str(app.query_one("#grid", AccountGrid).get_cell(name, column))


def operator_actions(tmp_path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(tmp_path / "journal.sqlite3") as db:
        return list(db.execute("SELECT action, target FROM operator_actions ORDER BY id"))


async def test_grid_shows_every_follower_and_the_log_fills(tmp_path: Path) -> None:
    async with desk(tmp_path) as (app, pilot):
        grid = app.query_one("#grid", AccountGrid)
        rows_before = list(grid.rows.values())
        buy(app, 2)
        await until(pilot, lambda: held(app, "alpha") == {"ES": 2} and view(app, "alpha").positions == {"ES": 2})
        await until(pilot, lambda: grid_cell(app, "alpha", "pos") == "ES +2")
        assert grid.row_keys == list(FOLLOWERS)
        # updated cell by cell: the very same rows, never removed and added again
        assert all(a is b for a, b in zip(rows_before, grid.rows.values(), strict=True))
        text = screen_text(app)
        for name in FOLLOWERS:
            assert name in text
        assert "ES +2" in text and "leader" in text
        log = app.query_one("#log", OrderLog)
        assert log.row_count > 0
        assert any(r.follower == "alpha" and r.status == "filled" for r in log.rows_by_key.values())
        assert "▲ BUY" in text  # side is told by arrow and word, not only colour


async def test_p_pauses_the_selected_follower_and_its_next_trade_is_not_copied(tmp_path: Path) -> None:
    async with desk(tmp_path) as (app, pilot):
        assert app.query_one("#grid", AccountGrid).cursor_key == "alpha"
        await pilot.press("j")  # bravo
        await pilot.press("k")  # back to alpha
        await pilot.press("p")
        await until(pilot, lambda: view(app, "alpha").copy_state == "paused")
        await until(pilot, lambda: "PAUSED" in grid_cell(app, "alpha", "state"))
        assert ("pause", "alpha") in operator_actions(tmp_path)
        buy(app, 2)
        await until(pilot, lambda: held(app, "delta") == {"ES": 4})
        assert await drained(app)
        assert held(app, "alpha") == {}
        await until(pilot, lambda: any(r.follower == "alpha" and r.status == "skipped" for r in app.snap.log))
        assert "PAUSED" in screen_text(app)
        log = app.query_one("#log", OrderLog)
        key = next(k for k, r in log.rows_by_key.items() if r.action == "operator" and r.follower == "alpha")
        assert str(log.get_cell(key, "status")) == "paused"  # the operator action is in the log


async def test_resume_asks_sync_now_or_wait_for_flat(tmp_path: Path) -> None:
    async with desk(tmp_path) as (app, pilot):
        await pilot.press("p")  # alpha paused
        await until(pilot, lambda: view(app, "alpha").copy_state == "paused")
        buy(app, 3)
        await until(pilot, lambda: held(app, "delta") == {"ES": 6})
        assert held(app, "alpha") == {}
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, ResumeScreen))
        assert "Sync now" in screen_text(app) and "ES +3" in screen_text(app)
        await pilot.press("escape")  # cancel: still paused
        assert view(app, "alpha").copy_state == "paused"
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, ResumeScreen))
        await pilot.press("s")
        await until(pilot, lambda: view(app, "alpha").copy_state == "copying")
        await until(pilot, lambda: held(app, "alpha") == {"ES": 3})  # synced to the leader now
        await pilot.press("down", "down", "down", "p")  # delta paused, then resumed waiting for flat
        await until(pilot, lambda: view(app, "delta").copy_state == "paused")
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, ResumeScreen))
        await pilot.press("w")
        await until(pilot, lambda: view(app, "delta").copy_state == "waiting for flat")
        await until(pilot, lambda: "wait flat" in grid_cell(app, "delta", "state"))


async def test_shift_p_pauses_and_resumes_everyone(tmp_path: Path) -> None:
    async with desk(tmp_path) as (app, pilot):
        await pilot.press("P")
        await until(pilot, lambda: states(app) == {"paused"})
        await until(pilot, lambda: all("PAUSED" in grid_cell(app, n, "state") for n in FOLLOWERS))
        buy(app, 1)
        await until(pilot, lambda: on_engine(app, lambda: app.engine.signals) >= 1)
        assert await drained(app)
        assert all(held(app, n) == {} for n in FOLLOWERS)
        await pilot.press("P")
        await until(pilot, lambda: isinstance(app.screen, ResumeScreen))
        assert "all 6 followers" in screen_text(app)
        await pilot.press("s")
        await until(pilot, lambda: states(app) == {"copying"})
        await until(pilot, lambda: held(app, "alpha") == {"ES": 1})


async def test_f_flattens_the_selected_follower_after_confirmation(tmp_path: Path) -> None:
    async with desk(tmp_path) as (app, pilot):
        buy(app, 2)
        await until(pilot, lambda: held(app, "alpha") == {"ES": 2} and held(app, "delta") == {"ES": 4})
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Flatten alpha?" in screen_text(app)
        await pilot.press("n")
        await app.workers.wait_for_complete()
        assert held(app, "alpha") == {"ES": 2} and view(app, "alpha").copy_state == "copying"
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: held(app, "alpha") == {})
        await app.workers.wait_for_complete()
        assert all(p.qty == 0 for p in on_engine(app, app.runtime.exchange.position_list, "alpha"))
        assert view(app, "alpha").copy_state == "paused"
        assert held(app, "delta") == {"ES": 4}  # only the selected follower
        await until(pilot, lambda: grid_cell(app, "alpha", "pos") == "flat")
        assert "PAUSED" in grid_cell(app, "alpha", "state")
        await until(pilot, lambda: "alpha is flat and paused" in screen_text(app))  # the toast
        # flattened and paused: the leader's next trade does not reopen it
        buy(app, 1)
        await until(pilot, lambda: held(app, "delta") == {"ES": 6})
        assert await drained(app)
        assert held(app, "alpha") == {}


async def test_shift_f_kill_switch_leaves_every_follower_flat(tmp_path: Path) -> None:
    async with desk(tmp_path) as (app, pilot):
        buy(app, 3)
        buy(app, 1, symbol="NQ", side=Side.SELL)
        await until(pilot, lambda: held(app, "alpha") == {"ES": 3, "NQ": -1})
        await pilot.press("F")
        assert "KILL SWITCH" in screen_text(app)
        await pilot.press("escape")
        assert held(app, "alpha") == {"ES": 3, "NQ": -1}
        await pilot.press("F")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: all(held(app, n) == {} for n in FOLLOWERS))
        await app.workers.wait_for_complete()
        for name in FOLLOWERS:
            assert all(p.qty == 0 for p in on_engine(app, app.runtime.exchange.position_list, name)), name
        assert states(app) == {"paused"}
        assert held(app, LEADER) == {"ES": 3, "NQ": -1}  # the leader's account is not touched
        assert ("flatten_all", "*") in operator_actions(tmp_path)
        await until(pilot, lambda: all(grid_cell(app, n, "pos") == "flat" for n in FOLLOWERS))
        await until(pilot, lambda: "every follower is flat and paused" in screen_text(app))


async def test_r_reconciles_now(tmp_path: Path) -> None:
    async with desk(tmp_path) as (app, pilot):
        await pilot.press("r")
        await app.workers.wait_for_complete()
        assert ("reconcile", "*") in operator_actions(tmp_path)
        assert snapshot(app).last_reconcile_wall_ns > 0
        await until(pilot, lambda: "reconciled" in str(app.query_one("#alerts").content))
        await until(pilot, lambda: "reconciled: no drift" in screen_text(app))


async def test_slash_filters_the_order_log(tmp_path: Path) -> None:
    async with desk(tmp_path) as (app, pilot):
        buy(app, 2)
        await until(pilot, lambda: held(app, "foxtrot") != {} and held(app, "alpha") == {"ES": 2})
        log = app.query_one("#log", OrderLog)
        await until(pilot, lambda: {r.follower for r in log.rows_by_key.values()} >= {"alpha", "delta"})
        await pilot.press("slash")
        assert isinstance(app.screen, FilterScreen)
        await pilot.press(*"alpha", "enter")
        await until(pilot, lambda: "filter: alpha" in screen_text(app))  # the journal is read off the UI thread
        assert log.row_count > 0
        assert {r.follower for r in log.rows_by_key.values()} == {"alpha"}
        assert "filter: alpha" in screen_text(app)
        buy(app, 1)  # new rows honour the filter too
        await until(pilot, lambda: held(app, "delta") == {"ES": 6} and held(app, "alpha") == {"ES": 3})
        await until(pilot, lambda: desk_is_current(app))
        assert {r.follower for r in log.rows_by_key.values()} == {"alpha"}
        await pilot.press("slash", "ctrl+u", *"rejected", "enter")
        await until(pilot, lambda: "filter: rejected" in screen_text(app))
        assert all(r.status == "rejected" for r in log.rows_by_key.values())
        await pilot.press("slash", "ctrl+u", "enter")  # empty: everything again
        await until(pilot, lambda: "filter:" not in screen_text(app))
        assert {r.follower for r in log.rows_by_key.values()} >= {"alpha", "bravo", "delta"}
        assert "filter:" not in screen_text(app)


async def test_enter_shows_details_of_a_follower_and_of_a_log_row(tmp_path: Path) -> None:
    async with desk(tmp_path) as (app, pilot):
        buy(app, 2)
        await until(pilot, lambda: held(app, "delta") == {"ES": 4} and view(app, "delta").positions == {"ES": 4})
        await until(pilot, lambda: app.query_one("#log", OrderLog).row_count > 0)
        await pilot.press("down", "down", "down", "enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        text = screen_text(app)
        assert "follower delta" in text and "fills x2 max 6" in text and "ES +4" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailScreen)
        await pilot.press("tab")
        assert app.focused is app.query_one("#log", OrderLog)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        row = app.query_one("#log", OrderLog).selected
        assert row is not None and row.signal_id in screen_text(app)
        await pilot.press("escape")


async def test_question_mark_lists_every_key_and_the_palette_runs_them(tmp_path: Path) -> None:
    async with desk(tmp_path) as (app, pilot):
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for b in app.BINDINGS:
            assert b.tooltip in text, b.tooltip
        assert "j k" in text and "enter" in text
        await pilot.press("p")  # trading keys do nothing behind a dialog
        assert view(app, "alpha").copy_state == "copying"
        await pilot.press("escape")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for b in app.BINDINGS:
            assert any(b.tooltip in t for t in titles), b.tooltip
        await pilot.press("ctrl+p")
        await pilot.press(*"Pause or resume every")
        await until(pilot, lambda: "Pause or resume every" in screen_text(app))
        await pilot.press("enter")
        await until(pilot, lambda: states(app) == {"paused"})


async def test_q_asks_first_when_positions_are_open(tmp_path: Path) -> None:
    async with desk(tmp_path) as (app, pilot):
        buy(app, 1)
        await until(pilot, lambda: held(app, "alpha") == {"ES": 1})
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Positions are open at: leader, alpha" in screen_text(app)
        await pilot.press("n")
        assert app.is_running and not on_engine(app, lambda: app.engine.stopping)
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: app._stopped and not app.is_running)
        assert app.engine.stopping  # the engine's thread is gone: nothing changes it any more


async def test_q_quits_at_once_when_flat(tmp_path: Path) -> None:
    async with desk(tmp_path) as (app, pilot):
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running)
        assert app._stopped and app.engine.stopping


async def test_ctrl_q_quits_at_once_with_positions_open(tmp_path: Path) -> None:
    async with desk(tmp_path) as (app, pilot):
        buy(app, 1)
        await until(pilot, lambda: held(app, "alpha") == {"ES": 1})
        await pilot.press("question_mark")
        assert "ctrl+q" in screen_text(app) and "Quit at once, without asking" in screen_text(app)
        await pilot.press("ctrl+q")  # over the help screen, with positions open: no question
        await until(pilot, lambda: not app.is_running)
        assert app._stopped and app.engine.stopping
        assert not any(isinstance(s, ConfirmScreen) for s in app.screen_stack)


async def test_slash_filter_finds_every_matching_order_in_the_journal(tmp_path: Path) -> None:
    async with desk(tmp_path, size=(160, 48)) as (app, pilot):
        buy(app, 1, symbol="NQ")  # the first orders: long gone from the log's last rows when the filter runs
        await until(pilot, lambda: held(app, "alpha") == {"NQ": 1})
        for i in range(90):
            buy(app, 1, side=Side.BUY if i % 2 == 0 else Side.SELL)
        await until(pilot, lambda: held(app, "alpha") == {"NQ": 1})
        assert await drained(app)
        log = app.query_one("#log", OrderLog)
        await until(pilot, lambda: desk_is_current(app) and log.row_count > 300)
        assert not any(r.symbol == "NQ" for r in log.rows_by_key.values())  # trimmed from the unfiltered log
        on_engine(app, app.runtime.journal.flush)
        with sqlite3.connect(tmp_path / "journal.sqlite3") as db:
            (alpha_orders,) = db.execute("SELECT COUNT(*) FROM intents WHERE follower = 'alpha'").fetchone()
        assert alpha_orders >= 91
        await pilot.press("slash", *"alpha", "enter")
        await until(pilot, lambda: "filter: alpha" in screen_text(app))
        assert log.row_count == alpha_orders
        assert {r.follower for r in log.rows_by_key.values()} == {"alpha"}
        assert f"filter: alpha · {alpha_orders} rows in the journal" in screen_text(app)
        await pilot.press("slash", "ctrl+u", *"alpha nq", "enter")
        await until(pilot, lambda: "filter: alpha nq" in screen_text(app))
        assert log.row_count == 1
        assert any("alpha" in ln and "NQ" in ln and "filled" in ln for ln in screen_text(app).splitlines())


async def test_tab_moves_between_grid_and_log_only_and_details_give_focus_back(tmp_path: Path) -> None:
    async with desk(tmp_path) as (app, pilot):
        buy(app, 1)
        await until(pilot, lambda: app.query_one("#log", OrderLog).row_count > 0)
        grid, log = app.query_one("#grid", AccountGrid), app.query_one("#log", OrderLog)
        seen = []
        for _ in range(4):
            await pilot.press("tab")
            seen.append(app.focused)
        assert seen == [log, grid, log, grid]  # never the slippage table, never the footer
        for table in (grid, log):
            table.focus()
            await pilot.pause()
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, DetailScreen))
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, DetailScreen))
            assert app.focused is table
            await pilot.press("tab")
            assert app.focused is (log if table is grid else grid)


async def test_a_paused_followers_skipped_orders_are_one_counted_line(tmp_path: Path) -> None:
    async with desk(tmp_path) as (app, pilot):
        await pilot.press("p")  # alpha paused
        await until(pilot, lambda: view(app, "alpha").copy_state == "paused")
        for _ in range(3):
            buy(app, 1)
            await until(pilot, lambda: True)
        await until(pilot, lambda: held(app, "delta") == {"ES": 6})
        await until(pilot, lambda: sum(r.follower == "alpha" and r.status == "skipped" for r in app.snap.log) >= 3)
        log = app.query_one("#log", OrderLog)
        await until(pilot, lambda: any("3 leader events" in r.reason for r in log.rows_by_key.values()))
        skipped = [r for r in log.rows_by_key.values() if r.follower == "alpha" and r.status == "skipped"]
        assert len(skipped) == 1 and skipped[0].reason == "follower paused · 3 leader events"
        on_screen = [x for x in screen_text(app).splitlines() if "skipped" in x and " alpha " in x]
        assert len(on_screen) == 1, on_screen  # one line for the run, not one per leader event


async def test_a_shows_every_alert_of_the_journal_to_scroll(tmp_path: Path) -> None:
    from copytui.tui.alerts import AlertHistoryScreen

    async with desk(tmp_path, size=(160, 48)) as (app, pilot):
        for i in range(260):  # more than the alerts panel keeps (200)
            on_engine(app, app.engine.raise_alert, "warning" if i % 2 else "info", "alpha", "test", f"number {i}")
        on_engine(app, app.engine.journal.flush)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AlertHistoryScreen) and bool(app.screen.alerts))
        screen = app.screen
        assert len([a for a in screen.alerts if a.kind == "test"]) == 260  # from the journal, not the panel
        text = screen_text(app)
        assert "newest first" in text and "number 259" in text
        await pilot.press("w")
        await until(pilot, lambda: "(warnings and errors)" in screen_text(app))
        assert "number 258" not in screen_text(app) and "number 259" in screen_text(app)  # info lines hidden
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, AlertHistoryScreen))
