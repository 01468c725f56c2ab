"""A follower's OCO pair as one SUBMIT_NEW_OCO_ORDER (``place_oco``, with ``options.native_oco``).

DTC's SUBMIT_NEW_OCO_ORDER carries two orders (ClientOrderID_1 / _2, OrderType_, BuySell_,
Price1_, Price2_, Quantity_) on one Symbol, Exchange, TradeAccount and TimeInForce; the server
answers each order with its own ORDER_UPDATE (by its ClientOrderID, naming the other in
OCOLinkedOrderServerOrderID), a refused pair with two NEW_ORDER_REJECTED ones. Each leg is answered
here from its own first ORDER_UPDATE, as :meth:`OrderPath.place` answers one order, through the
same waiting table (``OrderPath.places``), so that a single place of a leg's id waits for it too.

PartialFillHandling is sent as REDUCE_QUANTITY: a part fill of one leg shrinks the other by the
fill, the arithmetic copytui's own OCO does (DTC lets a server ignore the field). Later changes to a
leg are ordinary CANCEL_REPLACE_ORDER / CANCEL_ORDER of that leg; DTC says a cancelled leg takes
its partner with it, which is why ``native_oco`` is off by default.

A pair either goes whole or not at all: one leg that cannot go out (its client id, its prices, a
symbol without a Sierra Chart contract, a pair that is not one OCO group on one symbol and one time
in force) refuses both before anything is written. When the connection closes before the answers,
the next session's reads decide (both legs found: answered); otherwise the outcome is ambiguous and
copytui asks by ClientOrderID. Unlike a single order that the next session does not show, a pair
is never sent again: a leg cancelled by its partner's fill while the connection was down leaves no
trace in the open orders or the fills, so a second delivery could not be told from a first.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from adapters.base import AmbiguousOutcome, Disconnected
from adapters.sierrachart.book import OrderState
from adapters.sierrachart.messages import OrderUpdate
from adapters.sierrachart.options import SymbolError
from adapters.sierrachart.orders import DTC_SIDES, DTC_TIFS, DTC_TYPES, REPEAT, Lost, OrderPath, order_ack
from adapters.sierrachart.wire import Msg, PartialFillHandling, Status, Tif, encode
from copytui.instruments import instrument
from copytui.models import FollowerOrder, OrderAck, OrderAction, OrderStatus, OrderType

Acks = tuple[OrderAck, OrderAck]


def _both_refused(first: FollowerOrder, second: FollowerOrder, why: str) -> Acks:
    reason = f"not sent: {why}; an OCO pair goes whole or not at all"
    acks = [order_ack(leg, OrderStatus.REJECTED, 0, None, reason) for leg in (first, second)]
    return acks[0], acks[1]


def pair_refusal(first: FollowerOrder, second: FollowerOrder) -> str | None:
    """Why two orders cannot go out as one SUBMIT_NEW_OCO_ORDER (None: they can)."""
    if first.oco_group is None or first.oco_group != second.oco_group:
        return f"{first.client_order_id} and {second.client_order_id} are not one OCO group"
    if first.action is not OrderAction.PLACE or second.action is not OrderAction.PLACE:
        return "only new orders go out as an OCO pair"
    if first.client_order_id == second.client_order_id:
        return f"both legs have ClientOrderID {first.client_order_id}"
    if first.symbol != second.symbol:
        return f"the legs are in {first.symbol} and {second.symbol}: SUBMIT_NEW_OCO_ORDER names one symbol"
    if first.tif is not second.tif:
        return f"the legs are {first.tif} and {second.tif}: SUBMIT_NEW_OCO_ORDER has one TimeInForce"
    for leg in (first, second):
        if leg.order_type not in DTC_TYPES:
            return f"{leg.client_order_id}: a {leg.order_type} order is not one DTC's OCO pair takes"
        why = OrderPath.refusal(leg)
        if why is not None:
            return f"{leg.client_order_id}: {why}"
    return None


def _prices(order: FollowerOrder, suffix: str) -> dict[str, float]:
    """Price1 / Price2 of one leg on the tick grid: the limit, the stop, or a stop-limit's stop and limit."""
    inst = instrument(order.symbol)
    if order.order_type is OrderType.LIMIT:
        return {f"Price1{suffix}": inst.round_price(order.price or 0.0)}
    if order.order_type is OrderType.STOP:
        return {f"Price1{suffix}": inst.round_price(order.stop_price or 0.0)}
    if order.order_type is OrderType.STOP_LIMIT:
        return {f"Price1{suffix}": inst.round_price(order.stop_price or 0.0),
                f"Price2{suffix}": inst.round_price(order.price or 0.0)}  # fmt: skip
    return {}


def oco_message(path: OrderPath, first: FollowerOrder, second: FollowerOrder) -> bytes:
    """The SUBMIT_NEW_OCO_ORDER of a checked pair, in DTCProtocol.h's field order; SymbolError
    when the symbol has no Sierra Chart contract."""
    fields: dict[str, Any] = {"Symbol": path.symbols.to_sierra(first.symbol), "Exchange": path.opts.exchange}
    for suffix, leg in (("_1", first), ("_2", second)):
        fields[f"ClientOrderID{suffix}"] = leg.client_order_id
        fields[f"OrderType{suffix}"] = int(DTC_TYPES[leg.order_type])
        fields[f"BuySell{suffix}"] = int(DTC_SIDES[leg.side])
        fields |= _prices(leg, suffix)
        fields[f"Quantity{suffix}"] = leg.qty
    fields |= {"TimeInForce": int(DTC_TIFS.get(first.tif, Tif.DAY)), "TradeAccount": path.link.trade_account or "",
               "IsAutomatedOrder": 1, "PartialFillHandling": int(PartialFillHandling.REDUCE_QUANTITY)}  # fmt: skip
    return encode(Msg.SUBMIT_NEW_OCO_ORDER, fields)


def _from_book(order: FollowerOrder, st: OrderState, sent_ns: int, note: str | None = None) -> OrderAck:
    """A leg's ack from what the book knows of it (a repeat, or a pair read again after a loss)."""
    if st.status == Status.REJECTED:
        why = f"{note}; it was rejected: {st.reason}" if note else st.reason or "rejected by Sierra Chart"
        return order_ack(order, OrderStatus.REJECTED, sent_ns, st.broker_id or None, why)
    return order_ack(order, OrderStatus.WORKING, sent_ns, st.broker_id or None, note)


async def place_pair(path: OrderPath, first: FollowerOrder, second: FollowerOrder) -> Acks:
    """``first`` and ``second`` as one OCO pair; one ack per leg, in order (see the module's docstring)."""
    coids = (first.client_order_id, second.client_order_id)
    if any(path.book.find(c) is not None or c in path.places for c in coids):
        return await _repeat(path, first, second)
    refused = pair_refusal(first, second)
    try:
        payload = oco_message(path, first, second) if refused is None else b""
    except SymbolError as exc:
        refused = str(exc)
    if refused is not None:
        return _both_refused(first, second, refused)
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[OrderUpdate]] = [loop.create_future(), loop.create_future()]
    for coid, future in zip(coids, futures, strict=True):
        path.places[coid] = future  # before any wait: a place of a leg's id waits for this pair
    try:
        try:
            if not path.link.ready.is_set() and not await path.link.wait_ready(path.opts.reconnect_wait_s):
                raise Disconnected(f"Sierra Chart {path.account}: the DTC connection is down: {coids} were not sent")
            for leg in (first, second):
                path.store.sending(leg.client_order_id, leg.symbol, leg.side, leg.order_type, leg.qty)
            path.link.send(payload)
        except (Disconnected, asyncio.CancelledError) as exc:
            for future in futures:  # a place of a leg's id waiting on it learns that nothing went out
                future.set_exception(exc if isinstance(exc, Disconnected) else Disconnected(f"{coids} were not sent"))
            raise
        sent_ns = time.perf_counter_ns()
        try:
            answers = await _answers(path, futures)
        except Lost as exc:
            return await _after_loss(path, first, second, sent_ns, exc)
        except (AmbiguousOutcome, asyncio.CancelledError):  # cancelled: the engine stopped waiting
            path.doubt(first, sent_ns)
            path.doubt(second, sent_ns)
            raise
        return path.placed(first, answers[0], sent_ns), path.placed(second, answers[1], sent_ns)
    finally:
        for coid, future in zip(coids, futures, strict=True):
            if path.places.get(coid) is future:
                del path.places[coid]
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: a leg nobody awaited (its partner failed first) is no error


async def _answers(path: OrderPath, futures: list[asyncio.Future[OrderUpdate]]) -> list[OrderUpdate]:
    """Each leg's first ORDER_UPDATE, both within one ``order_timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + path.opts.order_timeout_s
    out = []
    for future in futures:
        try:
            out.append(await asyncio.wait_for(asyncio.shield(future), max(deadline - loop.time(), 0.0)))
        except TimeoutError:
            raise AmbiguousOutcome(
                f"no ORDER_UPDATE from Sierra Chart for both legs of an OCO pair within {path.opts.order_timeout_s:g}s"
            ) from None
    return out


async def _repeat(path: OrderPath, first: FollowerOrder, second: FollowerOrder) -> Acks:
    """A pair placed again, or while it is on its way: each leg answered from what the server said
    of it, never sent again; a leg the server never heard of is not sent alone."""
    acks = []
    for leg, other in ((first, second), (second, first)):
        st = path.book.find(leg.client_order_id)
        waiting = path.places.get(leg.client_order_id)
        if st is not None:
            acks.append(_from_book(leg, st, 0, REPEAT))
        elif waiting is not None:
            acks.append(path.placed(leg, await path.answer(leg.client_order_id, waiting), 0))
        else:
            why = f"not sent: its OCO partner {other.client_order_id} is at Sierra Chart already; no leg goes alone"
            acks.append(order_ack(leg, OrderStatus.REJECTED, 0, None, why))
    return acks[0], acks[1]


async def _after_loss(path: OrderPath, first: FollowerOrder, second: FollowerOrder, sent_ns: int, exc: Lost) -> Acks:
    """The connection closed before both answers: once the next session has read the account again,
    both legs found there are answered; anything less is ambiguous (never sent again)."""
    for leg in (first, second):
        path.doubt(leg, sent_ns)
    if path.link.closing or not await path.link.wait_ready(path.opts.reconnect_wait_s):
        raise AmbiguousOutcome(f"{exc}; not back within {path.opts.reconnect_wait_s:g}s: ask by ClientOrderID")
    found = [path.book.find(leg.client_order_id) or path.claim(leg.client_order_id) for leg in (first, second)]
    if found[0] is None or found[1] is None:
        raise AmbiguousOutcome(f"{exc}; the OCO pair is not among the orders read again: ask by ClientOrderID")
    for leg in (first, second):
        path.in_doubt.pop(leg.client_order_id, None)
    return _from_book(first, found[0], sent_ns), _from_book(second, found[1], sent_ns)
