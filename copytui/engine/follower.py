"""One follower as the engine holds it: its account's adapter, its copy state and router, its
order lane, and the figures the desk shows."""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.base import BrokerAdapter
from copytui.engine.intents import FollowerState
from copytui.engine.lane import OrderLane
from copytui.engine.router import Router
from copytui.engine.stats import FollowerStats
from copytui.models import Position


@dataclass
class Follower:
    state: FollowerState
    adapter: BrokerAdapter
    router: Router
    queue: OrderLane = field(init=False)  # set by the engine: this follower's orders, one at a time
    stats: FollowerStats = field(default_factory=FollowerStats)
    positions: dict[str, Position] = field(default_factory=dict)
    """As the broker last reported them."""
    expected: dict[str, int] = field(default_factory=dict)
    drift: dict[str, int] = field(default_factory=dict)
    """The reconciler's considered view: expected minus held, once orders in flight have settled."""
    figures: tuple[float, float, float, float, float, tuple[float, ...]] = (0.0, 0.0, 0.0, 0.0, 0.0, ())
    figures_key: tuple[int, int, int] = (-1, -1, -1)

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def busy(self) -> int:
        """1 while one of this follower's orders is on its way."""
        return self.queue.busy

    def idle(self) -> bool:
        return self.queue.empty() and not self.queue.busy
