"""The desk with two leaders: the leader panel shows each leader with its followers, a follower's
details say whom it follows, and the resume question shows each leader's position. The real
engine on the paper exchange, keys pressed in a Pilot session."""

from __future__ import annotations

from pathlib import Path

from copytui.config import parse_config
from copytui.models import Side
from copytui.runtime import build_runtime
from copytui.tui.app import CopyDeskApp
from copytui.tui.grid import AccountGrid
from copytui.tui.modals import DetailScreen, ResumeScreen
from tests.tui.conftest import drained, held, screen_text, submit, until

CONFIG = """
leaders:
  - {name: day-lead, broker: paper}
  - {name: swing-lead, broker: paper}
followers:
  - {name: both-x1}
  - {name: day-only, follows: [day-lead]}
  - {name: swing-half, follows: [swing-lead], multiplier: 0.5}
"""


async def test_two_leaders_on_the_desk(tmp_path: Path) -> None:
    rt = build_runtime(parse_config(CONFIG), seed=5, journal_path=tmp_path / "journal.sqlite3")
    app = CopyDeskApp(rt)
    try:
        async with app.run_test(size=(160, 48), notifications=True) as pilot:
            await until(pilot, lambda: app._running)
            submit(app, "day-lead", symbol="ES", side=Side.BUY, qty=2)
            submit(app, "swing-lead", symbol="ES", side=Side.BUY, qty=4)
            await until(pilot, lambda: held(app, "both-x1") == {"ES": 6})
            assert await drained(app)
            assert held(app, "day-only") == {"ES": 2}
            assert held(app, "swing-half") == {"ES": 2}

            def panel_shows_both() -> bool:
                text = screen_text(app)
                return "pos ES +2" in text and "pos ES +4" in text

            await until(pilot, panel_shows_both)
            text = screen_text(app)
            assert "-> both-x1, day-only" in text  # on its own line under its leader
            assert "-> both-x1, swing-half" in text
            assert "swing-lead: fill buy 4 ES" in text  # each leader's events named

            assert app.query_one("#grid", AccountGrid).cursor_key == "both-x1"  # the first row
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, DetailScreen))
            assert "follows  day-lead, swing-lead: targets the sum" in screen_text(app)
            await pilot.press("escape")

            await pilot.press("p")  # pause both-x1, then ask to resume it
            grid = app.query_one("#grid", AccountGrid)
            await until(pilot, lambda: "PAUSED" in str(grid.get_cell("both-x1", "state")))
            await pilot.press("p")
            await until(pilot, lambda: isinstance(app.screen, ResumeScreen))
            assert "day-lead ES +2; swing-lead ES +4" in screen_text(app)
            await pilot.press("escape")
    finally:
        await app.stop_runtime()


MANY = """
leaders:
  - {name: day-lead, broker: paper}
  - {name: swing-lead, broker: paper}
followers:
""" + "".join(f"  - {{name: acct-{i}, follows: [day-lead]}}\n" for i in range(1, 8)) + (
    "  - {name: lone, follows: [swing-lead]}\n"
)


async def test_a_leader_with_many_followers_shows_how_many_before_their_names(tmp_path: Path) -> None:
    """Seven followers' names do not fit the leader panel's width: the count comes first, on a line of
    its own under the leader, so a cut loses names, never the number."""
    rt = build_runtime(parse_config(MANY), seed=5, journal_path=tmp_path / "journal.sqlite3")
    app = CopyDeskApp(rt)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await until(pilot, lambda: app._running)
            await until(pilot, lambda: "-> 7 followers: acct-1, acct-2, acct-3 +4 more" in screen_text(app))
            assert "-> lone" in screen_text(app)
    finally:
        await app.stop_runtime()
