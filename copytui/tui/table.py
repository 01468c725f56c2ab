"""DeskTable: a keyed, fixed-column table that redraws only what changed, and only what is on screen.

Textual's DataTable invalidates every cached line on any cell update, measures every cell of
every new row, and removes rows one by one in O(rows): at a few hundred order-log lines a second
that costs tens of milliseconds a frame. A desk table instead keeps, per row, the row's data
and (once it is on screen) its rendered line, and rebuilds that line only when the row's data
or its look (cursor, stripe, theme, focus) changed. Rows are appended at the bottom, updated in
place by key, and dropped in batches from the top; cells are computed from a row's data only
when the row is drawn or read. It looks and is driven like a row-cursor DataTable (same component
classes, keys, messages ``RowHighlighted`` / ``RowSelected``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size, Spacing
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from copytui.tui.format import Palette

CELL_PADDING = 1
HEADER_HEIGHT = 1
ELLIPSIS = "…"


@lru_cache(maxsize=512)
def _style(definition: str) -> Style:
    try:
        return Style.parse(definition)
    except Exception:  # an unknown colour name from a theme: show the text unstyled, never crash a frame
        return Style.null()


Part = tuple[str, Style | None]


def cell_parts(value: object, width: int) -> list[Part]:
    """One cell as (text, style) parts exactly ``width`` + 2 * padding cells wide; ``None``: the row's style only.

    Cells are plain values or ``rich.text.Text`` (style, spans, justify); longer ones are cropped and end
    in ``…``, so that a cut value never passes for a whole one (``≠ MNQ +1`` for a drift of +10).
    """
    style: Style | None = None
    justify = None
    spans: Sequence[Any] = ()
    if isinstance(value, Text):
        plain = value.plain
        if value.style:
            style = value.style if isinstance(value.style, Style) else _style(value.style)
        justify = value.justify
        spans = value.spans
    elif value is None:
        plain = ""
    elif isinstance(value, float):
        plain = f"{value:.2f}"
    else:
        plain = str(value)
    if "\n" in plain:
        plain = plain.split("\n", 1)[0]
    size = cell_len(plain)
    if size > width:  # never cut without a mark: the last cell shown is an ellipsis
        plain = set_cell_size(plain, max(0, width - 1)).rstrip() + ELLIPSIS if width else ""
        size = cell_len(plain)
    body: list[Part] = _spans(plain, spans, style) if spans else [(plain, style)] if plain else []
    gap = width - size
    left = right = ""
    if gap:
        if justify == "right":
            left = " " * gap
        elif justify == "center":
            left, right = " " * (gap // 2), " " * (gap - gap // 2)
        else:
            right = " " * gap
    pad = " " * CELL_PADDING
    return [(pad + left, None), *body, (right + pad, None)]


def _spans(plain: str, spans: Sequence[Any], base: Style | None) -> list[Part]:
    """Parts of a multi-style Text's (cropped) ``plain``; later spans win, as in rich."""
    end_at = len(plain)
    cuts = sorted({0, end_at, *(min(s.start, end_at) for s in spans), *(min(s.end, end_at) for s in spans)})
    out: list[Part] = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        style = base or Style.null()
        for span in spans:
            if span.start <= start and end <= span.end:
                style += span.style if isinstance(span.style, Style) else _style(span.style)
        out.append((plain[start:end], style))
    return out


def build_line(cells: Iterable[list[Part]], pre: Style, post: Style | None, scroll_x: int, width: int) -> Strip:
    """One table line ``width`` cells wide from ``scroll_x`` on: the row's style ``pre`` under each part's own
    style, ``post`` over it; neighbouring parts of one style are one segment."""
    merged: list[list[Any]] = []
    for parts in cells:
        for text, style in parts:
            if merged and merged[-1][1] == style:
                merged[-1][0] += text
            elif text:
                merged.append([text, style])
    plain = pre + post if post else pre
    styled: dict[Style, Style] = {}
    segments = []
    x = 0
    end = scroll_x + width
    for text, style in merged:
        size = len(text)
        if size != cell_len(text):  # a double-width character: let Strip do the cropping
            return _slow_line(merged, pre, post, scroll_x, width)
        if x + size <= scroll_x:
            x += size
            continue
        if x >= end:
            break
        text = text[max(0, scroll_x - x) : end - x]
        x += size
        if style is None:
            segments.append(Segment(text, plain))
        else:
            full = styled.get(style)
            if full is None:
                full = styled[style] = pre + style + post if post else pre + style
            segments.append(Segment(text, full))
    used = min(x, end) - scroll_x if x > scroll_x else 0
    if used < width:
        segments.append(Segment(" " * (width - used), plain))
    return Strip(segments, width)


def _slow_line(merged: list[list[Any]], pre: Style, post: Style | None, scroll_x: int, width: int) -> Strip:
    segments = [Segment(text, pre + style if style else pre) for text, style in merged]
    total = sum(cell_len(text) for text, _ in merged)
    if total < scroll_x + width:
        segments.append(Segment(" " * (scroll_x + width - total), pre))
    strip = Strip(list(Segment.apply_style(segments, None, post)))
    return strip.crop(scroll_x, scroll_x + width).adjust_cell_length(width, pre)


class Row:
    """One row: its data, and caches of its cells and its rendered line."""

    __slots__ = ("data", "cells", "line", "line_key")

    def __init__(self, data: Any) -> None:
        self.data = data
        self.cells: tuple[Any, ...] | None = None
        self.line: Strip | None = None
        self.line_key: tuple[Any, ...] | None = None


class DeskTable(ScrollView, can_focus=True):
    """Rows keyed by id; a row's line is rendered once per change of its data or look."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "datatable--header",
        "datatable--cursor",
        "datatable--even-row",
        "datatable--odd-row",
    }

    DEFAULT_CSS = """
    DeskTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        &:focus {
            background-tint: $foreground 5%;
            & > .datatable--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .datatable--header {
                background-tint: $foreground 5%;
            }
        }
        &:dark {
            & > .datatable--even-row {
                background: $surface-darken-1 40%;
            }
        }
        & > .datatable--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .datatable--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .datatable--odd-row {
        }
        & > .datatable--even-row {
            background: $surface-lighten-1 50%;
        }
        & > .datatable--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        # not in the key bar, whose room goes to the trading keys; `?` lists it
        Binding("enter", "select_cursor", "Details", tooltip="Details of the row under the cursor", show=False),
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,ctrl+home", "first_row", "First", show=False),
        Binding("end,ctrl+end", "last_row", "Last", show=False),
        Binding("left", "scroll_left", "Left", show=False),
        Binding("right", "scroll_right", "Right", show=False),
    ]

    class RowHighlighted(Message):
        """The cursor moved to another row."""

        def __init__(self, table: DeskTable, row_key: str, cursor_row: int) -> None:
            super().__init__()
            self.table = table
            self.row_key = row_key
            self.cursor_row = cursor_row

        @property
        def control(self) -> DeskTable:
            return self.table

    class RowSelected(RowHighlighted):
        """Enter (or a click) on a row."""

    def __init__(
        self,
        columns: Sequence[tuple[str, str, int]],
        *,
        flex: str | tuple[str, ...] = (),
        smaller: Sequence[Sequence[tuple[str, str, int]]] = (),
        **kwargs: Any,
    ) -> None:
        """``columns``: (key, label, width) in display order. ``flex``: the key of a column that takes
        the room left over on screen (its width in ``columns`` is its least); several keys: the first
        of them that the columns shown have. ``smaller``: sets of fewer columns, widest first, for
        less room: the widest set that fits is shown, so a column is never cut by the screen's edge
        (the last set is shown when none fits, scrolling sideways)."""
        super().__init__(**kwargs)
        self._columns = tuple(columns)
        self._sets = (tuple(columns), *(tuple(c) for c in smaller))
        self._flex = (flex,) if isinstance(flex, str) else flex
        self._spec = tuple(columns)
        self._col_index = {key: i for i, (key, _, _) in enumerate(self._spec)}
        self._rows: dict[str, Row] = {}
        self._keys: list[str] = []  # display order
        self._first = 0  # serial of _keys[0]: row index = serial - _first
        self._serial: dict[str, int] = {}
        self._next_serial = 0
        self._cursor = 0
        self._highlighted: str | None = None
        self._header: tuple[tuple[Any, ...], Strip] | None = None
        self._width = sum(w + 2 * CELL_PADDING for _, _, w in self._spec)
        self._styles: tuple[Style, ...] = ()
        self._look: tuple[Any, ...] = ()
        self._grown = False  # rows added or dropped since the last commit
        self._changed: list[str] = []  # rows given new data since the last commit
        self.palette: Palette | None = None
        self.virtual_size = Size(self._width, HEADER_HEIGHT)

    def set_columns(self, columns: Sequence[tuple[str, str, int]]) -> None:
        """Show other columns (another set for another terminal size); ``row_cells`` must follow them."""
        if tuple(columns) != self._columns:
            self._columns = tuple(columns)
            self._col_index = {key: i for i, (key, _, _) in enumerate(self._columns)}
            self.forget_cells()
        self._fit()

    def room(self) -> int:
        """Columns of the screen the table's cells can use (a vertical scrollbar's room is kept)."""
        return max(0, self.size.width - self.styles.scrollbar_size_vertical)

    @staticmethod
    def needs(columns: Sequence[tuple[str, str, int]]) -> int:
        """The room ``columns`` take at their least widths."""
        return sum(w + 2 * CELL_PADDING for _, _, w in columns)

    @property
    def column_keys(self) -> tuple[str, ...]:
        return tuple(key for key, _, _ in self._columns)

    def _fit(self) -> None:
        """Column widths for the room on screen: the flexible column takes what the others leave."""
        spec = self._columns
        # room for a vertical scrollbar is kept: rows come without a resize, and a cut must never hide
        room = self.room()
        flex = next((key for key in self._flex if key in self._col_index), None)
        if flex is not None and room:
            others = sum(w + 2 * CELL_PADDING for key, _, w in spec if key != flex)
            spec = tuple(
                (key, label, max(w, room - others - 2 * CELL_PADDING)) if key == flex else (key, label, w)
                for key, label, w in spec
            )
        if spec != self._spec:
            self._spec = spec
            self._width = sum(w + 2 * CELL_PADDING for _, _, w in spec)
            self._header = None
            self.forget_lines()
            self._resized()
            self.refresh()

    def on_resize(self) -> None:
        room = self.room()
        self.set_columns(next((c for c in self._sets if self.needs(c) <= room), self._sets[-1]))

    def set_palette(self, palette: Palette) -> None:
        """Cells painted with another palette (a theme change) are computed again when drawn."""
        if palette != self.palette:
            self.palette = palette
            self.forget_cells()

    # ------------------------------------------------------------ data
    def row_cells(self, data: Any) -> tuple[Any, ...]:
        """The cells of a row from its data; subclasses that store other data override this."""
        return tuple(data)

    def sync_row(self, key: str, data: Any) -> bool:
        """Add the row ``key`` at the bottom, or give it new data. True when anything changed.

        Cheap: the screen is brought up to date once, by ``commit`` (called after a batch of rows)."""
        row = self._rows.get(key)
        if row is None:
            self._rows[key] = Row(data)
            self._serial[key] = self._next_serial
            self._next_serial += 1
            self._keys.append(key)
            self._grown = True
            return True
        if row.data == data:
            return False
        row.data = data
        row.cells = None
        row.line_key = None
        self._changed.append(key)
        return True

    def commit(self) -> None:
        """After ``sync_row``s: size, cursor and the lines on screen that changed, all at once."""
        if self._grown:
            self._grown = False
            self._changed = []
            self._resized()
            self.refresh()  # rows came or went: unchanged lines still come from their cache
        elif self._changed:
            self._refresh_rows(self._changed)
            self._changed = []
        self._highlight()

    def _refresh_rows(self, keys: Iterable[str]) -> None:
        """Repaint only the lines of ``keys`` that are on screen."""
        top = int(self.scroll_y)
        height = self.size.height - HEADER_HEIGHT
        width = self.size.width
        for key in keys:
            serial = self._serial.get(key)
            if serial is None:
                continue
            y = serial - self._first - top
            if 0 <= y < height:
                self.refresh(Region(0, y + HEADER_HEIGHT, width, 1))

    def drop_first(self, count: int) -> None:
        """Drop the ``count`` oldest (top) rows at once. Keeps the cursor on its row when it survives."""
        count = min(count, len(self._keys))
        if count <= 0:
            return
        gone = self._keys[:count]
        del self._keys[:count]
        for key in gone:
            del self._rows[key]
            del self._serial[key]
        self._first += count
        self._cursor = max(0, self._cursor - count)
        if count % 2:  # every remaining row changes stripe
            self.forget_lines()
        self._grown = True
        self.scroll_to(y=max(0, self.scroll_y - count), animate=False, immediate=True)
        self.refresh()

    def drop_all(self) -> None:
        self._rows.clear()
        self._keys.clear()
        self._serial.clear()
        self._first = self._next_serial
        self._cursor = 0
        self._highlighted = None
        self._changed = []
        self._resized()
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    clear = drop_all

    def forget_cells(self) -> None:
        """Recompute every row's cells when next drawn or read (after a theme change)."""
        for row in self._rows.values():
            row.cells = None
            row.line_key = None
        self._header = None
        self.refresh()

    def forget_lines(self) -> None:
        for row in self._rows.values():
            row.line_key = None

    def cells_of(self, key: str) -> tuple[Any, ...]:
        row = self._rows[key]
        if row.cells is None:
            row.cells = self.row_cells(row.data)
        return row.cells

    def get_cell(self, key: str, column: str) -> Any:
        return self.cells_of(key)[self._col_index[column]]

    def data_of(self, key: str) -> Any:
        return self._rows[key].data

    @property
    def rows(self) -> dict[str, Row]:
        """Row objects by key, in display order (read only: change rows with ``sync_row``)."""
        return self._rows

    @property
    def row_keys(self) -> list[str]:
        return list(self._keys)

    @property
    def row_count(self) -> int:
        return len(self._keys)

    # ------------------------------------------------------------ cursor
    @property
    def cursor_row(self) -> int:
        return self._cursor

    @property
    def cursor_key(self) -> str | None:
        return self._keys[self._cursor] if self._keys else None

    def move_cursor(self, *, row: int, animate: bool = False, scroll: bool = True) -> None:
        if not self._keys:
            return
        row = max(0, min(row, len(self._keys) - 1))
        if row != self._cursor:
            self._cursor = row
            self.refresh()
        if scroll:
            self.scroll_to_region(
                Region(int(self.scroll_x), HEADER_HEIGHT + row, 1, 1),
                spacing=Spacing(top=HEADER_HEIGHT),
                animate=animate,
                force=True,
                immediate=True,
            )
        self._highlight()

    def _highlight(self) -> None:
        key = self.cursor_key
        if key is not None and key != self._highlighted:
            self._highlighted = key
            self.post_message(self.RowHighlighted(self, key, self._cursor))

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self._cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self._cursor + 1)

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - HEADER_HEIGHT)

    def action_page_up(self) -> None:
        self.move_cursor(row=self._cursor - self._page())

    def action_page_down(self) -> None:
        self.move_cursor(row=self._cursor + self._page())

    def action_first_row(self) -> None:
        self.move_cursor(row=0)

    def action_last_row(self) -> None:
        self.move_cursor(row=len(self._keys) - 1)

    def action_select_cursor(self) -> None:
        key = self.cursor_key
        if key is not None:
            self.post_message(self.RowSelected(self, key, self._cursor))

    def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < HEADER_HEIGHT:
            return
        row = offset.y - HEADER_HEIGHT + int(self.scroll_y)
        if 0 <= row < len(self._keys):
            event.stop()
            self.move_cursor(row=row)
            self.action_select_cursor()

    # ------------------------------------------------------------ drawing
    def _resized(self) -> None:
        size = Size(self._width, len(self._keys) + HEADER_HEIGHT)
        if size != self.virtual_size:
            self.virtual_size = size  # a layout refresh: an auto-height table grows

    def render_lines(self, crop: Region) -> list[Strip]:
        look = (self.app.theme, self.app.ansi_color, self.get_pseudo_class_state())
        if look != self._look:  # the styles cost more to compute than a line to draw
            get = self.get_component_styles
            self._look = look
            self._styles = (
                self.rich_style,
                get("datatable--header").rich_style,
                get("datatable--even-row").rich_style,
                get("datatable--odd-row").rich_style,
                self.get_component_rich_style("datatable--cursor"),
            )
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = int(self.scroll_x), int(self.scroll_y)
        base, header, even, odd, cursor = self._styles or (Style.null(),) * 5
        if y < HEADER_HEIGHT:
            key = (header, scroll_x, width)
            if self._header is None or self._header[0] != key:
                labels = [cell_parts(label, w) for _, label, w in self._spec]
                self._header = (key, build_line(labels, header, None, scroll_x, width))
            return self._header[1]
        index = y - HEADER_HEIGHT + scroll_y
        if not 0 <= index < len(self._keys):
            return Strip.blank(width, base)
        row = self._rows[self._keys[index]]
        is_cursor = index == self._cursor
        row_style = odd if index % 2 else even
        line_key = (is_cursor, row_style, cursor if is_cursor else None, scroll_x, width)
        if row.line is None or row.line_key != line_key:
            if row.cells is None:
                row.cells = self.row_cells(row.data)
            cells = [cell_parts(v, w) for v, (_, _, w) in zip(row.cells, self._spec, strict=False)]
            if is_cursor:  # the cursor's colour wins over the cells' own, as in a DataTable
                line = build_line(cells, row_style + cursor, Style.from_color(color=cursor.color), scroll_x, width)
            else:
                line = build_line(cells, row_style, None, scroll_x, width)
            row.line = line
            row.line_key = line_key
        return row.line

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
