"""The copy path goes first: desk widgets draw each line only while the engine's loop is idle.

The engine thread and the desk share the GIL. ``EngineThread.give_way`` waits without it (so the
engine has the interpreter, and a CPU, to itself) while the engine's loop has work; this mixin calls
it before each line of a widget's drawing, for at most ``FRAME_GIVE_WAY_S`` per drawing, so that a
long burst of copying slows the desk down but never freezes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.geometry import Region
from textual.strip import Strip

FRAME_GIVE_WAY_S = 0.02


class GivesWay:
    """Mixin for a Textual widget (listed before the widget class)."""

    _give_way: Callable[[float], float] | None = None
    _give_way_left = 0.0

    def begin_giving_way(self) -> None:
        """Start a piece of work (a drawing, a batch of rows) with a fresh budget."""
        bridge = getattr(self.app, "bridge", None)  # type: ignore[attr-defined]
        self._give_way = bridge.give_way if bridge is not None else None
        self._give_way_left = FRAME_GIVE_WAY_S

    def render_lines(self, crop: Region) -> list[Strip]:
        self.begin_giving_way()
        return super().render_lines(crop)  # type: ignore[misc, no-any-return]

    def give_way(self) -> None:
        if self._give_way is not None and self._give_way_left > 0:
            self._give_way_left -= self._give_way(self._give_way_left)

    def render_line(self, y: int) -> Any:
        self.give_way()
        return super().render_line(y)  # type: ignore[misc]
