"""DeskTable: a DataTable whose rows are keyed by id and updated cell by cell, never rebuilt."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.binding import Binding
from textual.widgets import DataTable


class DeskTable(DataTable[Any]):
    """Rows keyed by id; ``sync_row`` touches only the cells whose value changed."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Details", tooltip="Details of the row under the cursor"),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def __init__(self, columns: Sequence[tuple[str, str, int]], **kwargs: Any) -> None:
        """``columns``: (key, label, width) in display order."""
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._spec = tuple(columns)
        self._cells: dict[str, tuple[Any, ...]] = {}

    def on_mount(self) -> None:
        for key, label, width in self._spec:
            self.add_column(label, key=key, width=width)

    def sync_row(self, key: str, cells: tuple[Any, ...]) -> bool:
        """Add the row ``key`` or update its changed cells. True when anything changed."""
        old = self._cells.get(key)
        if old is None:
            self.add_row(*cells, key=key)
            self._cells[key] = cells
            return True
        if old == cells:
            return False
        for (col, _, _), before, after in zip(self._spec, old, cells, strict=True):
            if before != after:
                self.update_cell(key, col, after)
        self._cells[key] = cells
        return True

    def drop_row(self, key: str) -> None:
        if self._cells.pop(key, None) is not None:
            self.remove_row(key)

    def drop_all(self) -> None:
        self._cells.clear()
        self.clear()

    def forget_cells(self) -> None:
        """Make the next ``sync_row`` of every row repaint all its cells (after a theme change)."""
        self._cells = {k: tuple(None for _ in v) for k, v in self._cells.items()}

    @property
    def row_keys(self) -> list[str]:
        return list(self._cells)

    @property
    def cursor_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:  # the cursor sits outside the table while it is being filled
            return None
        return key.value
