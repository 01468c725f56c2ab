"""Brackets at the follower: OCO kept by copytui where the follower's broker has none, the pairs
found again after a restart, and orphan stops.

A mirrored bracket's legs (the leader's stop and target, one leader OCO group) are copied as one
follower OCO group (see ``oco_group_id``). A broker that declares ``Capabilities.brackets`` gets the
group with each leg and keeps it itself; for every other broker copytui does what its OCO would,
the moment a leg fills at the follower, without waiting for the leader's own OCO to be copied: the
other working legs keep at most the filled leg's rest (a modify, or cancel and re-place), and are
cancelled once it is complete. Each change is a journaled follower order whose reason says why
("oco: target filled"); the leader's own OCO change that follows is then a no-op (the router sees
the leg cancelling, or already at that size).

What no emulation can prevent: both legs filling at the broker before copytui's cancel lands. The
follower then holds more than the rule says, and the reconciler reports it as drift.

An orphan stop is a stop or limit copytui placed, still working at a follower that is flat in its
symbol while the leader is flat too and has no working order it copies (the leader's cancel was
missed while copytui was down, a leg filled unseen): its fill would open a position the leader
does not hold. The reconciler asks this room on each pass; it is alerted, and cancelled where the
follower auto-corrects.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from adapters.base import BrokerError
from copytui.engine.blotter import AlertLevel, Blotter
from copytui.engine.copier import Copier
from copytui.engine.follower import Follower
from copytui.engine.intents import IntentState, oco_group_id
from copytui.journal import Journal
from copytui.models import FollowerOrder, OrderAction, OrderInfo, OrderStatus, OrderType

ACCEPTED = (OrderStatus.WORKING, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED)
"""The statuses of a modify the broker took."""

LeaderOrders = Callable[[], Awaitable[list[OrderInfo]]]
"""Reads the leader's working orders from its broker (retried as reads are)."""


def first_of_pair(f: Follower, order: FollowerOrder) -> bool:
    """Whether ``order`` is the first leg of an OCO group that ``f``'s broker would take as one pair
    with its second (``Capabilities.oco_orders``): a new order, the group's only leg so far."""
    return (
        f.adapter.capabilities.oco_orders
        and order.action is OrderAction.PLACE
        and not order.target_client_order_id
        and f.state.oco_legs.get(order.oco_group or "") == [order.client_order_id]
    )


def leg_name(order_type: OrderType) -> str:
    """How a trader calls a bracket leg: a limit is the target, a stop the stop."""
    if order_type is OrderType.LIMIT:
        return "target"
    if order_type in (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP):
        return "stop"
    return "leg"


class OcoEmulator:
    """Keeps the followers' OCO groups where their brokers have none, pairs them again after a
    restart, and finds orphan stops for the reconciler."""

    def __init__(self, copier: Copier, blotter: Blotter, journal: Journal, followers: dict[str, Follower]) -> None:
        self.copier = copier
        self.blotter = blotter
        self.journal = journal
        self.followers = followers
        self._orphans_seen: dict[str, set[str]] = {}
        """Per follower: the client ids of the orphan stops the last pass found."""
        self._orphans_told: dict[tuple[str, str], int] = {}
        """(follower, client id) -> how many times that orphan was alerted."""

    @staticmethod
    def emulated(f: Follower, group: str) -> bool:
        """Whether copytui keeps this OCO group of the follower's (its broker has no native OCO, or
        has not confirmed keeping this group: see ``BrokerAdapter.keeps_oco``; or the group's legs
        did not go to it as one pair: ``FollowerState.native_oco``)."""
        return group not in f.state.native_oco and not f.adapter.keeps_oco(group)

    def leg_filled(self, f: Follower, it: IntentState) -> None:
        """A leg of one of ``f``'s OCO groups filled, partly or fully (its intent already counts the
        fill): shrink or cancel its other working legs now."""
        group = it.order.oco_group
        if group is None or not self.emulated(f, group) or f.state.stopped_by_risk:
            return  # the broker's own OCO acts; a stopped follower is being flattened
        rest = max(0, it.order.qty - it.filled)
        name = leg_name(it.order.order_type)
        if rest:
            reason = f"oco: {name} partly filled ({it.filled} of {it.order.qty})"
        else:
            reason = f"oco: {name} filled"
        for leg in f.state.oco_working(group):
            coid = leg.order.client_order_id
            if leg is it or coid in f.state.cancelling:
                continue
            if leg.status is OrderStatus.UNKNOWN:
                self.blotter.alert(
                    AlertLevel.WARNING,
                    f.name,
                    "oco leg unknown",
                    f"{coid}: its outcome is being asked of {f.adapter.broker}; not changed after its "
                    f"{name} filled (the reconciler will see what it did)",
                )
                continue
            leaves = leg.order.qty - leg.filled
            keep = min(leaves, rest)
            if keep == leaves:
                continue
            qty = 0 if keep == 0 else leg.filled + keep
            marker = f"{it.order.client_order_id}:{it.filled}"
            if not self.copier.change_working(f, leg, qty, reason, f"oco-{coid}", marker) or qty == 0:
                continue
            # the leg's copy now (a replacement has a new client id): the leader's own OCO
            # reduction that follows asks for exactly this and is dropped by the router
            copy = f.state.mirrored.get(leg.order.leader_order_id or "", coid)
            lo = self.copier.builder.orders.get(leg.order.leader_order_id or "")
            price, stop = (lo.price, lo.stop_price) if lo else (leg.order.price, leg.order.stop_price)
            f.state.oco_changed[copy] = (qty, price, stop)

    def regroup(self, f: Follower, *, live: bool = False) -> int:
        """After a restart: put the copies of the leader's OCO legs (as the leader's broker paired
        them again, see ``SignalBuilder.learn_oco_groups``) back into their follower groups. With
        ``live``: the leader's broker linked orders whose copies were placed before it said so
        (``SignalBuilder.linked_late``); each copy's size is then the one copytui keeps on it.
        Returns how many copies were regrouped."""
        if f.state.cfg.mode != "mirror":
            return 0
        orders = self.copier.builder.orders
        leader = self.copier.leader
        copies = set(f.state.mirrored.values())
        sizes: dict[str, int] = {}  # a copy's size after the modifies its broker accepted, in journal order
        for it in () if live else f.state.intents.values():  # live, each copy's order has its size already
            o = it.order
            if o.action is OrderAction.MODIFY and o.target_client_order_id in copies and it.status in ACCEPTED:
                sizes[o.target_client_order_id] = o.qty
        regrouped = 0
        for coid in [c for c in f.state.intents if c in copies]:
            o = f.state.intents[coid].order
            lo = orders.get(o.leader_order_id or "")
            if lo is None or lo.oco_group is None or o.oco_group is not None:
                continue
            f.state.adopt_oco_leg(coid, oco_group_id(leader, lo.oco_group, f.name), sizes.get(coid, o.qty))
            regrouped += 1
        return regrouped

    async def pair_again(self, leader_orders: LeaderOrders) -> None:
        """After a restart: the journal keeps the copies of the leader's working orders, not which
        of them are one OCO group; the leader's broker says again, so a bracket copied before the
        restart is kept after it."""
        if not any(f.state.mirrored for f in self.followers.values()):
            return  # no mirrored copy working: nothing to pair
        try:
            working = await leader_orders()
        except BrokerError as exc:
            self.blotter.alert(AlertLevel.WARNING, self.copier.leader, "brackets not paired",
                               f"cannot read the leader's working orders: {exc}; copies of brackets placed "
                               "before the restart follow the leader's own cancels only")  # fmt: skip
            return
        if self.copier.builder.learn_oco_groups(working):
            for f in self.followers.values():
                self.regroup(f)

    async def orphan_stops(
        self,
        f: Follower,
        open_orders: list[OrderInfo],
        broker_leader: dict[str, int],
        leader_orders: LeaderOrders,
        manual: bool,
    ) -> None:
        """One reconciliation pass's look at ``f``'s working orders (``open_orders``, as its broker
        reported them; ``broker_leader``: the leader's positions at its broker). An orphan stop is
        alerted when seen on two passes running, at once when the trader asked (``manual``)."""
        state = f.state
        builder = self.copier.builder
        candidates: list[tuple[OrderInfo, IntentState]] = []
        for o in open_orders:
            it = state.intents.get(o.client_order_id or "")
            if it is None or o.order_type is OrderType.MARKET or it.order.client_order_id in state.cancelling:
                continue  # not copytui's (the orphan working order alert), or already going
            held = f.positions.get(o.symbol)
            lsym = it.order.leader_symbol or o.symbol
            if (held and held.qty) or builder.positions.get(lsym, 0) or broker_leader.get(lsym, 0):
                continue
            candidates.append((o, it))
        seen = self._orphans_seen.get(state.name, set())
        now: set[str] = set()
        self._orphans_seen[state.name] = now
        if not candidates:
            return
        try:
            working = {builder.order_key(i.broker_order_id, i.client_order_id) for i in await leader_orders()}
        except BrokerError as exc:
            self.blotter.alert(AlertLevel.WARNING, state.name, "orphan check failed",
                               f"cannot read the leader's working orders: {exc}")  # fmt: skip
            return
        for o, it in candidates:
            coid = it.order.client_order_id
            if it.order.leader_order_id in working:
                continue
            now.add(coid)
            if coid not in seen and not manual:
                continue
            self._orphan(f, o, it)

    def _orphan(self, f: Follower, o: OrderInfo, it: IntentState) -> None:
        """Alert an orphan stop (once, unless the follower auto-corrects: then at each cancel)."""
        state = f.state
        key = (state.name, it.order.client_order_id)
        told = self._orphans_told.get(key, 0)
        cancel = state.cfg.auto_correct
        if told and not cancel:
            return
        self._orphans_told[key] = told + 1
        what = f"{o.side} {o.qty} {o.symbol} {o.order_type} ({o.broker_order_id})"
        self.blotter.alert(AlertLevel.WARNING, state.name, "orphan stop",
                           f"{what} is working while the follower and the leader are flat and the leader "
                           "has no order it copies" + ("; cancelling it" if cancel else ""))  # fmt: skip
        if cancel:
            self.journal.operator_action("auto_correct", state.name, f"cancel orphan {what}")
            reason = "orphan stop: follower and leader flat"
            # one signal per attempt: a cancel the broker refused may be tried again on a later pass
            self.copier.change_working(f, it, 0, reason, f"orphan-{it.order.client_order_id}", str(told))
