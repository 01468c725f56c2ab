"""Changes to working orders over DTC: CANCEL_REPLACE_ORDER and CANCEL_ORDER, each settled by the
ORDER_UPDATE that names the order (reason CANCEL_REPLACE_COMPLETE / _REJECTED, CANCELED /
CANCEL_REJECTED, or a final status), and SUBMIT_FLATTEN_POSITION_ORDER.

The order keeps its ClientOrderID through a change: a cancel-replace carries the order's own
ServerOrderID and ClientOrderID, Price1 / Price2 with their IsSet flags (an unset price is left as it
is), and the new Quantity. One change of an order is in flight at a time: DTC answers changes by
order id only. A change lost with the connection is settled by the next session's view of the order
when that view shows it done (or the order final), else sent once more.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from adapters.base import AmbiguousOutcome, BrokerError, Disconnected
from adapters.sierrachart.book import OrderState
from adapters.sierrachart.messages import OrderUpdate
from adapters.sierrachart.orders import FINAL, Lost, OrderPath, order_ack
from adapters.sierrachart.wire import Msg, Reason, Status, encode, status_name
from copytui.instruments import instrument
from copytui.models import FollowerOrder, OrderAck, OrderStatus, OrderType


def settled(st: OrderState) -> OrderUpdate:
    """An order's state as the update that would have said it (a change settled by a resync)."""
    reason = Reason.ORDER_CANCELED if st.status == Status.CANCELED else Reason.ORDER_CANCEL_REPLACE_COMPLETE
    return OrderUpdate(
        request_id=0, total=0, number=0, no_orders=False, symbol="", server_id=st.server_id, previous_server_id="",
        client_id=st.client_id or "", status=st.status, reason=reason, order_type=0, buy_sell=0, price1=None,
        price2=None, order_qty=st.qty, filled_qty=st.cum, avg_fill_price=st.avg, last_fill_price=None,
        last_fill_qty=None, last_fill_exec_id="", trade_account="", info_text=st.reason, latest=st.latest,
    )  # fmt: skip


async def modify(path: OrderPath, order: FollowerOrder, st: OrderState) -> OrderAck:
    order_type = st.order_type or order.order_type
    fields: dict[str, object] = {"ServerOrderID": st.server_id, "ClientOrderID": st.client_id or "",
                                 "Price1IsSet": 0, "Price2IsSet": 0}  # fmt: skip
    inst = instrument(st.symbol)
    first = order.stop_price if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) else order.price
    if order_type is not OrderType.MARKET and first is not None:
        fields.update(Price1=inst.round_price(first), Price1IsSet=1)
    if order_type is OrderType.STOP_LIMIT and order.price is not None:
        fields.update(Price2=inst.round_price(order.price), Price2IsSet=1)
    if order.qty > 0:
        fields["Quantity"] = order.qty
    wanted = (order.qty or st.qty, fields.get("Price1"), fields.get("Price2"))

    def done(now: OrderState) -> bool:
        first = now.stop if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) else now.price
        second = now.price if order_type is OrderType.STOP_LIMIT else None
        return (
            now.qty,
            first if wanted[1] is not None else None,
            second if wanted[2] is not None else None,
        ) == wanted

    u, sent_ns = await _change(path, st.server_id, "modify", encode(Msg.CANCEL_REPLACE_ORDER, fields), done)
    if u.reason == Reason.ORDER_CANCEL_REPLACE_REJECTED:
        return order_ack(
            order,
            OrderStatus.REJECTED,
            sent_ns,
            st.server_id,
            f"Sierra Chart refused the change: {u.info_text or 'no reason given'}",
        )
    if u.status in FINAL:
        return order_ack(
            order,
            OrderStatus.REJECTED,
            sent_ns,
            st.server_id,
            f"the order was {status_name(u.status)} before the change",
        )
    return order_ack(order, OrderStatus.WORKING, sent_ns, u.server_id or st.server_id)


async def cancel(path: OrderPath, order: FollowerOrder, st: OrderState) -> OrderAck:
    fields = {"ServerOrderID": st.server_id, "ClientOrderID": st.client_id or ""}
    u, sent_ns = await _change(path, st.server_id, "cancel", encode(Msg.CANCEL_ORDER, fields), lambda now: False)
    if u.status == Status.CANCELED:
        return order_ack(order, OrderStatus.CANCELLED, sent_ns, st.server_id)
    why = u.info_text if u.reason == Reason.ORDER_CANCEL_REJECTED else f"the order was {status_name(u.status)}"
    return order_ack(
        order,
        OrderStatus.REJECTED,
        sent_ns,
        st.server_id,
        f"Sierra Chart did not cancel: {why or 'no reason given'}",
    )


async def _change(
    path: OrderPath, sid: str, kind: str, payload: bytes, done: Callable[[OrderState], bool]
) -> tuple[OrderUpdate, int]:
    """Send a cancel or cancel-replace of order ``sid`` and wait for the ORDER_UPDATE that settles it.
    Lost with the connection: once back, an order already in the asked state (``done``) or final
    settles it; else it is sent once more (cancelling or replacing to the same values twice is harmless)."""
    earlier = path.changes.get(sid)
    if earlier is not None:  # one change of an order at a time: DTC answers them by order id only
        await asyncio.wait([earlier[1]], timeout=path.opts.order_timeout_s)
    for attempt in (1, 2):
        if not path.link.ready.is_set() and not await path.link.wait_ready(path.opts.reconnect_wait_s):
            what = f"the {kind} of {sid}"
            if attempt == 1:
                raise Disconnected(f"Sierra Chart {path.account}: the DTC connection is down: {what} was not sent")
            raise AmbiguousOutcome(f"{what} was sent but the DTC connection dropped: ask by ClientOrderID")
        st = path.book.orders.get(sid)
        if attempt == 2 and st is not None and (not st.working or done(st)):
            return settled(st), 0
        future: asyncio.Future[OrderUpdate] = asyncio.get_running_loop().create_future()
        path.changes[sid] = (kind, future)
        try:
            path.link.send(payload)
            sent_ns = time.perf_counter_ns()
            return await path.answer(f"the {kind} of {sid}", future), sent_ns
        except Lost:
            if attempt == 2:
                raise
            await path.link.wait_ready(path.opts.reconnect_wait_s)
        finally:
            if path.changes.get(sid, (None, None))[1] is future:
                del path.changes[sid]
    raise AssertionError("unreachable")


async def flatten_position(path: OrderPath, symbol: str, coid: str) -> None:
    """SUBMIT_FLATTEN_POSITION_ORDER for one symbol; its market order carries ``coid``."""
    fields = {
        "Symbol": path.symbols.to_sierra(symbol),
        "Exchange": path.opts.exchange,
        "TradeAccount": path.link.trade_account or "",
        "ClientOrderID": coid,
        "IsAutomatedOrder": 1,
    }
    future: asyncio.Future[OrderUpdate] = asyncio.get_running_loop().create_future()
    path.places[coid] = future
    try:
        path.link.send(encode(Msg.SUBMIT_FLATTEN_POSITION_ORDER, fields))
        u = await path.answer(f"the flatten of {symbol}", future)
    finally:
        path.places.pop(coid, None)
    if u.status == Status.REJECTED or u.reason == Reason.NEW_ORDER_REJECTED:
        raise BrokerError(f"Sierra Chart refused to flatten {symbol}: {u.info_text or 'no reason given'}")
