"""The command palette's Screenshot: an SVG next to the journal, and a toast that says where."""

from __future__ import annotations

from pathlib import Path

from tests.tui.conftest import desk, screen_text, until


def toasts(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(n.message) for n in app._notifications]


async def test_palette_screenshot_is_saved_next_to_the_journal(tmp_path: Path) -> None:
    async with desk(tmp_path) as (app, pilot):
        await pilot.press("ctrl+p")
        await pilot.press(*"screenshot")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: any(tmp_path.glob("*.svg")))
        (shot,) = tmp_path.glob("*.svg")
        assert shot.parent == (tmp_path / "journal.sqlite3").parent
        assert shot.read_text(encoding="utf-8").startswith("<svg")
        await until(pilot, lambda: any(str(shot) in t for t in toasts(app)))
        assert toasts(app)[-1] == f"saved to {shot}"
        assert "saved to" in screen_text(app)
        assert "Failed to save screenshot" not in screen_text(app)


async def test_a_screenshot_that_cannot_be_written_says_why_and_where(tmp_path: Path) -> None:
    async with desk(tmp_path) as (app, pilot):
        missing = tmp_path / "gone"
        app.action_screenshot(path=str(missing))  # the palette's action, into a folder that does not exist
        await until(pilot, lambda: any("not saved" in t for t in toasts(app)))
        message = toasts(app)[-1]
        assert message.startswith(f"not saved to {missing}/copytui-screenshot-")
        assert message.endswith(": No such file or directory")
        assert "not saved to" in screen_text(app)
