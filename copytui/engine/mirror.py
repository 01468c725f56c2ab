"""Mirror mode's half of the router: a leader's working orders copied with their changes and
cancels, each copy a FollowerOrder (see copytui.engine.router, whose ``Router`` this is a base of).

A leader's limit or stop is copied at the rule's size; its modifies become modifies of the copy
(or a cancel and re-place where the follower's broker cannot modify), its cancel the copy's
cancel, except where the follower's broker keeps the copy's OCO pair and the leader's own OCO
cancelled the order (``_broker_cancels``). The copies of one leader OCO group form one follower OCO
group (see copytui.engine.oco); a third leg of a group whose pair its broker keeps makes copytui
keep the whole group. A leader's market order is copied by its cumulative quantity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from copytui.engine.intents import FollowerState, IntentState, oco_group_id, toward_flat
from copytui.models import FollowerOrder, OrderAction, OrderType, Signal, SignalKind


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


class MirrorRoutes:
    """The mirror-mode methods of ``Router``; what they use of it is declared here."""

    f: FollowerState
    leader_orders: Mapping[str, LeaderLeg]

    def _coid(self, sig: Signal, i: int = 0) -> str:
        raise NotImplementedError

    def _skip(self, sig: Signal, reason: str) -> list[FollowerOrder]:
        raise NotImplementedError

    def _adds(self, order: FollowerOrder) -> int:
        raise NotImplementedError

    def cancel_copy(self, sig: Signal, it: IntentState) -> FollowerOrder:
        raise NotImplementedError

    def market(
        self,
        sig: Signal,
        delta: int,
        leader_order_id: str | None = None,
        *,
        first: int = 0,
        limit: float | None = None,
    ) -> list[FollowerOrder]:
        raise NotImplementedError

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
