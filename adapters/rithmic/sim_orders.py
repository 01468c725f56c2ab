"""The simulator's order side: R|Protocol order requests onto the paper exchange, and the paper
exchange's events back as Rithmic notifications.

Each paper event becomes what a Rithmic order plant sends for it (our reading of async-rithmic's
documentation and the message definitions; the exact sequence of a real server is unverified):

- a new order: 351 ORDER_RCVD_FROM_CLNT, then 352 STATUS "open" and 351 OPEN, or for a stop not
  yet triggered 351 TRIGGER_PENDING;
- a modify: 352 MODIFY and 351 MODIFIED; a cancel: 352 CANCEL and 351 COMPLETE ("Cancel");
- a reject: 352 REJECT and 351 COMPLETE ("Reject") with the reason as ``text``;
- a fill: 352 FILL (fill id, size, price, cumulative size), and 351 COMPLETE ("Fill") at the last;
- a position change: 450 InstrumentPnLPositionUpdate on the PnL plant;
- a link (344): the orders become one OCO group of the paper exchange (:func:`link`); a fill of
  one then shrinks or cancels the others, each told as above (352 MODIFY / CANCEL, 351 MODIFIED /
  COMPLETE "Cancel"), as if Rithmic had changed them. Rithmic does not say publicly what a link
  does on a cancel: here a cancelled leg goes alone.

Every notification carries the order's ``user_tag``, basket id (the paper order id), account,
contract, side, type, quantity, prices and ``ssboe``/``usecs`` of the paper event; the simulator then
sets the link fields of a bracket's or linked orders (:meth:`sim_brackets.Brackets.stamp`).
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.base import OrderRejected
from adapters.paper.exchange import PaperExchange, PaperOrder
from adapters.rithmic.contracts import Contract, symbol_of
from adapters.rithmic.enums import Duration, ExchangeNotify, OrderNotify, OrderPlacement, PriceType, TransactionType
from adapters.rithmic.messages import InstrumentPnLPositionUpdate
from adapters.rithmic.order_messages import (
    ExchangeOrderNotification,
    RequestBracketOrder,
    RequestLinkOrders,
    RequestModifyOrder,
    RequestNewOrder,
    RithmicOrderNotification,
)
from adapters.rithmic.proto import Message
from adapters.rithmic.trailing import sim_refusal, ticks_of, trail_of
from copytui.instruments import instrument
from copytui.models import AccountEvent, EventKind, OrderType, Side, TimeInForce

TYPE_OF: dict[int, OrderType] = {
    PriceType.MARKET: OrderType.MARKET,
    PriceType.LIMIT: OrderType.LIMIT,
    PriceType.STOP_MARKET: OrderType.STOP,
    PriceType.STOP_LIMIT: OrderType.STOP_LIMIT,
}
PRICE_TYPE_OF = {v: k for k, v in TYPE_OF.items()} | {OrderType.TRAILING_STOP: PriceType.STOP_MARKET}
SIDE_OF: dict[int, Side] = {TransactionType.BUY: Side.BUY, TransactionType.SELL: Side.SELL}
TIF_OF: dict[int, TimeInForce] = {
    Duration.DAY: TimeInForce.DAY,
    Duration.GTC: TimeInForce.GTC,
    Duration.IOC: TimeInForce.IOC,
}
DURATION_OF = {v: k for k, v in TIF_OF.items()}
_STOPS = (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP)


class Refused(Exception):
    """An order request the simulated order plant refuses: answered with this rp_code text."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


@dataclass(frozen=True)
class Desk:
    """Who the notifications say the simulated firm is."""

    fcm_id: str
    ib_id: str
    route: str
    contracts: dict[str, Contract]
    """copytui symbol -> the contract the simulator lists (the front quarter)."""

    def contract(self, symbol: str) -> Contract:
        return self.contracts[symbol]

    def symbol(self, contract: str, exchange: str) -> str:
        symbol = symbol_of(contract, exchange)
        if symbol is None or self.contracts.get(symbol) != Contract(contract, exchange):
            listed = ", ".join(str(c) for c in self.contracts.values())
            raise Refused("3", f"unknown contract {contract}.{exchange}; listed: {listed}")
        return symbol


def _prices(order_type: OrderType, price: float, trigger: float) -> tuple[float | None, float | None]:
    limit = price if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
    stop = (trigger or None) if order_type in (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP) else None
    if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and not limit:
        raise Refused("3", f"a {order_type.value} order needs price")
    if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and not stop:
        raise Refused("3", f"a {order_type.value} order needs trigger_price")
    return limit, stop


def submit(exchange: PaperExchange, desk: Desk, request: RequestNewOrder | RequestBracketOrder) -> PaperOrder:
    """A RequestNewOrder (or a bracket's entry) onto the paper exchange; Refused with the reason when it cannot go."""
    symbol = desk.symbol(request.symbol, request.exchange)
    side = SIDE_OF.get(request.transaction_type)
    order_type = TYPE_OF.get(request.price_type)
    tif = TIF_OF.get(request.duration or Duration.DAY)
    if side is None or order_type is None or tif is None:
        raise Refused("3", "transaction_type, price_type or duration is not one the simulator takes")
    if request.quantity <= 0:
        raise Refused("3", f"quantity must be positive, got {request.quantity}")
    trailing, ticks = (
        (request.trailing_stop, request.trail_by_ticks) if isinstance(request, RequestNewOrder) else (0, 0)
    )
    if why := sim_refusal(bool(trailing), ticks, request.price_type == PriceType.STOP_MARKET):
        raise Refused("3", why)
    trail = trail_of(symbol, ticks) if trailing else None
    order_type = OrderType.TRAILING_STOP if trail is not None else order_type
    limit, stop = _prices(order_type, request.price, request.trigger_price)
    try:
        return exchange.submit(
            request.account_id,
            symbol=symbol,
            side=side,
            qty=request.quantity,
            order_type=order_type,
            price=limit,
            stop_price=stop,
            tif=tif,
            client_order_id=request.user_tag or None,
            trail=trail,  # the stop starts at trigger_price when given, else trail from the market
        )
    except OrderRejected as exc:
        raise Refused("5", f"rejected at RMS: {exc}") from None


def modify(exchange: PaperExchange, request: RequestModifyOrder) -> PaperOrder:
    order = exchange.accounts[request.account_id].orders.get(request.basket_id)
    if order is None:
        raise Refused("5", f"no order with basket id {request.basket_id}")
    order_type = TYPE_OF.get(request.price_type, order.order_type)
    stop_order = request.price_type in (0, PriceType.STOP_MARKET)
    if why := sim_refusal(request.trailing_stop, request.trail_by_ticks, stop_order):
        raise Refused("3", why)
    if order.order_type is OrderType.TRAILING_STOP:
        order_type = OrderType.TRAILING_STOP if request.trailing_stop else order_type
        if request.trigger_price:
            raise Refused("3", "a trailing stop's modify takes no trigger_price: the broker moves its stop")
    if order_type is not order.order_type:
        raise Refused("5", "changing an order's type is not simulated (a trailing stop's modify says trailing_stop)")
    symbol = order.symbol
    try:
        return exchange.modify(
            request.account_id,
            request.basket_id,
            trail=trail_of(symbol, request.trail_by_ticks) if request.trailing_stop else None,
            qty=request.quantity or None,
            price=request.price if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and request.price else None,
            stop_price=request.trigger_price if request.trigger_price else None,
        )
    except OrderRejected as exc:
        raise Refused("5", str(exc)) from None


def account_of(request: Message) -> str:
    """The account an order request is for (link orders lists it per order: the first one)."""
    value: str | list[str] = getattr(request, "account_id", "")
    return value if isinstance(value, str) else (value[0] if value else "")


def link(exchange: PaperExchange, request: RequestLinkOrders) -> str:
    """A RequestLinkOrders onto the paper exchange: its working orders become one OCO group (joining
    the group one of them is already in); the group's name. Refused: fewer than two orders, orders
    of several accounts, an unknown or finished one (nothing is linked then)."""
    account = account_of(request)
    if any(a != account for a in request.account_id):
        raise Refused("3", "linking orders of different accounts is not simulated")
    baskets = list(dict.fromkeys(request.basket_id))
    if len(baskets) < 2:
        raise Refused("3", f"a link needs two basket ids or more, got {len(baskets)}")
    acct = exchange.accounts[account]
    orders: list[PaperOrder] = []
    for basket in baskets:
        order = acct.orders.get(basket)
        if order is None:
            raise Refused("5", f"no order with basket id {basket}")
        if order.status.final:
            raise Refused("5", f"order {basket} is {order.status.value}: only working orders are linked")
        orders.append(order)
    joined = sorted({o.oco_group for o in orders if o.oco_group})
    group = joined[0] if len(joined) == 1 else f"link-{baskets[0]}"
    legs = acct.oco_groups.setdefault(group, [])
    for order in orders:
        if order.oco_group is not None and order.oco_group != group:
            acct.oco_groups[order.oco_group].remove(order)
        order.oco_group = group
        if order not in legs:
            legs.append(order)
    return group


def _common(
    msg: RithmicOrderNotification | ExchangeOrderNotification,
    desk: Desk,
    user: str,
    ev: AccountEvent,
    order: PaperOrder | None,
) -> None:
    """The fields every order notification carries, from the paper event and order."""
    assert ev.symbol is not None
    contract = desk.contract(ev.symbol)
    order_type = ev.order_type or (order.order_type if order else OrderType.MARKET)
    qty = ev.qty or (order.qty if order else 0)
    msg.user_tag = ev.client_order_id or ""
    msg.basket_id = ev.order_id or ""
    msg.fcm_id, msg.ib_id, msg.user_id = desk.fcm_id, desk.ib_id, user
    msg.account_id = order.account if order else ev.account
    msg.symbol, msg.exchange, msg.trade_route = contract.symbol, contract.exchange, desk.route
    msg.exchange_order_id = f"X{ev.order_id}"
    msg.quantity = qty
    msg.price = ev.price or 0.0
    msg.trigger_price = ev.stop_price or 0.0
    msg.transaction_type = TransactionType.BUY if ev.side is Side.BUY else TransactionType.SELL
    msg.duration = DURATION_OF.get(order.tif if order else TimeInForce.DAY, Duration.DAY)
    msg.price_type = PRICE_TYPE_OF[order_type]
    msg.manual_or_auto = OrderPlacement.AUTO if ev.client_order_id else OrderPlacement.MANUAL
    trail = ev.trail or (order.trail if order else None)
    if isinstance(msg, ExchangeOrderNotification) and trail:  # 351 has no trail field (trailing.py)
        msg.trail_by_ticks = ticks_of(ev.symbol, trail)
    msg.avg_fill_price = ev.avg_price or ((order.avg_fill_price or 0.0) if order else 0.0)
    msg.total_fill_size = ev.cum_qty
    msg.total_unfilled_size = max(qty - ev.cum_qty, 0)
    msg.sequence_number = str(ev.seq)
    msg.ssboe, msg.usecs = ev.wall_ns // 1_000_000_000, ev.wall_ns // 1_000 % 1_000_000


def fill_note(
    desk: Desk, user: str, ev: AccountEvent, order: PaperOrder | None, snapshot: bool
) -> ExchangeOrderNotification:
    note = ExchangeOrderNotification(notify_type=ExchangeNotify.FILL, is_snapshot=snapshot)
    _common(note, desk, user, ev, order)
    stamp = ev.wall_ns // 1_000_000_000
    note.status = "complete" if ev.cum_qty >= ev.qty else "partially filled"
    note.fill_price = ev.fill_price or 0.0
    note.fill_size = ev.fill_qty
    note.fill_id = ev.fill_id or ""
    note.fill_time = f"{stamp % 86400 // 3600:02d}:{stamp % 3600 // 60:02d}:{stamp % 60:02d}"
    return note


def order_row(desk: Desk, user: str, ev: AccountEvent, order: PaperOrder) -> ExchangeOrderNotification:
    """A working order as a show-orders answer lists it: a 352 STATUS marked is_snapshot (the rows
    async-rithmic's list_orders collects)."""
    note = ExchangeOrderNotification(notify_type=ExchangeNotify.STATUS, is_snapshot=True)
    _common(note, desk, user, ev, order)
    waiting = order.order_type in _STOPS and not order.triggered
    note.status = "trigger pending" if waiting else "open"
    return note


def notifications(desk: Desk, user: str, ev: AccountEvent, order: PaperOrder | None) -> list[Message]:
    """What the order plant sends for one paper event (PnL updates apart)."""
    if ev.kind is EventKind.POSITION or ev.symbol is None or ev.order_id is None:
        return []

    def rithmic(notify: OrderNotify, status: str, reason: str = "", text: str = "") -> RithmicOrderNotification:
        note = RithmicOrderNotification(notify_type=notify)
        _common(note, desk, user, ev, order)
        note.status, note.completion_reason, note.text = status, reason, text
        return note

    def exchange(notify: ExchangeNotify, status: str, text: str = "") -> ExchangeOrderNotification:
        note = ExchangeOrderNotification(notify_type=notify)
        _common(note, desk, user, ev, order)
        note.status, note.text = status, text
        return note

    if ev.kind is EventKind.ORDER_NEW:
        received = rithmic(OrderNotify.ORDER_RCVD_FROM_CLNT, "Order received from client")
        waiting = order is not None and order.order_type in _STOPS and not order.triggered
        if waiting and order is not None and order.trail is not None:  # only a 352 can say it trails
            pending = exchange(ExchangeNotify.STATUS, "trigger pending")
            return [received, pending, rithmic(OrderNotify.TRIGGER_PENDING, "trigger pending")]
        if waiting:
            return [received, rithmic(OrderNotify.TRIGGER_PENDING, "trigger pending")]
        return [received, exchange(ExchangeNotify.STATUS, "open"), rithmic(OrderNotify.OPEN, "open")]
    if ev.kind is EventKind.ORDER_MODIFIED:
        return [exchange(ExchangeNotify.MODIFY, "open"), rithmic(OrderNotify.MODIFIED, "open")]
    if ev.kind is EventKind.ORDER_CANCELLED:
        return [exchange(ExchangeNotify.CANCEL, "cancelled"), rithmic(OrderNotify.COMPLETE, "complete", "Cancel")]
    if ev.kind is EventKind.ORDER_REJECTED:
        why = ev.reason or "rejected"
        return [
            exchange(ExchangeNotify.REJECT, "rejected", why),
            rithmic(OrderNotify.COMPLETE, "complete", "Reject", why),
        ]
    if ev.kind is EventKind.FILL:
        out: list[Message] = [fill_note(desk, user, ev, order, snapshot=False)]
        if ev.cum_qty >= ev.qty:
            out.append(rithmic(OrderNotify.COMPLETE, "complete", "Fill"))
        return out
    return []


def position_note(
    exchange: PaperExchange, desk: Desk, account: str, symbol: str, snapshot: bool, wall_ns: int = 0
) -> InstrumentPnLPositionUpdate:
    pos = exchange.accounts[account].positions.get(symbol)
    qty, avg, realized = (pos.qty, pos.avg_price, pos.realized) if pos else (0, 0.0, 0.0)
    mark = exchange.price(symbol)
    unrealized = (mark - avg) * qty * instrument(symbol).point_value if qty else 0.0
    contract = desk.contract(symbol)
    return InstrumentPnLPositionUpdate(
        is_snapshot=snapshot,
        fcm_id=desk.fcm_id,
        ib_id=desk.ib_id,
        account_id=account,
        symbol=contract.symbol,
        exchange=contract.exchange,
        product_code=symbol,
        instrument_type="Future",
        buy_qty=max(qty, 0),
        sell_qty=max(-qty, 0),
        avg_open_fill_price=avg if qty else 0.0,
        day_open_pnl=unrealized,
        day_closed_pnl=realized,
        day_pnl=unrealized + realized,
        open_position_quantity=abs(qty),
        net_quantity=qty,
        ssboe=wall_ns // 1_000_000_000,
        usecs=wall_ns // 1_000 % 1_000_000,
    )
