"""The router: per follower, a Signal becomes zero or more FollowerOrders.

Pure bookkeeping, no I/O: the engine journals what the router decides before anything is sent.

``fills`` mode targets a position: after each leader fill the follower should hold
``rule(leader position)``; the order is the difference from its *basis* (what it holds or will
hold from orders it sent that were not rejected). A rejected entry therefore never turns into a
wrong-way exit later. ``mirror`` mode copies the leader's working limit and stop orders with
their changes, and copies the leader's market orders per order, by cumulative quantity; the copies
of one leader OCO group (a bracket) form one follower OCO group (see copytui.engine.oco).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Protocol

from adapters.base import Capabilities
from copytui.config import FollowerConfig
from copytui.engine.feedback import LEADER_KINDS
from copytui.engine.guards import in_window
from copytui.engine.ids import client_order_ids
from copytui.engine.intents import FollowerState, IntentState, oco_group_id, toward_flat
from copytui.models import (
    FollowerOrder,
    OrderAction,
    OrderStatus,
    OrderType,
    Side,
    Signal,
    SignalKind,
    trusted_follower_order,
)

# An enum member read through its class costs about 70 ns on 3.11 (the metaclass's attribute
# lookup), a module name about 5: the per-follower path reads these.
_PLACE = OrderAction.PLACE
_SKIPPED = OrderStatus.SKIPPED
_FILL = SignalKind.FILL
_MARKET = OrderType.MARKET
_LIMIT = OrderType.LIMIT


class LeaderLeg(Protocol):
    """What the router reads of a leader's order (``signals.LeaderOrder``, a room above it)."""

    oco_group: str | None
    cum_qty: int


def copy_type(sig: Signal, old: FollowerOrder) -> OrderType:
    """The order type of a working copy's change: a trailing copy stays one; a leader's trailing
    stop copied as a plain stop (its follower's broker has none) stays a plain stop."""
    if old.order_type is OrderType.TRAILING_STOP:
        return OrderType.TRAILING_STOP
    if sig.order_type is OrderType.TRAILING_STOP:
        return OrderType.STOP
    return sig.order_type or old.order_type


class Router:
    def __init__(self, follower: FollowerState) -> None:
        self.f = follower
        self._ids_for: tuple[FollowerConfig, Capabilities] = (follower.cfg, follower.caps)
        self._make_id: Callable[[str, int], str] = client_order_ids(follower.name, follower.caps)
        self.leader_orders: Mapping[str, LeaderLeg] = {}
        """The working orders of the leader a mirror follower follows (its ``SignalBuilder``'s)."""

    def _coid(self, sig: Signal, i: int = 0) -> str:
        f = self.f
        ids_for = self._ids_for
        if ids_for[0] is not f.cfg or ids_for[1] is not f.caps:
            # made once per config and capabilities (both are replaced, never changed, when they change)
            self._make_id = client_order_ids(f.name, f.caps)
            self._ids_for = (f.cfg, f.caps)
        return self._make_id(sig.id, i)

    def _skip(self, sig: Signal, reason: str) -> list[FollowerOrder]:
        sym, _ = self.f.map_symbol(sig.symbol)
        return [
            FollowerOrder(
                follower=self.f.name,
                signal_id=sig.id,
                client_order_id=self._coid(sig),
                action=OrderAction.PLACE,
                symbol=sym,
                side=sig.side or Side.BUY,
                qty=0,
                leader_symbol=sig.symbol,
                leader_order_id=sig.leader_order_id,
                status=OrderStatus.SKIPPED,
                reason=reason,
                recv_ns=sig.recv_ns,
            )
        ]

    def cancel_copy(self, sig: Signal, it: IntentState) -> FollowerOrder:
        """The cancel of one of this follower's orders, for a synthetic signal (the mirror policy,
        the OCO emulation, an orphan's cancel)."""
        o = it.order
        self.f.cancelling.add(o.client_order_id)
        return FollowerOrder(
            follower=self.f.name,
            signal_id=sig.id,
            client_order_id=self._coid(sig),
            action=OrderAction.CANCEL,
            symbol=o.symbol,
            side=o.side,
            qty=0,
            leader_symbol=o.leader_symbol,
            leader_order_id=sig.leader_order_id,
            target_client_order_id=o.client_order_id,
            broker_order_id=it.broker_order_id,
            recv_ns=sig.recv_ns,
        )

    def route(self, sig: Signal) -> list[FollowerOrder]:
        f = self.f
        from_leader = sig.kind in LEADER_KINDS
        if from_leader:
            f.feedback.leader_activity(sig)
        if not f.cfg.enabled:
            return self._skip(sig, "follower disabled")
        if f.stopped_by_risk:
            return self._skip(sig, f"stopped: {f.stopped_by_risk}")
        if f.paused:
            return self._skip(sig, "follower paused")
        if sig.symbol in f.waiting_flat:
            if sig.kind is _FILL and f.leaders_flat(sig.symbol, sig.leader_position, sig.leader):
                f.waiting_flat.discard(sig.symbol)
            else:
                return self._skip(sig, "waiting for the leader to be flat")
        if f.cfg.mode == "mirror":
            orders = self._route_mirror(sig)
        elif sig.kind is _FILL:
            orders = self._fills(sig)
        else:
            return []
        return self._guard(sig, orders, from_leader)

    def _guard(self, sig: Signal, orders: list[FollowerOrder], from_leader: bool) -> list[FollowerOrder]:
        """Risk guards and the breaker, applied to orders that would really be sent."""
        f = self.f
        # a replacement (cancel and re-place) is a modify: guarded as the original was
        if len(orders) == 1:  # the usual case (every follower, every fill): no list to build
            o = orders[0]
            if o.status is _SKIPPED or o.action is not _PLACE or o.target_client_order_id:
                return orders
            live = orders
        else:
            live = [
                o for o in orders if o.status is not _SKIPPED and o.action is _PLACE and not o.target_client_order_id
            ]
            if not live:
                return orders
        risk = f.cfg.risk
        held = f.basis.get(sig.symbol, 0)
        after, largest = held, 0
        for o in live:  # one pass, no generators: this runs for every follower on every leader fill
            after += o.signed_qty if o.oco_group is None else self._adds(o)
            if o.qty > largest:
                largest = o.qty
        reducing = after == held or (abs(after) < abs(held) and (after == 0 or (after > 0) == (held > 0)))
        reason = ""
        if risk.max_order is not None and largest > risk.max_order:
            reason = f"risk: order above max_order {risk.max_order}"
        elif not reducing and not in_window(risk.trading_hours):
            reason = f"risk: outside trading hours {risk.trading_hours}"
        elif not f.breaker.allow():
            reason = f"breaker open: {f.breaker.reason}"
        elif from_leader and (loop := f.feedback.admit(live)):
            reason = f"risk: {loop}"
            f.feedback_trip = loop
        if not reason:
            return orders
        for o in live:  # the mirror bookkeeping assumed these would go
            loid = o.leader_order_id
            if loid and loid in f.held_by_order:
                f.held_by_order[loid] -= o.qty
            if loid and f.mirrored.get(loid) == o.client_order_id:
                del f.mirrored[loid]
        return self._skip(sig, reason)

    def _adds(self, order: FollowerOrder) -> int:
        """What placing ``order`` adds to the follower's basis: a further leg of an OCO group adds
        only what its group's exposure grows by (nothing, for a bracket's second leg)."""
        group = order.oco_group
        if group is None:
            return order.signed_qty
        return self.f.oco_exposure(group, order) - self.f.oco_exposure(group)

    def _fills(self, sig: Signal) -> list[FollowerOrder]:
        """Fills mode: to the rule's target, within the follower's copy policies."""
        f = self.f
        held = f.basis.get(sig.symbol, 0)
        target = f.policy_target(sig.symbol, sig.leader_position, sig.leader)
        why, limit_open = "", False
        if f.cfg.close_only and target != f.target(sig.symbol, sig.leader_position, sig.leader):
            why = "close only: nothing opens"
        late_ms = self._late_ms(sig)
        if late_ms is not None and toward_flat(held, target) != target:
            if f.cfg.late_entry == "skip":
                opened = toward_flat(held, target)
                f.late_skipped[sig.symbol] = f.late_skipped.get(sig.symbol, 0) + target - opened
                target, why = opened, f"late entry skipped: the leader's fill is {late_ms / 1000:.1f}s old"
            elif f.cfg.late_entry == "limit_at_leader_price" and sig.fill_price is not None:
                limit_open = True
        if why and target == held:
            return self._skip(sig, why)
        if not limit_open:
            return self._to_target(sig, target)
        # the exit part at market, the late opening part as a limit at the leader's fill price
        flat = toward_flat(held, target)
        orders = self.market(sig, flat - held) if flat != held else []
        return orders + self.market(sig, target - flat, first=len(orders), limit=sig.fill_price)

    def _late_ms(self, sig: Signal) -> float | None:
        """How late a leader fill is, when it is later than the follower's max_copy_delay_ms."""
        most = self.f.cfg.max_copy_delay_ms
        if most is None or not sig.wall_ns:
            return None
        age_ms = (time.time_ns() - sig.wall_ns) / 1e6
        return age_ms if age_ms > most else None

    def _to_target(self, sig: Signal, target: int) -> list[FollowerOrder]:
        f = self.f
        held = f.basis.get(sig.symbol, 0)
        delta = target - held
        if delta == 0:
            return self._skip(sig, "no change at this size")
        opening = abs(target) > abs(held) and target != 0
        if opening and abs(delta) < f.cfg.min_order_qty:
            return self._skip(sig, f"below min order qty {f.cfg.min_order_qty}")
        return self.market(sig, delta)

    def market(
        self,
        sig: Signal,
        delta: int,
        leader_order_id: str | None = None,
        *,
        first: int = 0,
        limit: float | None = None,
    ) -> list[FollowerOrder]:
        """Orders for ``delta`` contracts at market (or, with ``limit``, limit orders at that price),
        split by max_order_qty; their client ids count from ``first``. Made without pydantic's
        validation: every value comes from the validated signal and config (see
        ``trusted_follower_order``)."""
        f = self.f
        sym, _ = f.map_symbol(sig.symbol)
        side = Side.for_delta(delta)
        chunk = f.cfg.max_order_qty or abs(delta)
        out: list[FollowerOrder] = []
        left, i = abs(delta), first
        while left > 0:
            q = min(chunk, left)
            out.append(
                trusted_follower_order(
                    follower=f.name,
                    signal_id=sig.id,
                    client_order_id=self._coid(sig, i),
                    action=_PLACE,
                    symbol=sym,
                    side=side,
                    qty=q,
                    order_type=_MARKET if limit is None else _LIMIT,
                    price=limit,
                    leader_symbol=sig.symbol,
                    leader_order_id=leader_order_id or sig.leader_order_id,
                    reference_price=sig.fill_price,
                    recv_ns=sig.recv_ns,
                )
            )
            left -= q
            i += 1
        return out

    def _replace(self, sig: Signal, it: IntentState, qty: int) -> list[FollowerOrder]:
        """The follower's broker cannot modify: cancel the copy, then place the rest anew. The
        execution sends the new order only once the copy is cancelled with nothing more filled."""
        f, old = self.f, it.order
        oid = old.leader_order_id or ""
        rest = qty - it.filled
        cancel = self.cancel_copy(sig, it)
        order_type = copy_type(sig, old)
        place = FollowerOrder(
            follower=f.name,
            signal_id=sig.id,
            client_order_id=self._coid(sig, 1),
            action=OrderAction.PLACE,
            symbol=old.symbol,
            side=old.side,
            qty=rest,
            order_type=order_type,
            price=sig.price,
            stop_price=sig.stop_price,
            trail=(sig.trail or old.trail) if order_type is OrderType.TRAILING_STOP else None,
            leader_symbol=old.leader_symbol,
            leader_order_id=oid,
            target_client_order_id=old.client_order_id,
            recv_ns=sig.recv_ns,
            reference_price=sig.price if order_type is OrderType.LIMIT else sig.stop_price,
            oco_group=old.oco_group,
        )
        # the basis: the cancel gives back the copy's unfilled part, the new order adds its own
        f.held_by_order[oid] = f.held_by_order.get(oid, 0) + rest
        f.mirrored[oid] = place.client_order_id
        f.replacing[place.client_order_id] = it.filled
        return [cancel, place]

    def change_copy(self, sig: Signal, it: IntentState, qty: int) -> list[FollowerOrder]:
        """Bring one working copy to ``qty`` (fills included) at the signal's prices: a modify, or a
        cancel and re-place where the follower's broker cannot modify."""
        f, old = self.f, it.order
        if not f.caps.modify:
            return self._replace(sig, it, qty)
        oid = old.leader_order_id or ""
        f.oco_changed.pop(old.client_order_id, None)  # what copytui set on it is no longer what it has
        delta_qty = qty - old.qty
        f.held_by_order[oid] = f.held_by_order.get(oid, 0) + delta_qty
        it.order = old.model_copy(update={"qty": qty})
        if old.oco_group is not None:
            f.recount_oco(old.oco_group)
        else:
            f.basis[old.leader_symbol] = f.basis.get(old.leader_symbol, 0) + old.side.sign * delta_qty
        trailing = old.order_type is OrderType.TRAILING_STOP  # its broker moves the stop: qty and trail only
        return [
            FollowerOrder(
                follower=f.name,
                signal_id=sig.id,
                client_order_id=self._coid(sig),
                action=OrderAction.MODIFY,
                symbol=old.symbol,
                side=old.side,
                qty=qty,
                order_type=copy_type(sig, old),
                price=None if trailing else sig.price,
                stop_price=None if trailing else sig.stop_price,
                trail=(sig.trail or old.trail) if trailing else None,
                leader_symbol=old.leader_symbol,
                leader_order_id=oid,
                target_client_order_id=old.client_order_id,
                broker_order_id=it.broker_order_id,
                recv_ns=sig.recv_ns,
                oco_group=old.oco_group,
            )
        ]

    def _route_mirror(self, sig: Signal) -> list[FollowerOrder]:
        f = self.f
        oid = sig.leader_order_id or ""
        sym, factor = f.map_symbol(sig.symbol)
        if sig.kind is SignalKind.NEW:
            qty = f.rule.qty(sig.qty, factor)
            if qty == 0:
                return self._skip(sig, "rounds to zero")
            assert sig.side and sig.order_type
            order_type, trail = sig.order_type, None
            if order_type is OrderType.TRAILING_STOP:
                if sig.trail is not None and f.caps.trailing_stops:
                    trail = sig.trail  # its broker trails it: the leader's moves are not copied to it
                else:
                    order_type = OrderType.STOP  # a stop copytui moves each time the leader's moves
            order = FollowerOrder(
                follower=f.name,
                signal_id=sig.id,
                client_order_id=self._coid(sig),
                action=OrderAction.PLACE,
                symbol=sym,
                side=sig.side,
                qty=qty,
                order_type=order_type,
                price=sig.price,
                stop_price=sig.stop_price,
                trail=trail,
                leader_symbol=sig.symbol,
                leader_order_id=oid,
                recv_ns=sig.recv_ns,
                reference_price=sig.price if order_type is OrderType.LIMIT else sig.stop_price,
                oco_group=oco_group_id(sig.leader, sig.oco_group, f.name) if sig.oco_group else None,
            )
            held = f.basis.get(sig.symbol, 0)
            if f.cfg.close_only and toward_flat(held, held + self._adds(order)) != held + self._adds(order):
                return self._skip(sig, "close only: nothing opens")
            f.mirrored[oid] = order.client_order_id
            f.held_by_order[oid] = qty
            if order.oco_group in f.native_oco:  # a third leg: the broker's pair does not hold it
                f.native_oco.discard(order.oco_group)  # copytui keeps the whole group from now on
            return [order]
        copy = f.mirrored.get(oid)
        it = f.intents.get(copy) if copy else None
        if copy is None or it is None or it.status.final or copy in f.cancelling:
            # not copied, done, or being cancelled already (the OCO emulation was first): nothing to do
            return self._fill_unmirrored(sig) if sig.kind is SignalKind.FILL and oid not in f.mirrored else []
        if sig.kind is SignalKind.MODIFY:
            qty = max(f.rule.qty(sig.qty, factor), it.filled + 1)
            old = it.order
            if old.order_type is OrderType.TRAILING_STOP and qty == old.qty and sig.trail in (None, old.trail):
                return []  # only the leader's stop moved: the copy's own broker moves the copy's
            if f.oco_changed.get(copy) == (qty, sig.price, sig.stop_price):
                del f.oco_changed[copy]  # the leader's own OCO did what copytui's already did
                return []
            return self.change_copy(sig, it, qty)
        if sig.kind is SignalKind.CANCEL:
            if self._broker_cancels(it.order.oco_group, oid):
                return self._skip(sig, "oco: its broker cancels it when the other leg fills")
            return [self.cancel_copy(sig, it)]
        return []

    def _broker_cancels(self, group: str | None, oid: str) -> bool:
        """The leader's OCO cancelled its order ``oid`` because another leg of its group filled, and
        the follower's broker keeps the copies' pair: the copy is left to it. Sent, the cancel would
        take the copy of the filled leg with it where a cancel cancels the pair (DTC, NinjaTrader),
        before the follower's own leg fills; left, the follower keeps both legs until one fills."""
        f = self.f
        if group is None or not (group in f.native_oco or f.caps.brackets):
            return False
        lo = self.leader_orders.get(oid)
        if lo is None or lo.oco_group is None:
            return False
        return any(o.oco_group == lo.oco_group and o.cum_qty > 0 for o in self.leader_orders.values() if o is not lo)

    def _fill_unmirrored(self, sig: Signal) -> list[FollowerOrder]:
        """A fill of a leader order we did not mirror (a market order): copied by its cumulative quantity."""
        f = self.f
        oid = sig.leader_order_id or ""
        assert sig.side
        _, factor = f.map_symbol(sig.symbol)
        want = f.rule.qty(sig.cum_qty, factor)
        have = f.held_by_order.get(oid, 0)
        if want <= have:
            return self._skip(sig, "no change at this size")
        f.held_by_order[oid] = want
        delta = sig.side.sign * (want - have)
        if f.cfg.close_only:  # a follower that winds down takes only what reduces its position
            held = f.basis.get(sig.symbol, 0)
            delta = toward_flat(held, held + delta) - held
            if delta == 0:
                return self._skip(sig, "close only: nothing opens")
        return self.market(sig, delta, oid)
