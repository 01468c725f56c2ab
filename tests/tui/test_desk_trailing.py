"""The desk says how each mirror follower gets the leader's brackets and trailing stops: a paper
follower's broker keeps trailing stops, so its details say it gets them as trailing stops; a
fills-mode follower copies no working order and says nothing of either. Keys pressed in a Pilot
session over the demo's accounts, a leader trailing stop on the paper exchange."""

from __future__ import annotations

from pathlib import Path

from copytui.models import OrderType, Side
from copytui.tui.grid import AccountGrid
from copytui.tui.modals import DetailScreen
from tests.tui.conftest import desk, screen_text, submit, until


async def test_a_mirror_followers_details_say_how_it_gets_a_trailing_stop(tmp_path: Path) -> None:
    async with desk(tmp_path) as (app, pilot):
        submit(app, symbol="ES", side=Side.BUY, qty=1)
        submit(app, symbol="ES", side=Side.SELL, qty=1, order_type=OrderType.TRAILING_STOP, trail=2.0)
        await until(pilot, lambda: "trailing stop" in screen_text(app))  # the leader panel names its order
        grid = app.query_one("#grid", AccountGrid)
        grid.focus()
        await pilot.press("down", "down", "enter")  # charlie, the demo's mirror follower
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        text = screen_text(app)
        assert "follower charlie" in text
        assert "copied as trailing stops its broker moves" in text
        await pilot.press("escape")
        await pilot.press("up", "enter")  # bravo copies fills only
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        assert "follower bravo" in screen_text(app) and "trailing stops" not in screen_text(app)
