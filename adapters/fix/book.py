"""What one FIX session has seen: its orders by ClOrdID chain, its fills and the net positions
derived from them. Lives on the event loop (the adapter hands quickfix's callbacks over first).

An order is known by its *root*: the first ClOrdID it had (copytui's client order id). A cancel or
replace gives it new ClOrdIDs on the wire; they all map back to the root, so every AccountEvent
names the order copytui placed. Positions start from the last RequestForPositions snapshot, when
the gateway answers one, and move with each fill after it (netted by
:func:`copytui.models.apply_fill`, the one position arithmetic); without snapshots they are the
session's own fills.

A fill is known by :func:`fill_identity`, never by its ExecID alone (DESIGN.md invariant 12).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from adapters.fix.trailing import ET_RESTATED
from adapters.fix.wire import (
    ET_CANCELED,
    ET_DONE,
    ET_NEW,
    ET_PENDING,
    ET_REJECTED,
    ET_REPLACED,
    ET_STATUS,
    ET_TRADE,
    ExecReport,
)
from copytui.models import (
    MAX_QTY,
    AccountEvent,
    EventKind,
    OrderInfo,
    OrderStatus,
    OrderType,
    Position,
    Side,
    apply_fill,
)


@dataclass
class TrackedOrder:
    root: str
    cl_ord_id: str
    symbol: str
    side: Side
    order_type: OrderType
    qty: int
    price: float | None = None
    stop_price: float | None = None
    trail: float | None = None
    order_id: str | None = None
    filled: int = 0
    avg_px: float | None = None
    status: OrderStatus = OrderStatus.SENT
    version: int = 0
    announced: bool = False

    def info(self, account: str) -> OrderInfo:
        return OrderInfo(
            account=account,
            broker_order_id=self.order_id or "",
            client_order_id=self.root,
            symbol=self.symbol,
            side=self.side,
            order_type=self.order_type,
            qty=self.qty,
            filled_qty=self.filled,
            price=self.price,
            stop_price=self.stop_price,
            avg_fill_price=self.avg_px,
            status=self.status,
            trail=self.trail,
        )


def fill_identity(cl_ord_id: str, order_id: str | None, exec_id: str | None, cum: int) -> str:
    """The id of one execution, unique for good: the order's ClOrdID, the broker's OrderID and the
    ExecID (the order's cumulative quantity when the report has no ExecID).

    FIX promises an ExecID unique only within a day and a session, and a counterparty may restart
    its ExecIDs and OrderIDs at 1 with each process (QuickFIX's executor does); a ClOrdID names one
    order and copytui never reuses one, so the three together stay unique across such a restart.
    """
    parts = (cl_ord_id, order_id or "", exec_id or f"cum={cum}")
    return "|".join(part.replace("%", "%25").replace("|", "%7C") for part in parts)


@dataclass
class _Pos:
    qty: int = 0
    avg: float = 0.0


@dataclass
class SessionBook:
    account: str
    orders: dict[str, TrackedOrder] = field(default_factory=dict)
    alias: dict[str, str] = field(default_factory=dict)
    by_order_id: dict[str, str] = field(default_factory=dict)
    fill_ids: set[str] = field(default_factory=set)
    fills: list[AccountEvent] = field(default_factory=list)
    positions: dict[str, _Pos] = field(default_factory=dict)
    last_price: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------ what we send
    def track(self, order: TrackedOrder) -> TrackedOrder:
        self.orders[order.root] = order
        self.alias[order.root] = order.root
        self.alias[order.cl_ord_id] = order.root
        if order.order_id:
            self.by_order_id[order.order_id] = order.root
        return order

    def link(self, cl_ord_id: str, root: str) -> None:
        """A cancel / replace request's ClOrdID names the order ``root``."""
        self.alias[cl_ord_id] = root

    def find(self, client_order_id: str) -> TrackedOrder | None:
        root = self.alias.get(client_order_id)
        if root is None:
            root = self.by_order_id.get(client_order_id)
        return self.orders.get(root) if root else None

    def reject(self, root: str, reason: str, seq: int, recv_ns: int, wall_ns: int) -> list[AccountEvent]:
        """A session or business reject of our NewOrderSingle: the order never lived."""
        o = self.orders.get(root)
        if o is None or o.status.final:
            return []
        o.status = OrderStatus.REJECTED
        return [self._event(o, EventKind.ORDER_REJECTED, seq, recv_ns, wall_ns, reason=reason)]

    def open_orders(self) -> list[OrderInfo]:
        return [o.info(self.account) for o in self.orders.values() if not o.status.final and o.order_id]

    def position_list(self) -> list[Position]:
        return [
            Position(account=self.account, symbol=s, qty=p.qty, avg_price=p.avg)
            for s, p in sorted(self.positions.items())
            if p.qty
        ]

    def set_positions(self, snapshot: dict[str, tuple[int, float]]) -> None:
        """A complete RequestForPositions answer: it replaces every derived position."""
        self.positions = {s: _Pos(q, a) for s, (q, a) in snapshot.items()}

    # ------------------------------------------------------ what the gateway says
    def root_of(self, rep: ExecReport) -> str | None:
        for key in (rep.cl_ord_id, rep.orig_cl_ord_id):
            if key and key in self.alias:
                return self.alias[key]
        # by OrderID only when the report names no ClOrdID: a counterparty that restarted reuses its
        # OrderIDs, so a report with a ClOrdID this session never saw is a new order (invariant 12)
        if rep.order_id and not rep.cl_ord_id and rep.order_id in self.by_order_id:
            return self.by_order_id[rep.order_id]
        return None

    def apply(
        self, rep: ExecReport, seq: int, recv_ns: int, wall_ns: int, trail: float | None = None
    ) -> list[AccountEvent]:
        """Update from one ExecutionReport; the AccountEvents it means (none for duplicates). ``trail``:
        the trailing stop's distance the report gives (PegDifference 211, see adapters.fix.trailing)."""
        root = self.root_of(rep)
        o = self.orders.get(root) if root else None
        if o is None:
            o = self._adopt(rep, trail)
            if o is None:
                if rep.exec_type == ET_TRADE:
                    raise ValueError(f"FIX fill {rep.exec_id} names no order this session knows or can follow")
                return []
        if rep.cl_ord_id and rep.exec_type not in (ET_REJECTED,):
            self.alias.setdefault(rep.cl_ord_id, o.root)
        if rep.order_id and not o.order_id:
            o.order_id = rep.order_id
            self.by_order_id[rep.order_id] = o.root
        et = rep.exec_type
        ev: list[AccountEvent] = []
        if et == ET_TRADE:
            return self._fill(o, rep, seq, recv_ns, wall_ns)
        if et == ET_STATUS:
            self._restate(o, rep, trail)
            return []
        if o.status.final:
            return []  # a late or resent report about an order that is over
        if et == ET_NEW:
            o.status = OrderStatus.WORKING
            if o.order_type is OrderType.TRAILING_STOP and rep.stop_px is not None:
                o.stop_price = rep.stop_px  # where the gateway started it (from the market, or where it was asked)
            if not o.announced:
                o.announced = True
                ev.append(self._event(o, EventKind.ORDER_NEW, seq, recv_ns, wall_ns))
        elif et in ET_PENDING:
            o.status = rep.status if rep.status is not OrderStatus.UNKNOWN else o.status
        elif et == ET_REPLACED:
            if rep.cl_ord_id:
                o.cl_ord_id = rep.cl_ord_id
            o.qty = rep.qty if rep.qty and rep.qty > 0 else o.qty  # a negative OrderQty is unreadable
            o.order_type = rep.ord_type or o.order_type
            # a replace restates the whole order: without ExecInst a it no longer trails
            o.trail = (trail or o.trail) if o.order_type is OrderType.TRAILING_STOP else None
            o.price = rep.price if rep.price is not None else o.price
            o.stop_price = rep.stop_px if rep.stop_px is not None else o.stop_price
            o.version += 1
            o.announced = True
            o.status = OrderStatus.PARTIALLY_FILLED if o.filled else OrderStatus.WORKING
            ev.append(self._event(o, EventKind.ORDER_MODIFIED, seq, recv_ns, wall_ns))
        elif et == ET_RESTATED:  # the gateway changed the order itself: a trailing stop's move
            before = (o.qty, o.price, o.stop_price, o.trail)
            self._restate(o, rep, trail, fills=False)
            if (o.qty, o.price, o.stop_price, o.trail) != before:
                o.version += 1
                ev.append(self._event(o, EventKind.ORDER_MODIFIED, seq, recv_ns, wall_ns))
        elif et == ET_CANCELED or et in ET_DONE:
            o.status = OrderStatus.CANCELLED
            ev.append(self._event(o, EventKind.ORDER_CANCELLED, seq, recv_ns, wall_ns, reason=rep.text or None))
        elif et == ET_REJECTED:
            o.status = OrderStatus.REJECTED
            reason = rep.text or "rejected by the FIX gateway"
            ev.append(self._event(o, EventKind.ORDER_REJECTED, seq, recv_ns, wall_ns, reason=reason))
        return ev

    def _adopt(self, rep: ExecReport, trail: float | None) -> TrackedOrder | None:
        """An order this session did not place (drop copy, another session): start tracking it."""
        if not rep.symbol or rep.side is None or not (rep.cl_ord_id or rep.order_id):
            return None
        if rep.exec_type == ET_STATUS and rep.status is OrderStatus.REJECTED:
            return None  # "unknown order" answer to a status request
        qty = rep.qty or ((rep.cum_qty or 0) + (rep.leaves_qty or 0)) or rep.last_qty
        if qty <= 0:
            return None
        order_type = rep.ord_type or (OrderType.LIMIT if rep.price is not None else OrderType.MARKET)
        root = rep.orig_cl_ord_id or rep.cl_ord_id or f"order-{rep.order_id}"
        o = TrackedOrder(
            root=root,
            cl_ord_id=rep.cl_ord_id or root,
            symbol=rep.symbol,
            side=rep.side,
            order_type=order_type,
            qty=qty,
            price=rep.price,
            stop_price=rep.stop_px,
            trail=trail if order_type is OrderType.TRAILING_STOP else None,
            order_id=rep.order_id,
        )
        return self.track(o)

    def _restate(self, o: TrackedOrder, rep: ExecReport, trail: float | None, fills: bool = True) -> None:
        """What a status report (or, without ``fills``, a restatement) says the order is now. A report
        naming no ExecInst a leaves a trailing stop trailing: an echo of the order, not a replace."""
        if fills:
            if rep.status is not OrderStatus.UNKNOWN:
                o.status = rep.status
            if rep.cum_qty is not None and rep.cum_qty >= o.filled:
                o.filled = rep.cum_qty
                o.avg_px = rep.avg_px if rep.avg_px else o.avg_px
        if rep.qty and rep.qty > 0:
            o.qty = rep.qty
        if rep.price is not None:
            o.price = rep.price
        if rep.stop_px is not None:
            o.stop_price = rep.stop_px
        if rep.ord_type is OrderType.TRAILING_STOP:
            o.order_type, o.trail = OrderType.TRAILING_STOP, trail or o.trail

    def _fill(self, o: TrackedOrder, rep: ExecReport, seq: int, recv_ns: int, wall_ns: int) -> list[AccountEvent]:
        if rep.bust:
            return []
        if rep.last_qty <= 0 or rep.last_px is None:
            # the client counts it: a fill copytui cannot read is never dropped without a trace
            raise ValueError(
                f"FIX fill {rep.exec_id} of {o.root}: LastQty {rep.last_qty}, LastPx {rep.last_px}: not a usable fill"
            )
        cum = rep.cum_qty if rep.cum_qty is not None else o.filled + rep.last_qty
        cum = max(cum, rep.last_qty)
        # Read from the report itself, the id is the same each time the report comes (a PossDup
        # resend, a replay after logon, after copytui restarted with an empty book): the journal's
        # key (follower, fill_id) stops it too. Within this process the same execution reported
        # under another ClOrdID of its order is known by the order's root as well.
        fill_id = fill_identity(rep.cl_ord_id or o.root, rep.order_id, rep.exec_id, cum)
        by_root = fill_identity(o.root, rep.order_id, rep.exec_id, cum)
        if fill_id in self.fill_ids or by_root in self.fill_ids:
            return []  # the same execution again
        if not rep.exec_id and cum <= o.filled:
            return []  # no ExecID to tell a resend from a new fill: the cumulative quantity does
        filled = max(o.filled, cum)
        avg = rep.avg_px if rep.avg_px else ((o.avg_px or 0.0) * o.filled + rep.last_px * rep.last_qty) / max(filled, 1)
        held = self.positions.get(o.symbol, _Pos())
        net, net_avg, _ = apply_fill(held.qty, held.avg, o.side.sign * rep.last_qty, rep.last_px)
        pos = _Pos(net, net_avg)  # the book's own is changed only once the fill is known usable
        if not (cum <= MAX_QTY and abs(pos.qty) <= MAX_QTY and math.isfinite(avg) and math.isfinite(pos.avg)):
            # nothing is counted: the book stays as it was, the client logs this report as unusable
            raise ValueError(
                f"FIX fill {rep.exec_id or cum} of {o.root}: {rep.last_qty} at {rep.last_px} is not a usable fill"
            )
        self.fill_ids.update((fill_id, by_root))
        self.positions[o.symbol], self.last_price[o.symbol] = pos, rep.last_px
        o.filled, o.avg_px = filled, avg
        o.qty = max(o.qty, o.filled)
        done = rep.ord_status == "2" or (rep.leaves_qty == 0 and rep.ord_status != "1") or o.filled >= o.qty
        o.status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
        fill = self._event(
            o,
            EventKind.FILL,
            seq,
            recv_ns,
            wall_ns,
            fill_id=fill_id,
            fill_qty=rep.last_qty,
            cum_qty=cum,
            fill_price=rep.last_px,
            avg_price=o.avg_px,
        )
        self.fills.append(fill)
        position = AccountEvent(
            account=self.account,
            kind=EventKind.POSITION,
            symbol=o.symbol,
            position=pos.qty,
            avg_price=pos.avg,
            seq=seq,
            wall_ns=wall_ns,
            recv_ns=recv_ns,
        )
        return [fill, position]

    def _event(self, o: TrackedOrder, kind: EventKind, seq: int, recv_ns: int, wall_ns: int, **kw: Any) -> AccountEvent:
        base: dict[str, Any] = dict(
            account=self.account,
            kind=kind,
            order_id=o.order_id or o.root,
            client_order_id=o.root,
            symbol=o.symbol,
            side=o.side,
            order_type=o.order_type,
            qty=o.qty,
            price=o.price,
            stop_price=o.stop_price,
            trail=o.trail,
            version=o.version,
            cum_qty=o.filled,
            seq=seq,
            wall_ns=wall_ns,
            recv_ns=recv_ns,
        )
        base.update(kw)
        return AccountEvent(**base)
