"""The order path of the FIX adapter: NewOrderSingle, OrderCancelReplaceRequest and
OrderCancelRequest out, and their first answers (an ExecutionReport, a cancel reject, a session or
business reject) back to the waiting ``place`` / ``modify`` / ``cancel`` as an OrderAck.

Safety: an order is never resent. One ClOrdID makes at most one NewOrderSingle in this adapter's
life (a second ``place`` of it waits for the first's answer, or answers from the session book);
no answer within ack_timeout_s is an AmbiguousOutcome, for the engine to ask by ClOrdID.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from adapters.base import AmbiguousOutcome, Disconnected
from adapters.fix import trailing
from adapters.fix import wire as w
from adapters.fix.book import SessionBook, TrackedOrder
from adapters.fix.frames import Field, FrameError, frame
from adapters.fix.session import FixSession
from adapters.fix.session_config import FixAccount
from copytui.instruments import UnknownSymbol, instrument
from copytui.models import FollowerOrder, OrderAck, OrderStatus, OrderType, Side


@dataclass
class Pending:
    """A request written and not answered yet, keyed by its ClOrdID in :attr:`OrderPath.acks`."""

    kind: str  # new | cancel | replace
    root: str
    future: asyncio.Future[OrderAck]
    sent_ns: int = 0


def order_header(opts: FixAccount, o: TrackedOrder) -> list[Field]:
    """Account, Symbol, Side and TransactTime: what every request about an order carries."""
    return [
        (w.ACCOUNT, opts.account_id),
        (w.SYMBOL, opts.wire_symbol(o.symbol)),
        (w.SIDE, w.SIDE_CODE[o.side]),
        (w.TRANSACT_TIME, w.utc_timestamp()),
    ]


def rejected(order: FollowerOrder, reason: str) -> OrderAck:
    """The answer to an order refused before it was written."""
    now = time.perf_counter_ns()
    return OrderAck(
        client_order_id=order.client_order_id,
        broker_order_id=None,
        status=OrderStatus.REJECTED,
        sent_ns=now,
        ack_ns=now,
        reason=reason,
    )


class OrderPath:
    """place / modify / cancel of one session, and the requests still waiting for their answer."""

    def __init__(self, opts: FixAccount, session: FixSession, book: SessionBook) -> None:
        self.opts = opts
        self.session = session
        self.book = book
        self.acks: dict[str, Pending] = {}

    # ------------------------------------------------------------------ out
    async def place(self, order: FollowerOrder) -> OrderAck:
        coid = order.client_order_id
        in_flight = self.acks.get(coid)
        if in_flight is not None and in_flight.kind == "new":
            return await self._await_ack(in_flight, coid, "NewOrderSingle")  # the same order, once
        known = self.book.find(coid)
        if known is not None:
            # never a second NewOrderSingle for one ClOrdID: answer from what the session knows
            if not known.order_id:
                raise AmbiguousOutcome(f"fix account {self.opts.name}: {coid} was sent without an answer yet")
            now = time.perf_counter_ns()
            return OrderAck(
                client_order_id=coid, broker_order_id=known.order_id, status=known.status, sent_ns=now, ack_ns=now
            )
        order_type, price, problem = self.marketable_limit(order)
        if problem:
            return rejected(order, problem)
        typed = _type_fields(self.opts, order_type, order.symbol, order.side, price, order.stop_price, order.trail)
        if isinstance(typed, str):
            return rejected(order, typed)
        type_fields, trail = typed
        await self.session.ready("NewOrderSingle")
        tracked = TrackedOrder(
            root=coid,
            cl_ord_id=coid,
            symbol=order.symbol,
            side=order.side,
            order_type=order_type,
            qty=order.qty,
            price=price,
            stop_price=order.stop_price,
            trail=trail,
        )
        fields = [
            (w.CL_ORD_ID, coid),
            *order_header(self.opts, tracked),
            (w.ORDER_QTY, order.qty),
            *type_fields,
            (w.TIME_IN_FORCE, w.TIF_CODE[order.tif]),
        ]
        try:
            m = frame(self.opts.begin_string, w.NEW_ORDER, fields)
        except FrameError as exc:
            return rejected(order, str(exc))
        assert self.session.loop is not None
        pending = Pending("new", coid, self.session.loop.create_future())
        self.acks[coid] = pending
        self.book.track(tracked)
        try:
            pending.sent_ns = self.session.send(m, w.NEW_ORDER, coid)
        except Disconnected:
            self.acks.pop(coid, None)
            self.book.orders.pop(coid, None)
            raise
        return await self._await_ack(pending, coid, "NewOrderSingle")

    async def modify(self, order: FollowerOrder) -> OrderAck:
        if not order.target_client_order_id and not order.broker_order_id:
            return rejected(order, "a modify needs the client order id of the order to change")
        await self.session.ready("OrderCancelReplaceRequest")
        o = self._target(order)
        if o.status.final:
            return rejected(order, f"order {o.root} is {o.status.value}")
        order_type = order.order_type if order.order_type is not OrderType.MARKET else o.order_type
        price = order.price if order.price is not None else o.price
        stop = order.stop_price if order.stop_price is not None else o.stop_price
        # a trailing stop's replace: its quantity and trail, never a StopPx (the gateway moves the stop)
        start = None if order_type is OrderType.TRAILING_STOP else stop
        typed = _type_fields(self.opts, order_type, o.symbol, o.side, price, start, order.trail or o.trail)
        if isinstance(typed, str):
            return rejected(order, typed)
        fields = [
            (w.CL_ORD_ID, order.client_order_id),
            (w.ORIG_CL_ORD_ID, o.cl_ord_id),
            (w.ORDER_ID, o.order_id),
            *order_header(self.opts, o),
            (w.ORDER_QTY, order.qty or o.qty),
            *typed[0],
            (w.TIME_IN_FORCE, w.TIF_CODE[order.tif]),
        ]
        return await self._send_change(order, o, w.REPLACE, fields, "OrderCancelReplaceRequest")

    async def cancel(self, order: FollowerOrder) -> OrderAck:
        if not order.target_client_order_id and not order.broker_order_id:
            return rejected(order, "a cancel needs the client order id of the order to cancel")
        await self.session.ready("OrderCancelRequest")
        o = self._target(order)
        if o.status.final:
            return rejected(order, f"order {o.root} is {o.status.value}")
        fields = [
            (w.CL_ORD_ID, order.client_order_id),
            (w.ORIG_CL_ORD_ID, o.cl_ord_id),
            (w.ORDER_ID, o.order_id),
            *order_header(self.opts, o),
            (w.ORDER_QTY, o.qty),
        ]
        return await self._send_change(order, o, w.CANCEL, fields, "OrderCancelRequest")

    def marketable_limit(self, order: FollowerOrder) -> tuple[OrderType, float | None, str | None]:
        """Order type and price on the wire; a reason when the order cannot be sent."""
        ticks = self.opts.marketable_limit_ticks
        if order.order_type is not OrderType.MARKET or ticks is None:
            return order.order_type, order.price, None
        ref = order.reference_price or order.price or self.book.last_price.get(order.symbol)
        if ref is None:
            return (
                order.order_type,
                None,
                (
                    f"marketable_limit_ticks is set but there is no reference price for {order.symbol} "
                    "(no leader fill price and no fill on this session yet)"
                ),
            )
        try:
            inst = instrument(order.symbol)
        except UnknownSymbol as exc:
            return order.order_type, None, f"marketable limit needs the tick size: {exc}"
        return OrderType.LIMIT, inst.round_price(ref + order.side.sign * ticks * inst.tick_size), None

    def _target(self, order: FollowerOrder) -> TrackedOrder:
        target = order.target_client_order_id or order.broker_order_id or ""
        o = self.book.find(target)
        if o is None and order.broker_order_id:
            o = self.book.find(order.broker_order_id)
        if o is None:
            # placed before this process started: the wire needs only its ids, symbol and side
            o = self.book.track(
                TrackedOrder(
                    root=target,
                    cl_ord_id=target,
                    symbol=order.symbol,
                    side=order.side,
                    order_type=order.order_type,
                    qty=order.qty,
                    price=order.price,
                    stop_price=order.stop_price,
                    trail=order.trail,
                    order_id=order.broker_order_id,
                    status=OrderStatus.WORKING,
                )
            )
        return o

    async def _send_change(
        self, order: FollowerOrder, o: TrackedOrder, msg_type: str, fields: list[Field], what: str
    ) -> OrderAck:
        assert self.session.loop is not None
        key = order.client_order_id
        try:
            m = frame(self.opts.begin_string, msg_type, fields)
        except FrameError as exc:
            return rejected(order, str(exc))
        kind = "cancel" if msg_type == w.CANCEL else "replace"
        pending = Pending(kind, o.root, self.session.loop.create_future())
        self.acks[key] = pending
        self.book.link(key, o.root)
        try:
            pending.sent_ns = self.session.send(m, msg_type, key)
        except Disconnected:
            self.acks.pop(key, None)
            raise
        return await self._await_ack(pending, key, what)

    async def _await_ack(self, p: Pending, key: str, what: str) -> OrderAck:
        try:
            async with asyncio.timeout(self.opts.ack_timeout_s):  # no extra task, unlike wait_for
                return await asyncio.shield(p.future)  # a second place() of the same order awaits it too
        except TimeoutError:
            self.acks.pop(key, None)
            raise AmbiguousOutcome(
                f"fix account {self.opts.name}: no answer to {what} {key} within {self.opts.ack_timeout_s:g}s"
            ) from None

    # ------------------------------------------------------------------ answers
    def answered(self, rep: w.ExecReport, recv_ns: int) -> None:
        """An ExecutionReport (not a status report): the answer to the request it names, if one waits."""
        pending = self.acks.get(rep.cl_ord_id or "")
        et = rep.exec_type
        if pending is None:
            # some gateways answer a cancel / replace with the order's original ClOrdID
            root = self.book.root_of(rep)
            want = "cancel" if et in (w.ET_CANCELED, *w.ET_DONE) else "replace" if et == w.ET_REPLACED else ""
            pending = next((p for p in self.acks.values() if p.kind == want and p.root == root), None)
        if pending is None or pending.future.done():
            return
        o = self.book.orders.get(pending.root)
        if et == w.ET_REJECTED:
            status, reason = OrderStatus.REJECTED, rep.text or "rejected by the FIX gateway"
        elif pending.kind == "cancel":
            status, reason = OrderStatus.CANCELLED, None
        elif o is not None:
            status, reason = o.status, None
        else:
            status, reason = rep.status, None
        self.finish(pending, status, reason, rep.order_id or (o.order_id if o else None), recv_ns)

    def cancel_rejected(self, f: w.Fields, recv_ns: int) -> None:
        """An OrderCancelReject (35=9) of a cancel or replace."""
        pending = self.acks.get(f.get(w.CL_ORD_ID) or "")
        if pending is None:
            return
        reasons = {"0": "too late to cancel", "1": "unknown order", "3": "already pending cancel or replace"}
        text = f.text() or reasons.get(f.get(w.CXL_REJ_REASON) or "", "cancel / replace rejected")
        o = self.book.orders.get(pending.root)
        self.finish(pending, OrderStatus.REJECTED, text, o.order_id if o else f.get(w.ORDER_ID), recv_ns)

    def refused(self, key: str, reason: str, recv_ns: int) -> None:
        """A session or business reject of the request sent under ClOrdID ``key``."""
        pending = self.acks.get(key)
        if pending is not None:
            self.finish(pending, OrderStatus.REJECTED, reason, None, recv_ns)

    def finish(self, p: Pending, status: OrderStatus, reason: str | None, order_id: str | None, ack_ns: int) -> None:
        if status in (OrderStatus.SENT, OrderStatus.UNKNOWN):
            status = OrderStatus.WORKING
        # the answer can be read on quickfix's thread before the sender takes its timestamp
        ack_ns = max(ack_ns, p.sent_ns)
        key = next((k for k, v in self.acks.items() if v is p), None)
        if key is not None:
            del self.acks[key]
        if not p.future.done():
            p.future.set_result(
                OrderAck(
                    client_order_id=key or p.root,
                    broker_order_id=order_id,
                    status=status,
                    sent_ns=p.sent_ns,
                    ack_ns=ack_ns,
                    reason=reason,
                )
            )

    def close(self) -> None:
        """The session closed: what was written and never answered may be at the gateway."""
        for pending in self.acks.values():
            if not pending.future.done():
                pending.future.set_exception(AmbiguousOutcome("FIX session closed before the gateway answered"))


def _type_fields(
    opts: FixAccount,
    order_type: OrderType,
    symbol: str,
    side: Side,
    price: float | None,
    stop: float | None,
    trail: float | None,
) -> tuple[list[Field], float | None] | str:
    """The order-type fields on the wire and the trail they send, or why the order cannot go out;
    for a trailing stop ``stop`` is where it starts (None: the gateway starts it from the market)."""
    if order_type is OrderType.TRAILING_STOP:
        return trailing.order_fields(opts, symbol, side, trail, stop)
    return _order_type(order_type, price, stop), None


def _order_type(order_type: OrderType, price: float | None, stop: float | None) -> list[Field]:
    fields: list[Field] = [(w.HANDL_INST, "1"), (w.ORD_TYPE, w.ORD_TYPE_CODE[order_type])]
    if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        fields.append((w.PRICE, price))
    if order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
        fields.append((w.STOP_PX, stop))
    return fields
