"""What the engine knows of each follower: its copy state, its basis (what it holds or will hold
from the orders it was sent), its intents (each journaled order and what came of it), and the copy
policies' bookkeeping. The router decides from it; the execution updates the intents' status.

The legs of a mirrored OCO group (a bracket's stop and target) count in the basis once, as the
group: what they filled plus the largest rest still working, since at most one of them completes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from adapters.base import Capabilities
from copytui.config import FollowerConfig
from copytui.engine.feedback import FeedbackGuard
from copytui.engine.guards import Breaker
from copytui.engine.sizing import SizingRule
from copytui.engine.states import CopyState
from copytui.journal import LIVE_STATUSES
from copytui.models import FollowerOrder, OrderAction, OrderStatus, OrderType

# An enum member read through its class costs about 70 ns on 3.11: add_intent (every order) reads these.
_PLACE = OrderAction.PLACE
_SKIPPED = OrderStatus.SKIPPED


def oco_group_id(leader: str, leader_group: str, follower: str) -> str:
    """The follower-side OCO group of the copies of one leader OCO group: derived, not stored, so a
    restart that learns the leader's group again maps it to the same follower group."""
    key = f"{leader}|{leader_group}|{follower}"
    return "oco" + hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


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
    cancelling: set[str] = field(default_factory=set)
    """Client ids of working orders whose cancel copytui has routed: a second cancel (the leader's
    own after the OCO emulation's, or the other way round) is a no-op."""
    oco_changed: dict[str, tuple[int, float | None, float | None]] = field(default_factory=dict)
    """A leg copytui itself reduced (OCO emulation) -> the (qty, price, stop price) it set: the
    leader's own OCO reduction that follows asks for the same and is a no-op."""
    oco_legs: dict[str, list[str]] = field(default_factory=dict)
    """Follower OCO group -> the client ids of its legs (placed orders), oldest first."""
    oco_counted: dict[str, int] = field(default_factory=dict)
    """Follower OCO group -> the signed quantity its legs count for in ``basis`` now."""
    live: dict[str, IntentState] = field(default_factory=dict)
    """The intents not final when last looked at (every one not final now is here): what the
    reconciler's passes walk, not the thousand intents kept (``not_final``)."""
    native_oco: set[str] = field(default_factory=set)
    """Follower OCO groups whose two legs its broker took as one OCO pair (``place_oco``): the
    broker keeps them, copytui does not. After a restart: the groups of the working copies the
    broker reports in an OCO of its own (``Reconciler._refresh_working``)."""
    rules: dict[str, SizingRule] = field(default_factory=dict)
    """Following several leaders: each one's rule (its ``follows`` entry's sizing, else ``rule``)."""
    books: dict[str, dict[str, int]] = field(default_factory=dict)
    """The leaders this follower follows -> each one's position per symbol from the events copied
    (the leader's signal builder's own dict, read live). Set by the engine; empty in a bare state,
    where a target is the rule applied to the one position given."""

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

    @property
    def follows(self) -> tuple[str, ...]:
        return tuple(self.books)

    def target(self, leader_symbol: str, leader_position: int, leader: str | None = None) -> int:
        """The rule's target in ``leader_symbol`` when ``leader`` holds ``leader_position``. Following
        several leaders, the sum of each one's position through the rule (the others' as copied so
        far), capped at max_position: two leaders trading one contract net out instead of fighting,
        and each leader's fills move the follower by that leader's part only."""
        _, factor = self.map_symbol(leader_symbol)
        if len(self.books) <= 1:
            return self.rule.target(leader_position, factor)
        total = 0
        for name, book in self.books.items():
            rule = self.rules.get(name, self.rule)
            total += rule.target(leader_position if name == leader else book.get(leader_symbol, 0), factor)
        cap = self.rule.max_position
        return total if cap is None else max(-cap, min(cap, total))

    def leaders_flat(self, leader_symbol: str, leader_position: int, leader: str | None = None) -> bool:
        """Whether every leader this follower follows is flat in ``leader_symbol`` (``leader`` at
        ``leader_position``)."""
        if leader_position != 0:
            return False
        return all(not book.get(leader_symbol, 0) for name, book in self.books.items() if name != leader)

    def leader_position(self, leader_symbol: str) -> int:
        """The followed leaders' positions in ``leader_symbol``, summed (for a bare state: 0)."""
        return sum(book.get(leader_symbol, 0) for book in self.books.values())

    def expected(self, leader_symbols: Iterable[str] = ()) -> dict[str, int]:
        """What this follower should hold, by its own symbols, for the leader positions copied so
        far (every symbol a followed leader traded, and ``leader_symbols``), within its copy
        policies (close_only, late entries skipped)."""
        symbols = dict.fromkeys(leader_symbols)
        for book in self.books.values():
            symbols.update(dict.fromkeys(book))
        out: dict[str, int] = {}
        for lsym in symbols:
            fsym, _ = self.map_symbol(lsym)
            out[fsym] = out.get(fsym, 0) + self.policy_target(lsym, self.leader_position(lsym))
        return out

    def policy_target(self, leader_symbol: str, leader_position: int, leader: str | None = None) -> int:
        """The rule's target less what late leader fills did not open, and, for a follower that
        winds down (close_only), never more than it holds."""
        target = self.target(leader_symbol, leader_position, leader)
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
        status = order.status
        it = self.intents[order.client_order_id] = IntentState(order, status)
        if status is _SKIPPED:
            return
        self.live[order.client_order_id] = it
        if order.action is not _PLACE:
            return
        if order.oco_group is None:
            self.basis[order.leader_symbol] = self.basis.get(order.leader_symbol, 0) + order.signed_qty
            return
        self.oco_legs.setdefault(order.oco_group, []).append(order.client_order_id)
        self.recount_oco(order.oco_group)

    def not_final(self) -> list[IntentState]:
        """The intents not final now, oldest first; those found final are dropped from ``live``."""
        out: list[IntentState] = []
        done: list[str] = []
        for coid, it in self.live.items():
            if it.status.final:
                done.append(coid)
            else:
                out.append(it)
        for coid in done:
            del self.live[coid]
        return out

    def oco_working(self, group: str) -> list[IntentState]:
        """The group's legs not final (working or on their way), oldest first."""
        legs = (self.intents.get(coid) for coid in self.oco_legs.get(group, ()))
        return [it for it in legs if it is not None and not it.status.final]

    def held_for_sync(self, leader_symbol: str) -> int:
        """The basis without the unfilled rest of working orders that would reduce the position (a
        protective stop, a bracket's legs): they protect what is held, they do not hold it, so a
        resume's sync must not buy it again. Resting entries stay counted (their fill reaches the
        target)."""
        rests: list[int] = []
        for it in self.not_final():
            o = it.order
            if (
                o.leader_symbol != leader_symbol
                or o.action is not OrderAction.PLACE
                or o.order_type is OrderType.MARKET
                or o.oco_group is not None
                or it.status.final
                or it.status is OrderStatus.SKIPPED
            ):
                continue
            rests.append(o.side.sign * (o.qty - it.filled))
        for group, counted in self.oco_counted.items():
            legs = [self.intents[c] for c in self.oco_legs.get(group, ()) if c in self.intents]
            if legs and legs[0].order.leader_symbol == leader_symbol:
                rests.append(counted - sum(it.order.side.sign * it.filled for it in legs))
        basis = self.basis.get(leader_symbol, 0)
        filled = basis - sum(rests)
        protective = sum(r for r in rests if filled and (r > 0) != (filled > 0))
        return basis - protective

    def oco_exposure(self, group: str, extra: FollowerOrder | None = None) -> int:
        """What the group's legs (and ``extra``, a leg about to be placed) add to the position at
        most: their fills plus the largest unfilled rest of one working leg, signed."""
        legs = [it for coid in self.oco_legs.get(group, ()) if (it := self.intents.get(coid)) is not None]
        filled = sum(it.order.side.sign * it.filled for it in legs)
        rests = [(it.order.qty - it.filled) * it.order.side.sign for it in legs if not it.status.final]
        if extra is not None:
            rests.append(extra.signed_qty)
        return filled + max(rests, key=abs, default=0)

    def recount_oco(self, group: str) -> None:
        """Bring the group's part of the basis to its exposure now (after a leg was added, changed,
        cancelled or rejected)."""
        legs = self.oco_legs.get(group)
        if not legs or legs[0] not in self.intents:
            return
        symbol = self.intents[legs[0]].order.leader_symbol
        now = self.oco_exposure(group)
        self.basis[symbol] = self.basis.get(symbol, 0) + now - self.oco_counted.get(group, 0)
        self.oco_counted[group] = now

    def adopt_oco_leg(self, client_order_id: str, group: str, qty: int) -> None:
        """After a restart, or once its leader order is linked late: a copy is a leg of ``group``,
        ``qty`` its size after the changes the broker accepted. The basis counted it on its own, at
        its own size; from now on it counts as part of its group."""
        it = self.intents[client_order_id]
        o = it.order
        counted = o.qty if it.status in LIVE_STATUSES else it.filled
        self.basis[o.leader_symbol] = self.basis.get(o.leader_symbol, 0) - o.side.sign * counted
        it.order = o.model_copy(update={"oco_group": group, "qty": qty})
        self.oco_legs.setdefault(group, []).append(client_order_id)
        self.recount_oco(group)

    def on_its_way(self) -> dict[str, int]:
        """Per follower symbol, the signed unfilled part of market orders on their way and not yet
        final: what the broker's position does not show yet but will. An order whose outcome is
        unknown is not counted: until the broker is asked, the gap it may leave shows as drift."""
        out: dict[str, int] = {}
        for it in self.not_final():
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
        if excess <= 0:
            return
        busy = {g for g in self.oco_legs if self.oco_working(g)}  # their fills still count in the group
        final = [c for c, it in self.intents.items() if it.status.final and it.order.oco_group not in busy]
        for coid in final[:excess]:
            del self.intents[coid]
            self.live.pop(coid, None)
            self.cancelling.discard(coid)
            self.oco_changed.pop(coid, None)
        for group in [g for g, legs in self.oco_legs.items() if not any(c in self.intents for c in legs)]:
            del self.oco_legs[group]
            self.oco_counted.pop(group, None)
            self.native_oco.discard(group)

    def release(self, client_order_id: str, unfilled: int) -> None:
        """Take back the unfilled part of a rejected or cancelled order from the basis."""
        it = self.intents.get(client_order_id)
        if it is None or unfilled <= 0:
            return
        o = it.order
        if o.oco_group is not None:
            self.recount_oco(o.oco_group)
        else:
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
