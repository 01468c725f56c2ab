"""The router: per follower, a Signal becomes zero or more FollowerOrders.

Pure bookkeeping, no I/O: the engine journals what the router decides before anything is sent.

``fills`` mode targets a position: after each leader fill the follower should hold
``rule(leader position)``; the order is the difference from its *basis* (what it holds or will
hold from orders it sent that were not rejected). A rejected entry therefore never turns into a
wrong-way exit later. ``mirror`` mode copies the leader's working limit and stop orders with
their changes, and copies the leader's market orders per order, by cumulative quantity; the copies
of one leader OCO group (a bracket) form one follower OCO group (see copytui.engine.oco). Mirror
mode's methods live in copytui.engine.mirror, a base of ``Router``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from adapters.base import Capabilities
from copytui.config import FollowerConfig
from copytui.engine.feedback import LEADER_KINDS
from copytui.engine.guards import in_window
from copytui.engine.ids import client_order_ids
from copytui.engine.intents import FollowerState, IntentState, toward_flat
from copytui.engine.mirror import LeaderLeg, MirrorRoutes
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


class Router(MirrorRoutes):
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
