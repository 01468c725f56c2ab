"""The leaders: one, or several in one copytui. Each has its own signal builder and copier (its
own signal ids, journal cursor and catch-up after a restart), its own OCO pairing, and the
followers that follow it. A follower of several leaders is routed each one's signals and targets
the sum of their positions through its rule (see ``FollowerState.target``); a mirror-mode
follower follows exactly one leader (the config refuses more)."""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.base import BrokerAdapter
from copytui.config import AccountConfig
from copytui.engine.copier import Copier
from copytui.engine.follower import Follower
from copytui.engine.oco import OcoEmulator
from copytui.engine.signals import SignalBuilder
from copytui.models import Position


@dataclass
class LeaderSide:
    cfg: AccountConfig
    adapter: BrokerAdapter
    copier: Copier
    oco: OcoEmulator
    followers: dict[str, Follower]
    """The followers that follow this leader, by name."""
    positions: dict[str, Position] = field(default_factory=dict)
    """As the leader's broker last reported them (the reconciler's reads)."""

    @property
    def name(self) -> str:
        return self.cfg.name

    @property
    def builder(self) -> SignalBuilder:
        return self.copier.builder


def primary(f: Follower, sides: dict[str, LeaderSide]) -> LeaderSide:
    """The leader whose copier makes ``f``'s synthetic signals (a sync, a correction): the first it
    follows; a mirror follower's only one."""
    return sides[f.state.follows[0]] if f.state.follows else next(iter(sides.values()))
