"""What the engine knows of each follower: its copy state, its basis (what it holds or will hold
from the orders it was sent), its intents (each journaled order and what came of it), and the copy
policies' bookkeeping. The router decides from it; the execution updates the intents' status."""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.base import Capabilities
from copytui.config import FollowerConfig
from copytui.engine.feedback import FeedbackGuard
from copytui.engine.guards import Breaker
from copytui.engine.sizing import SizingRule
from copytui.engine.states import CopyState
from copytui.models import FollowerOrder, OrderAction, OrderStatus, OrderType


@dataclass
class IntentState:
    """What the engine knows of one follower order after it was journaled."""

    order: FollowerOrder
    status: OrderStatus
    filled: int = 0
    avg_price: float | None = None
    broker_order_id: str | None = None


@dataclass
class FollowerState:
    cfg: FollowerConfig
    caps: Capabilities
    rule: SizingRule
    paused: bool = False
    waiting_flat: set[str] = field(default_factory=set)  # leader symbols to skip until the leader is flat
    basis: dict[str, int] = field(default_factory=dict)  # leader symbol -> signed qty held or on its way
    held_by_order: dict[str, int] = field(default_factory=dict)  # mirror: leader order id -> qty sent
    mirrored: dict[str, str] = field(default_factory=dict)  # leader order id -> follower client order id
    intents: dict[str, IntentState] = field(default_factory=dict)
    breaker: Breaker = field(default_factory=Breaker)
    stopped_by_risk: str = ""  # why a risk guard stopped this follower for the session
    feedback_trip: str = ""  # set by the feedback guard; the engine stops the follower for it
    loss_baseline: float | None = None  # P&L when the session started, for the daily loss limit
    late_skipped: dict[str, int] = field(default_factory=dict)
    """Per leader symbol, the follower contracts a late leader fill did not open (late_entry: skip):
    left out of the target until the leader's position goes back through flat."""
    replacing: dict[str, int] = field(default_factory=dict)
    """Broker without modify: replacement order's client id -> its original's filled quantity when
    the replacement was routed (sent only if the original is cancelled with nothing more filled)."""

    def __post_init__(self) -> None:
        r = self.cfg.risk
        self.breaker = Breaker(failures_to_open=r.breaker_failures, cooldown_s=r.breaker_cooldown_s)
        self.feedback = FeedbackGuard(self.cfg)

    @property
    def name(self) -> str:
        return self.cfg.name

    @property
    def copy_state(self) -> CopyState:
        if not self.cfg.enabled or self.stopped_by_risk:
            return CopyState.DISABLED
        if self.breaker.state != "closed":
            return CopyState.BREAKER
        if self.paused:
            return CopyState.PAUSED
        if self.waiting_flat:
            return CopyState.WAITING
        return CopyState.COPYING

    def map_symbol(self, leader_symbol: str) -> tuple[str, float]:
        m = self.cfg.symbol_map.get(leader_symbol)
        return (m.symbol, m.factor) if m else (leader_symbol, 1.0)

    def target(self, leader_symbol: str, leader_position: int) -> int:
        _, factor = self.map_symbol(leader_symbol)
        return self.rule.target(leader_position, factor)

    def expected(self, leader_positions: dict[str, int]) -> dict[str, int]:
        """What this follower should hold, by its own symbols, for these leader positions, within
        its copy policies (close_only, late entries skipped)."""
        out: dict[str, int] = {}
        for lsym, lpos in leader_positions.items():
            fsym, _ = self.map_symbol(lsym)
            out[fsym] = out.get(fsym, 0) + self.policy_target(lsym, lpos)
        return out

    def policy_target(self, leader_symbol: str, leader_position: int) -> int:
        """The rule's target less what late leader fills did not open, and, for a follower that
        winds down (close_only), never more than it holds."""
        target = self.target(leader_symbol, leader_position)
        skipped = self.late_skipped.get(leader_symbol, 0)
        if skipped:
            if target == 0 or (target > 0) != (skipped > 0):
                skipped = 0  # the leader went back through flat: the skip is over
            elif abs(target) < abs(skipped):
                skipped = target  # the leader reduced into the part that was not copied
            if skipped:
                self.late_skipped[leader_symbol] = skipped
            else:
                self.late_skipped.pop(leader_symbol, None)
            target -= skipped
        if self.cfg.close_only:
            target = toward_flat(self.basis.get(leader_symbol, 0), target)
        return target

    # bookkeeping on each intent's life
    def add_intent(self, order: FollowerOrder) -> None:
        self.intents[order.client_order_id] = IntentState(order, order.status)
        if order.action is OrderAction.PLACE and order.status is not OrderStatus.SKIPPED:
            self.basis[order.leader_symbol] = self.basis.get(order.leader_symbol, 0) + order.signed_qty

    def on_its_way(self) -> dict[str, int]:
        """Per follower symbol, the signed unfilled part of market orders on their way and not yet
        final: what the broker's position does not show yet but will. An order whose outcome is
        unknown is not counted: until the broker is asked, the gap it may leave shows as drift."""
        out: dict[str, int] = {}
        for it in self.intents.values():
            o = it.order
            if (
                o.action is OrderAction.PLACE
                and o.order_type is OrderType.MARKET
                and not it.status.final
                and it.status is not OrderStatus.UNKNOWN
            ):
                left = o.qty - it.filled
                if left > 0:
                    out[o.symbol] = out.get(o.symbol, 0) + o.side.sign * left
        return out

    def prune(self, keep: int) -> None:
        """Forget the oldest final intents beyond ``keep`` (dicts keep insertion order)."""
        excess = len(self.intents) - keep
        for coid in [c for c, it in self.intents.items() if it.status.final][: max(0, excess)]:
            del self.intents[coid]

    def release(self, client_order_id: str, unfilled: int) -> None:
        """Take back the unfilled part of a rejected or cancelled order from the basis."""
        it = self.intents.get(client_order_id)
        if it is None or unfilled <= 0:
            return
        o = it.order
        self.basis[o.leader_symbol] = self.basis.get(o.leader_symbol, 0) - o.side.sign * unfilled
        if o.leader_order_id and o.leader_order_id in self.held_by_order:
            self.held_by_order[o.leader_order_id] -= unfilled


def toward_flat(held: int, target: int) -> int:
    """The part of the way from ``held`` to ``target`` that only reduces the position: never past
    flat, never beyond ``held``."""
    if held > 0:
        return min(max(target, 0), held)
    if held < 0:
        return max(min(target, 0), held)
    return 0
