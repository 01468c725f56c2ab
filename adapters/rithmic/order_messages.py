"""The order plant's order messages: new order, bracket order, modify, cancel, cancel all, link
orders, exit position, show orders, replay executions, and the two order notifications (351 and 352).

Declared as :mod:`adapters.rithmic.messages` declares the rest (field names and numbers of
Rithmic's ``.proto`` files as async-rithmic 1.6.6 ships them; link orders, which it lacks, from
Rithmic's own files) and registered there.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.rithmic import proto as pb
from adapters.rithmic.proto import Message

# ------------------------------------------------------------------ order plant: orders


@dataclass(slots=True)
class RequestNewOrder(Message):
    TEMPLATE = 312
    user_msg: list[str] = pb.texts(132760)
    user_tag: str = pb.text(154119)
    window_name: str = pb.text(154629)
    fcm_id: str = pb.text(154013)
    ib_id: str = pb.text(154014)
    account_id: str = pb.text(154008)
    symbol: str = pb.text(110100)
    exchange: str = pb.text(110101)
    quantity: int = pb.integer(112004)
    price: float = pb.real(110306)
    trigger_price: float = pb.real(149247)
    transaction_type: int = pb.integer(112003)
    duration: int = pb.integer(112005)
    price_type: int = pb.integer(112008)
    trade_route: str = pb.text(112016)
    manual_or_auto: int = pb.integer(154710)
    trailing_stop: bool = pb.flag(157063)
    trail_by_ticks: int = pb.integer(157064)
    trail_by_price_id: int = pb.integer(157065)


@dataclass(slots=True)
class ResponseNewOrder(Message):
    TEMPLATE = 313
    user_msg: list[str] = pb.texts(132760)
    user_tag: str = pb.text(154119)
    rq_handler_rp_code: list[str] = pb.texts(132764)
    rp_code: list[str] = pb.texts(132766)
    basket_id: str = pb.text(110300)
    ssboe: int = pb.integer(150100)
    usecs: int = pb.integer(150101)


@dataclass(slots=True)
class RequestBracketOrder(Message):
    """An entry with a stop and/or a target ``*_ticks`` away from its fill, which Rithmic places
    once the entry fills (what a leader's platform sends for an ATM-style bracket). copytui never
    sends one: it reads the legs of a leader's bracket (:mod:`adapters.rithmic.oco_groups`), and its
    simulator takes them."""

    TEMPLATE = 330
    user_msg: list[str] = pb.texts(132760)
    user_tag: str = pb.text(154119)
    window_name: str = pb.text(154629)
    fcm_id: str = pb.text(154013)
    ib_id: str = pb.text(154014)
    account_id: str = pb.text(154008)
    symbol: str = pb.text(110100)
    exchange: str = pb.text(110101)
    quantity: int = pb.integer(112004)
    price: float = pb.real(110306)
    trigger_price: float = pb.real(149247)
    transaction_type: int = pb.integer(112003)
    duration: int = pb.integer(112005)
    price_type: int = pb.integer(112008)
    trade_route: str = pb.text(112016)
    manual_or_auto: int = pb.integer(154710)
    user_type: int = pb.integer(154036)
    bracket_type: int = pb.integer(157087)
    target_quantity: int = pb.integer(154457)
    target_ticks: int = pb.integer(154456)
    stop_quantity: int = pb.integer(154459)
    stop_ticks: int = pb.integer(154458)


@dataclass(slots=True)
class ResponseBracketOrder(Message):
    TEMPLATE = 331
    user_msg: list[str] = pb.texts(132760)
    user_tag: str = pb.text(154119)
    rq_handler_rp_code: list[str] = pb.texts(132764)
    rp_code: list[str] = pb.texts(132766)
    basket_id: str = pb.text(110300)
    ssboe: int = pb.integer(150100)
    usecs: int = pb.integer(150101)


@dataclass(slots=True)
class RequestModifyOrder(Message):
    TEMPLATE = 314
    user_msg: list[str] = pb.texts(132760)
    window_name: str = pb.text(154629)
    fcm_id: str = pb.text(154013)
    ib_id: str = pb.text(154014)
    account_id: str = pb.text(154008)
    basket_id: str = pb.text(110300)
    symbol: str = pb.text(110100)
    exchange: str = pb.text(110101)
    quantity: int = pb.integer(112004)
    price: float = pb.real(110306)
    trigger_price: float = pb.real(149247)
    price_type: int = pb.integer(112008)
    manual_or_auto: int = pb.integer(154710)
    trailing_stop: bool = pb.flag(157063)
    trail_by_ticks: int = pb.integer(157064)


@dataclass(slots=True)
class ResponseModifyOrder(Message):
    TEMPLATE = 315
    user_msg: list[str] = pb.texts(132760)
    rq_handler_rp_code: list[str] = pb.texts(132764)
    rp_code: list[str] = pb.texts(132766)
    basket_id: str = pb.text(110300)
    ssboe: int = pb.integer(150100)
    usecs: int = pb.integer(150101)


@dataclass(slots=True)
class RequestCancelOrder(Message):
    TEMPLATE = 316
    user_msg: list[str] = pb.texts(132760)
    window_name: str = pb.text(154629)
    fcm_id: str = pb.text(154013)
    ib_id: str = pb.text(154014)
    account_id: str = pb.text(154008)
    basket_id: str = pb.text(110300)
    manual_or_auto: int = pb.integer(154710)


@dataclass(slots=True)
class ResponseCancelOrder(Message):
    TEMPLATE = 317
    user_msg: list[str] = pb.texts(132760)
    rq_handler_rp_code: list[str] = pb.texts(132764)
    rp_code: list[str] = pb.texts(132766)
    basket_id: str = pb.text(110300)
    ssboe: int = pb.integer(150100)
    usecs: int = pb.integer(150101)


@dataclass(slots=True)
class RequestShowOrders(Message):
    TEMPLATE = 320
    user_msg: list[str] = pb.texts(132760)
    fcm_id: str = pb.text(154013)
    ib_id: str = pb.text(154014)
    account_id: str = pb.text(154008)


@dataclass(slots=True)
class ResponseShowOrders(Message):
    """The end of a show-orders answer: the orders themselves come as notifications marked is_snapshot."""

    TEMPLATE = 321
    user_msg: list[str] = pb.texts(132760)
    rp_code: list[str] = pb.texts(132766)


@dataclass(slots=True)
class RequestCancelAllOrders(Message):
    TEMPLATE = 346
    user_msg: list[str] = pb.texts(132760)
    fcm_id: str = pb.text(154013)
    ib_id: str = pb.text(154014)
    account_id: str = pb.text(154008)
    user_type: int = pb.integer(154036)
    manual_or_auto: int = pb.integer(154710)


@dataclass(slots=True)
class ResponseCancelAllOrders(Message):
    TEMPLATE = 347
    user_msg: list[str] = pb.texts(132760)
    rp_code: list[str] = pb.texts(132766)


@dataclass(slots=True)
class RequestLinkOrders(Message):
    """Links working orders (by basket id) at Rithmic: what a follower bracket's OCO is kept with.

    Not in async-rithmic 1.6.6 (which ships no 344/345): the template ids are those of Rithmic's
    R|Protocol API Reference Guide (0.78.0.0: "Link Orders Request" 344 from the client, "Link
    Orders Response" 345 from the server), the fields those of Rithmic's own
    ``request_link_orders.proto`` of the same release, where account fields are repeated too."""

    TEMPLATE = 344
    user_msg: list[str] = pb.texts(132760)
    fcm_id: list[str] = pb.texts(154013)
    ib_id: list[str] = pb.texts(154014)
    account_id: list[str] = pb.texts(154008)
    basket_id: list[str] = pb.texts(110300)


@dataclass(slots=True)
class ResponseLinkOrders(Message):
    """The answer to 344 (Rithmic's ``response_link_orders.proto``: no rows, only the rp_code)."""

    TEMPLATE = 345
    user_msg: list[str] = pb.texts(132760)
    rp_code: list[str] = pb.texts(132766)


@dataclass(slots=True)
class RequestExitPosition(Message):
    TEMPLATE = 3504
    user_msg: list[str] = pb.texts(132760)
    window_name: str = pb.text(154629)
    fcm_id: str = pb.text(154013)
    ib_id: str = pb.text(154014)
    account_id: str = pb.text(154008)
    symbol: str = pb.text(110100)
    exchange: str = pb.text(110101)
    trading_algorithm: str = pb.text(154698)
    manual_or_auto: int = pb.integer(154710)


@dataclass(slots=True)
class ResponseExitPosition(Message):
    TEMPLATE = 3505
    user_msg: list[str] = pb.texts(132760)
    rq_handler_rp_code: list[str] = pb.texts(132764)
    rp_code: list[str] = pb.texts(132766)
    symbol: str = pb.text(110100)
    exchange: str = pb.text(110101)


@dataclass(slots=True)
class RequestReplayExecutions(Message):
    """Executions between two times (seconds since the epoch), replayed as exchange notifications
    marked is_snapshot, then a ResponseReplayExecutions."""

    TEMPLATE = 3506
    user_msg: list[str] = pb.texts(132760)
    fcm_id: str = pb.text(154013)
    ib_id: str = pb.text(154014)
    account_id: str = pb.text(154008)
    start_index: int = pb.integer(153002)
    finish_index: int = pb.integer(153003)


@dataclass(slots=True)
class ResponseReplayExecutions(Message):
    TEMPLATE = 3507
    user_msg: list[str] = pb.texts(132760)
    rp_code: list[str] = pb.texts(132766)


# ------------------------------------------------------------------ order plant: notifications


@dataclass(slots=True)
class RithmicOrderNotification(Message):
    """An order's life at Rithmic: received, open, modified, complete (with the reason)."""

    TEMPLATE = 351
    user_tag: str = pb.text(154119)
    notify_type: int = pb.integer(153625)
    is_snapshot: bool = pb.flag(110121)
    status: str = pb.text(110303)
    basket_id: str = pb.text(110300)
    original_basket_id: str = pb.text(154497)
    """Read as the bracket entry a leg belongs to (see oco_groups: Rithmic does not document it)."""
    linked_basket_ids: str = pb.text(110358)
    """One string: read as the basket ids this order is OCO-linked with, comma or space separated."""
    fcm_id: str = pb.text(154013)
    ib_id: str = pb.text(154014)
    user_id: str = pb.text(131003)
    account_id: str = pb.text(154008)
    symbol: str = pb.text(110100)
    exchange: str = pb.text(110101)
    trade_route: str = pb.text(112016)
    exchange_order_id: str = pb.text(149238)
    completion_reason: str = pb.text(149273)
    quantity: int = pb.integer(112004)
    price: float = pb.real(110306)
    trigger_price: float = pb.real(149247)
    transaction_type: int = pb.integer(112003)
    duration: int = pb.integer(112005)
    price_type: int = pb.integer(112008)
    manual_or_auto: int = pb.integer(154710)
    bracket_type: int = pb.integer(157087)
    avg_fill_price: float = pb.real(110322)
    total_fill_size: int = pb.integer(154111)
    total_unfilled_size: int = pb.integer(154112)
    sequence_number: str = pb.text(112002)
    text: str = pb.text(120008)
    report_text: str = pb.text(120028)
    ssboe: int = pb.integer(150100)
    usecs: int = pb.integer(150101)


@dataclass(slots=True)
class ExchangeOrderNotification(Message):
    """What the exchange said of an order: status, modify, cancel, trigger, fill, reject."""

    TEMPLATE = 352
    user_tag: str = pb.text(154119)
    notify_type: int = pb.integer(153625)
    is_snapshot: bool = pb.flag(110121)
    report_type: str = pb.text(120001)
    status: str = pb.text(110303)
    basket_id: str = pb.text(110300)
    original_basket_id: str = pb.text(154497)
    """Read as the bracket entry a leg belongs to (see oco_groups: Rithmic does not document it)."""
    linked_basket_ids: str = pb.text(110358)
    """One string: read as the basket ids this order is OCO-linked with, comma or space separated."""
    fcm_id: str = pb.text(154013)
    ib_id: str = pb.text(154014)
    user_id: str = pb.text(131003)
    account_id: str = pb.text(154008)
    symbol: str = pb.text(110100)
    exchange: str = pb.text(110101)
    trade_route: str = pb.text(112016)
    exchange_order_id: str = pb.text(149238)
    quantity: int = pb.integer(112004)
    price: float = pb.real(110306)
    trigger_price: float = pb.real(149247)
    transaction_type: int = pb.integer(112003)
    duration: int = pb.integer(112005)
    price_type: int = pb.integer(112008)
    manual_or_auto: int = pb.integer(154710)
    bracket_type: int = pb.integer(157087)
    trail_by_ticks: int = pb.integer(157064)
    """The trail of a trailing stop, in ticks (see :mod:`adapters.rithmic.trailing`); 351 has none."""
    trail_by_price_id: int = pb.integer(157065)
    confirmed_size: int = pb.integer(110329)
    cancelled_size: int = pb.integer(110318)
    fill_price: float = pb.real(110307)
    fill_size: int = pb.integer(110308)
    fill_time: str = pb.text(110309)
    fill_date: str = pb.text(110310)
    fill_id: str = pb.text(110311)
    avg_fill_price: float = pb.real(110322)
    total_fill_size: int = pb.integer(154111)
    total_unfilled_size: int = pb.integer(154112)
    sequence_number: str = pb.text(112002)
    text: str = pb.text(120008)
    report_text: str = pb.text(120028)
    ssboe: int = pb.integer(150100)
    usecs: int = pb.integer(150101)
