"""The engine's states, as the desk reads them."""

from __future__ import annotations

from enum import StrEnum


class CopyState(StrEnum):
    """What the engine does with a follower now (the desk's State column)."""

    COPYING = "copying"
    PAUSED = "paused"
    BREAKER = "breaker open"
    DISABLED = "disabled"
    WAITING = "waiting for flat"
