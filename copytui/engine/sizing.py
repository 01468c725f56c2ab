"""Follower sizing: from the leader's position to the follower's target position.

Sizing is applied to the leader's whole position, not to each fill, so rounding is carried:
after every leader fill the follower's target is ``rule(leader position)`` and the order sent is
the difference from what the follower already holds from copying. A partial fill at any ratio
therefore never makes the follower overshoot (invariant 3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from copytui.config import FollowerConfig


def round_qty(x: float, mode: str) -> int:
    """Round a non-negative fractional quantity to whole contracts."""
    # 1e-9 absorbs float noise such as 3 * 0.1 = 0.30000000000000004
    if mode == "down":
        return math.floor(x + 1e-9)
    if mode == "up":
        return math.ceil(x - 1e-9)
    return math.floor(x + 0.5 + 1e-9)


@dataclass(frozen=True, slots=True)
class SizingRule:
    multiplier: float = 1.0
    rounding: str = "nearest"
    fixed_qty: int | None = None
    max_position: int | None = None
    reverse: bool = False

    @classmethod
    def from_config(cls, cfg: FollowerConfig, leader: str | None = None) -> SizingRule:
        """The follower's rule, for ``leader`` where its ``follows`` entry gives that leader sizing
        of its own (a multiplier or fixed size replaces the follower's; reverse likewise)."""
        own = next((f for f in cfg.follows if f.leader == leader), None) if leader else None
        if own is None or not own.sized:
            return cls(cfg.multiplier, cfg.rounding, cfg.fixed_qty, cfg.max_position, cfg.reverse)
        fixed = own.fixed_qty if own.fixed_qty else (None if own.multiplier else cfg.fixed_qty)
        return cls(
            own.multiplier or cfg.multiplier,
            cfg.rounding,
            fixed,
            cfg.max_position,
            cfg.reverse if own.reverse is None else own.reverse,
        )

    def qty(self, leader_qty: int, factor: float = 1.0) -> int:
        """Unsigned follower quantity for an unsigned leader quantity."""
        if leader_qty <= 0:
            return 0
        q = self.fixed_qty if self.fixed_qty else round_qty(leader_qty * self.multiplier * factor, self.rounding)
        if self.max_position is not None:
            q = min(q, self.max_position)
        return q

    def target(self, leader_position: int, factor: float = 1.0) -> int:
        """Signed follower target position for a signed leader position."""
        sign = (1 if leader_position > 0 else -1) * (-1 if self.reverse else 1)
        return sign * self.qty(abs(leader_position), factor)
