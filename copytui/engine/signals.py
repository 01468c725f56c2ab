"""From leader AccountEvents to Signals with deterministic ids (invariant 2).

The builder keeps the leader's cumulative filled quantity per order and its net position per
symbol. A fill whose cumulative quantity is not above the last one seen is a duplicate or an
out-of-order replay: it maps to an id already journaled, or to nothing, and is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from copytui.engine.ids import signal_id
from copytui.instruments import instrument
from copytui.journal import JournaledSignal
from copytui.models import AccountEvent, EventKind, OrderInfo, OrderType, Side, Signal, SignalKind


@dataclass
class LeaderOrder:
    order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    qty: int
    price: float | None
    stop_price: float | None
    version: int = 0
    cum_qty: int = 0
    done: bool = False
    oco_group: str | None = None
    """The leader broker's OCO group of the order: its other working legs share it."""
    trail: float | None = None
    """A trailing stop's distance from the market, when the leader's broker gives it."""


@dataclass
class SignalBuilder:
    leader: str
    positions: dict[str, int] = field(default_factory=dict)
    orders: dict[str, LeaderOrder] = field(default_factory=dict)
    stale_dropped: int = 0
    order_ids_restart: bool = False
    """The leader's broker reuses order ids across sessions (FIX): an order is then known by its
    client order id and order id together (invariant 12)."""
    linked_late: list[str] = field(default_factory=list)
    """Leader orders whose OCO group their broker reported only after an earlier event of the
    order (a link stated on the other leg first): the engine pairs their copies then, and clears this."""

    def build(self, ev: AccountEvent) -> Signal | None:
        if ev.symbol is not None and ev.kind is not EventKind.POSITION:
            instrument(ev.symbol)  # an unknown symbol is refused here, before any state changes
        if self.order_ids_restart and ev.order_id and ev.client_order_id:
            ev = ev.model_copy(update={"order_id": self.order_key(ev.order_id, ev.client_order_id)})
        if ev.kind is EventKind.FILL:
            return self._fill(ev)
        if ev.kind is EventKind.ORDER_NEW:
            return self._new(ev)
        if ev.kind is EventKind.ORDER_MODIFIED:
            return self._modify(ev)
        if ev.kind is EventKind.ORDER_CANCELLED:
            return self._cancel(ev)
        if ev.kind is EventKind.ORDER_REJECTED and ev.order_id in self.orders:
            self.orders[ev.order_id].done = True
        return None

    def _order(self, ev: AccountEvent) -> LeaderOrder:
        assert ev.order_id is not None and ev.symbol and ev.side and ev.order_type
        o = self.orders.get(ev.order_id)
        if o is None:
            o = LeaderOrder(ev.order_id, ev.symbol, ev.side, ev.order_type, ev.qty, ev.price, ev.stop_price, ev.version)
            o.trail = ev.trail
            self.orders[ev.order_id] = o
        elif ev.oco_group is not None and o.oco_group is None:
            self.linked_late.append(o.order_id)
        if ev.oco_group is not None:
            o.oco_group = ev.oco_group
        return o

    def order_key(self, order_id: str, client_order_id: str | None) -> str:
        """The key of a leader order in ``orders``, as ``build`` makes it from an event's ids."""
        if self.order_ids_restart and client_order_id:
            return f"{client_order_id}~{order_id}"
        return order_id

    def learn_oco_groups(self, working: list[OrderInfo]) -> int:
        """After a restart: the OCO groups of the leader's working orders, as its broker reports
        them (the journal keeps the orders, not their pairing). Returns how many orders were paired."""
        paired = 0
        for info in working:
            o = self.orders.get(self.order_key(info.broker_order_id, info.client_order_id))
            if o is not None and info.oco_group is not None:
                o.oco_group = info.oco_group
                paired += 1
        return paired

    def _new(self, ev: AccountEvent) -> Signal | None:
        known = ev.order_id in self.orders
        o = self._order(ev)
        if known or ev.order_type is OrderType.MARKET or o.done:
            return None
        return self._signal(ev, SignalKind.NEW, signal_id(self.leader, o.order_id, "new", 0), o)

    def _modify(self, ev: AccountEvent) -> Signal | None:
        if ev.order_id not in self.orders:
            # the order's creation was missed (dropped stream): it is new to us
            o = self._order(ev)
            if ev.order_type is OrderType.MARKET:
                return None
            return self._signal(ev, SignalKind.NEW, signal_id(self.leader, o.order_id, "new", 0), o)
        o = self._order(ev)
        same = (ev.qty, ev.price, ev.stop_price, ev.trail) == (o.qty, o.price, o.stop_price, o.trail)
        if o.done or (ev.version and ev.version <= o.version) or (not ev.version and same):
            self.stale_dropped += 1
            return None
        o.version, o.qty, o.price, o.stop_price = ev.version, ev.qty, ev.price, ev.stop_price
        if ev.trail is not None:  # a broker that reports the trail once keeps it until it says otherwise
            o.trail = ev.trail
        marker = ev.version if ev.version else f"{ev.qty}:{ev.price}:{ev.stop_price}"
        if not ev.version and ev.trail is not None:
            marker = f"{marker}:{ev.trail}"
        return self._signal(ev, SignalKind.MODIFY, signal_id(self.leader, o.order_id, "modify", marker), o)

    def _cancel(self, ev: AccountEvent) -> Signal | None:
        if ev.order_id is None:
            return None
        o = self.orders.get(ev.order_id)
        if o is None or o.done:
            return None
        o.done = True
        return self._signal(ev, SignalKind.CANCEL, signal_id(self.leader, o.order_id, "cancel", 0), o)

    def _fill(self, ev: AccountEvent) -> Signal | None:
        oid = ev.order_id or ev.fill_id or ""
        o = self.orders.get(oid)
        if o is None:
            assert ev.symbol and ev.side
            o = LeaderOrder(
                oid,
                ev.symbol,
                ev.side,
                ev.order_type or OrderType.MARKET,
                max(ev.qty, ev.cum_qty),
                ev.price,
                ev.stop_price,
            )
            self.orders[oid] = o
        elif ev.oco_group is not None and o.oco_group is None:
            self.linked_late.append(oid)
        if ev.oco_group is not None:
            o.oco_group = ev.oco_group
        if ev.cum_qty <= o.cum_qty:
            self.stale_dropped += 1
            return None
        delta = ev.cum_qty - o.cum_qty
        o.cum_qty = ev.cum_qty
        if o.cum_qty >= o.qty:
            o.done = True
        pos = self.positions.get(o.symbol, 0) + o.side.sign * delta
        self.positions[o.symbol] = pos
        return Signal(
            id=signal_id(self.leader, oid, "fill", ev.cum_qty),
            leader=self.leader,
            kind=SignalKind.FILL,
            leader_order_id=oid,
            symbol=o.symbol,
            side=o.side,
            order_type=o.order_type,
            qty=o.qty,
            price=o.price,
            stop_price=o.stop_price,
            fill_qty=delta,
            cum_qty=ev.cum_qty,
            fill_price=ev.fill_price,
            leader_position=pos,
            oco_group=o.oco_group,
            trail=o.trail,
            wall_ns=ev.wall_ns,
            recv_ns=ev.recv_ns,
        )

    def _signal(self, ev: AccountEvent, kind: SignalKind, sid: str, o: LeaderOrder) -> Signal:
        return Signal(
            id=sid,
            leader=self.leader,
            kind=kind,
            leader_order_id=o.order_id,
            symbol=o.symbol,
            side=o.side,
            order_type=o.order_type,
            qty=o.qty,
            price=o.price,
            stop_price=o.stop_price,
            cum_qty=o.cum_qty,
            leader_position=self.positions.get(o.symbol, 0),
            oco_group=o.oco_group,
            trail=o.trail,
            wall_ns=ev.wall_ns,
            recv_ns=ev.recv_ns,
        )

    def restore(self, signals: Iterable[JournaledSignal]) -> None:
        """Rebuild from the journal's signals of the leader's orders after a restart."""
        for r in signals:
            oid = r.leader_order_id
            o = self.orders.get(oid)
            if o is None:
                o = LeaderOrder(oid, r.symbol, r.side, r.order_type, r.qty, r.price, r.stop_price)
                o.trail = r.trail
                self.orders[oid] = o
            if r.kind is SignalKind.FILL:
                o.cum_qty = max(o.cum_qty, r.cum_qty)
                o.done = o.cum_qty >= o.qty
                self.positions[r.symbol] = r.leader_position
            elif r.kind is SignalKind.CANCEL:
                o.done = True
            elif r.kind is SignalKind.MODIFY:
                o.qty, o.price, o.stop_price = r.qty, r.price, r.stop_price
                o.trail = r.trail if r.trail is not None else o.trail
