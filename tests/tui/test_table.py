"""DeskTable (keyed rows, one cached line per row, batch trimming) and the order log's line merging."""

from __future__ import annotations

from dataclasses import fields, replace

from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult

from copytui.engine import LogRow
from copytui.tui.orderlog import merged
from copytui.tui.table import DeskTable, build_line, cell_parts

COLUMNS = (("name", "Name", 6), ("qty", "Qty", 4))


class Counting(DeskTable):
    """Rows hold (name, qty); counts how often cells are made from them."""

    made = 0

    def row_cells(self, data: tuple[str, int]) -> tuple[object, ...]:
        Counting.made += 1
        return (data[0], Text(str(data[1]), justify="right"))


class OneTable(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, str]] = []

    def compose(self) -> ComposeResult:
        yield Counting(COLUMNS, id="t")

    def on_desk_table_row_highlighted(self, event: DeskTable.RowHighlighted) -> None:
        self.events.append(("highlighted", event.row_key))

    def on_desk_table_row_selected(self, event: DeskTable.RowSelected) -> None:
        self.events.append(("selected", event.row_key))


def plain(strip) -> str:  # type: ignore[no-untyped-def]
    return "".join(seg.text for seg in strip)


def test_cells_are_padded_cropped_and_justified() -> None:
    assert cell_parts("abcdefgh", 4) == [(" ", None), ("abc…", None), (" ", None)]  # a cut is marked
    right = cell_parts(Text("7", justify="right", style="bold"), 3)
    assert right == [("   ", None), ("7", Style.parse("bold")), (" ", None)]
    line = build_line([cell_parts("ab", 3), cell_parts("cd", 2)], Style.null(), None, 0, 12)
    assert plain(line) == " ab   cd " + "   " and line.cell_length == 12
    scrolled = build_line([cell_parts("ab", 3), cell_parts("cd", 2)], Style.null(), None, 4, 5)
    assert plain(scrolled) == "  cd " and scrolled.cell_length == 5
    wide = build_line([cell_parts("日本語", 4)], Style.null(), None, 0, 8)  # double-width: cropped by cells
    assert plain(wide).startswith(" 日…") and wide.cell_length == 8


def test_merged_keeps_what_a_later_row_of_the_same_order_does_not_say() -> None:
    old = LogRow(
        seq=1,
        wall_ns=100,
        signal_id="s1",
        follower="alpha",
        symbol="ES",
        side="buy",
        qty=2,
        status="new",
        client_order_id="c1",
        latency_ms=1.5,
        reason="sent",
    )
    ack = replace(
        old, seq=2, wall_ns=200, status="filled", latency_ms=None, fill_price=5000.25, slippage_ticks=1.0, reason=""
    )
    line = merged(old, ack)
    assert (line.seq, line.wall_ns, line.status) == (2, 100, "filled")  # the time the order went out
    assert (line.latency_ms, line.fill_price, line.slippage_ticks, line.reason) == (1.5, 5000.25, 1.0, "sent")
    # every other field comes from the newer row, including fields added to LogRow later
    newer: dict[str, object] = {}
    for f in fields(LogRow):
        value = getattr(old, f.name)
        if isinstance(value, int):
            newer[f.name] = value + 1
        elif value is None or isinstance(value, float):
            newer[f.name] = 2.5
        else:
            newer[f.name] = value + "x"
    line = merged(old, LogRow(**newer))
    for f in fields(LogRow):
        if f.name != "wall_ns":
            assert getattr(line, f.name) == newer[f.name], f.name


async def test_rows_are_added_updated_in_place_and_dropped_in_batches() -> None:
    app = OneTable()
    async with app.run_test(size=(40, 8)) as pilot:
        table = app.query_one(Counting)
        for i in range(20):
            table.sync_row(f"r{i}", (f"r{i}", i))
        table.commit()
        await pilot.pause()
        assert table.row_count == 20 and table.cursor_key == "r0"
        assert ("highlighted", "r0") in app.events
        assert Counting.made < 20  # only the rows on screen were made into cells
        row = table.rows["r3"]
        assert not table.sync_row("r3", ("r3", 3))  # same data: nothing to do
        assert table.sync_row("r3", ("r3", 33))
        table.commit()
        assert table.rows["r3"] is row and str(table.get_cell("r3", "qty")) == "33"
        table.move_cursor(row=5)
        await pilot.pause()
        assert table.cursor_key == "r5" and ("highlighted", "r5") in app.events
        table.drop_first(4)
        table.commit()
        await pilot.pause()
        assert table.row_keys[0] == "r4" and table.row_count == 16
        assert table.cursor_key == "r5"  # the cursor stays on its row
        await pilot.press("j", "enter")
        assert table.cursor_key == "r6" and ("selected", "r6") in app.events
        top = int(table.scroll_y)
        await pilot.click(Counting, offset=(2, 2))  # line 0 is the header: line 2 is the second row shown
        assert table.cursor_key == table.row_keys[top + 1] and ("selected", table.cursor_key) in app.events
        table.drop_all()
        assert table.row_count == 0 and table.cursor_key is None
