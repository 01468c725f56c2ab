"""The session chart (key ``c``): what the journal holds per time bucket, drawn as bars a trader can
read: the scale on the axis, p50 under p99, slippage above the zero line when it cost the follower."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from copytui.journal.series import Bucket, SessionSeries, bucket_size_s, session_series
from copytui.tui.chart import ChartScreen, latency_chart, nice_top, slippage_chart
from copytui.tui.format import Palette
from tests.tui.conftest import desk, screen_text, snapshot, until

PAL = Palette()


def bucket(p50: float | None = None, p99: float | None = None, slip: float | None = None) -> Bucket:
    return Bucket(0, 1 if p50 is not None else 0, p50, p99, 1 if slip is not None else 0, slip)


def columns(text: str) -> list[str]:
    """The chart's bar columns, top row first (the y axis cut off)."""
    return [line.split("┤", 1)[1] if "┤" in line else line.split("┼", 1)[1] for line in text.splitlines()]


def test_scale_is_a_round_number_above_the_highest_value() -> None:
    assert [nice_top(v) for v in (0.0, 0.8, 1.0, 1.3, 3.1, 7.0, 42.0)] == [1.0, 1.0, 1.0, 2.0, 5.0, 10.0, 50.0]


def test_latency_bars_p50_solid_p99_above_empty_bucket_blank() -> None:
    text = latency_chart([bucket(1.0, 2.0), bucket(), bucket(2.0, 2.0)], height=4, pal=PAL)
    lines = text.plain.splitlines()
    assert lines[0].startswith("      2┤") and lines[-1].startswith("      0┤")
    rows = columns(text.plain)
    assert [r[0] for r in rows] == ["█", "█", "█", "█"]  # p99 2.0 of 2: the whole height
    assert [r[1] for r in rows] == [" "] * 4  # nothing copied in that bucket
    # the first bucket's bottom half is its p50 (the up colour), its top half the p99 (dim)
    spans = {(s.start, s.end): str(s.style) for s in text.spans}
    line_len = len(lines[0]) + 1
    top_cell = 8  # right after the 7-column label and the axis
    bottom_cell = 3 * line_len + 8
    assert spans.get((top_cell, top_cell + 1)) == PAL.dim
    assert spans.get((bottom_cell, bottom_cell + 1)) == PAL.up


def test_slippage_up_when_worse_down_when_better() -> None:
    text = slippage_chart([bucket(slip=1.0), bucket(slip=-1.0), bucket(slip=0.5)], half=2, pal=PAL)
    rows = columns(text.plain)
    assert text.plain.splitlines()[0].startswith("    +1t┤")
    assert text.plain.splitlines()[-1].startswith("    -1t┤")
    assert rows[2] == "───"  # the zero line
    assert [r[0] for r in rows[:2]] == ["█", "█"] and [r[0] for r in rows[3:]] == [" ", " "]
    assert [r[1] for r in rows[:2]] == [" ", " "] and [r[1] for r in rows[3:]] == ["█", "█"]
    assert [r[2] for r in rows[:2]] == [" ", "█"]  # half the scale: the lower row only


def test_bucket_size_fits_the_width() -> None:
    assert bucket_size_s(59 * 10**9, 60) == 1
    assert bucket_size_s(60 * 10**9, 60) == 2
    assert bucket_size_s(6 * 3600 * 10**9, 100) == 300


async def test_c_charts_the_selected_followers_session_from_the_journal(tmp_path: Path) -> None:
    async with desk(tmp_path, demo=True, size=(160, 48)) as (app, pilot):
        await until(pilot, lambda: all(v.fills >= 3 for v in snapshot(app).followers), timeout=60)
        await pilot.press("P")  # everyone paused: no more orders while the chart is compared with the journal
        await until(pilot, lambda: all(v.copy_state == "paused" for v in snapshot(app).followers))
        journal = app.journal_path
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ChartScreen) and app.screen.series is not None)
        screen = app.screen
        assert isinstance(screen, ChartScreen)
        await until(pilot, lambda: "session chart · alpha · today" in screen_text(app))
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
            placed = db.execute(
                "SELECT count(*) FROM intents WHERE follower = 'alpha' AND action = 'place' AND status != 'skipped'"
            ).fetchone()[0]
            fills = db.execute("SELECT count(*) FROM executions WHERE follower = 'alpha'").fetchone()[0]
        text = screen_text(app)
        assert f"· {placed} orders" in text and f"· {fills} fills" in text
        assert "copy latency ms per" in text and "slippage ticks per fill" in text
        assert "█" in text
        await pilot.press("right")
        await until(pilot, lambda: "session chart · bravo · today" in screen_text(app))
        await pilot.press("left", "left")
        await until(pilot, lambda: "session chart · all followers · today" in screen_text(app))
        series = await session_series(journal, None, width=100)
        assert f"· {sum(b.orders for b in series.buckets)} orders" in screen_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ChartScreen))


async def test_an_empty_day_says_so(tmp_path: Path) -> None:
    async with desk(tmp_path, size=(120, 40)) as (app, pilot):
        await pilot.press("c")
        await until(pilot, lambda: "nothing copied to alpha today" in screen_text(app))
        assert isinstance(app.screen, ChartScreen) and app.screen.series == SessionSeries("alpha", 1, ())
