"""The R|Protocol messages copytui sends and reads, with Rithmic's field numbers.

Field names and numbers are those of Rithmic's ``.proto`` files as shipped (converted to proto3)
by async-rithmic 1.6.6; only the fields copytui writes or reads are declared, the others are
skipped when decoding. tests/outside/rithmic/check_client.py compares every declaration here with
async-rithmic's generated classes, field by field and enum by enum.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from adapters.rithmic import order_messages as om  # registered below with the rest
from adapters.rithmic import proto as pb
from adapters.rithmic.enums import (
    BracketType,
    Duration,
    ExchangeNotify,
    InfraType,
    NotifiedTransactionType,
    OrderNotify,
    OrderPlacement,
    PnlRequest,
    PriceType,
    TransactionType,
    UserType,
)
from adapters.rithmic.proto import Message

# ------------------------------------------------------------------ shared by every plant


@dataclass(slots=True)
class RequestLogin(Message):
    TEMPLATE = 10
    template_version: str = pb.text(153634)
    user_msg: list[str] = pb.texts(132760)
    user: str = pb.text(131003)
    password: str = pb.text(130004, secret=True)
    app_name: str = pb.text(130002)
    app_version: str = pb.text(131803)
    system_name: str = pb.text(153628)
    infra_type: int = pb.integer(153621)


@dataclass(slots=True)
class ResponseLogin(Message):
    TEMPLATE = 11
    template_version: str = pb.text(153634)
    user_msg: list[str] = pb.texts(132760)
    rp_code: list[str] = pb.texts(132766)
    fcm_id: str = pb.text(154013)
    ib_id: str = pb.text(154014)
    country_code: str = pb.text(154712)
    state_code: str = pb.text(154713)
    unique_user_id: str = pb.text(153428)
    heartbeat_interval: float = pb.real(153633)


@dataclass(slots=True)
class RequestLogout(Message):
    TEMPLATE = 12
    user_msg: list[str] = pb.texts(132760)


@dataclass(slots=True)
class ResponseLogout(Message):
    TEMPLATE = 13
    user_msg: list[str] = pb.texts(132760)
    rp_code: list[str] = pb.texts(132766)


@dataclass(slots=True)
class RequestRithmicSystemInfo(Message):
    TEMPLATE = 16
    user_msg: list[str] = pb.texts(132760)


@dataclass(slots=True)
class ResponseRithmicSystemInfo(Message):
    TEMPLATE = 17
    user_msg: list[str] = pb.texts(132760)
    rp_code: list[str] = pb.texts(132766)
    system_name: list[str] = pb.texts(153628)
    has_aggregated_quotes: list[bool] = pb.flags(153649)


@dataclass(slots=True)
class RequestHeartbeat(Message):
    TEMPLATE = 18
    user_msg: list[str] = pb.texts(132760)
    ssboe: int = pb.integer(150100)
    usecs: int = pb.integer(150101)


@dataclass(slots=True)
class ResponseHeartbeat(Message):
    TEMPLATE = 19
    user_msg: list[str] = pb.texts(132760)
    rp_code: list[str] = pb.texts(132766)
    ssboe: int = pb.integer(150100)
    usecs: int = pb.integer(150101)


@dataclass(slots=True)
class Reject(Message):
    """Sent for a request the plant cannot take (before login, an unknown template...)."""

    TEMPLATE = 75
    user_msg: list[str] = pb.texts(132760)
    rp_code: list[str] = pb.texts(132766)


@dataclass(slots=True)
class ForcedLogout(Message):
    """The server ends the session (another login of the user, the session limit): no fields."""

    TEMPLATE = 77


# ------------------------------------------------------------------ ticker plant: front month contract


@dataclass(slots=True)
class RequestFrontMonthContract(Message):
    TEMPLATE = 113
    user_msg: list[str] = pb.texts(132760)
    symbol: str = pb.text(110100)
    exchange: str = pb.text(110101)
    need_updates: bool = pb.flag(154352)


@dataclass(slots=True)
class ResponseFrontMonthContract(Message):
    TEMPLATE = 114
    user_msg: list[str] = pb.texts(132760)
    rp_code: list[str] = pb.texts(132766)
    symbol: str = pb.text(110100)
    exchange: str = pb.text(110101)
    is_front_month_symbol: bool = pb.flag(149166)
    symbol_name: str = pb.text(100003)
    trading_symbol: str = pb.text(157095)
    trading_exchange: str = pb.text(157096)


# ------------------------------------------------------------------ order plant: the session


@dataclass(slots=True)
class RequestLoginInfo(Message):
    TEMPLATE = 300
    user_msg: list[str] = pb.texts(132760)


@dataclass(slots=True)
class ResponseLoginInfo(Message):
    TEMPLATE = 301
    user_msg: list[str] = pb.texts(132760)
    rp_code: list[str] = pb.texts(132766)
    fcm_id: str = pb.text(154013)
    ib_id: str = pb.text(154014)
    user: str = pb.text(131003)
    user_type: int = pb.integer(154036)
    tp_max_session_count: int = pb.integer(140000)
    op_max_session_count: int = pb.integer(140012)


@dataclass(slots=True)
class RequestAccountList(Message):
    TEMPLATE = 302
    user_msg: list[str] = pb.texts(132760)
    fcm_id: str = pb.text(154013)
    ib_id: str = pb.text(154014)
    user_type: int = pb.integer(154036)


@dataclass(slots=True)
class ResponseAccountList(Message):
    TEMPLATE = 303
    user_msg: list[str] = pb.texts(132760)
    rq_handler_rp_code: list[str] = pb.texts(132764)
    rp_code: list[str] = pb.texts(132766)
    fcm_id: str = pb.text(154013)
    ib_id: str = pb.text(154014)
    account_id: str = pb.text(154008)
    account_name: str = pb.text(154002)
    account_currency: str = pb.text(154383)
    account_auto_liquidate: str = pb.text(131035)


@dataclass(slots=True)
class RequestSubscribeForOrderUpdates(Message):
    TEMPLATE = 308
    user_msg: list[str] = pb.texts(132760)
    fcm_id: str = pb.text(154013)
    ib_id: str = pb.text(154014)
    account_id: str = pb.text(154008)


@dataclass(slots=True)
class ResponseSubscribeForOrderUpdates(Message):
    TEMPLATE = 309
    user_msg: list[str] = pb.texts(132760)
    rp_code: list[str] = pb.texts(132766)


@dataclass(slots=True)
class RequestTradeRoutes(Message):
    TEMPLATE = 310
    user_msg: list[str] = pb.texts(132760)
    subscribe_for_updates: bool = pb.flag(154352)


@dataclass(slots=True)
class ResponseTradeRoutes(Message):
    TEMPLATE = 311
    user_msg: list[str] = pb.texts(132760)
    rq_handler_rp_code: list[str] = pb.texts(132764)
    rp_code: list[str] = pb.texts(132766)
    fcm_id: str = pb.text(154013)
    ib_id: str = pb.text(154014)
    exchange: str = pb.text(110101)
    trade_route: str = pb.text(112016)
    status: str = pb.text(131407)
    is_default: bool = pb.flag(154689)


@dataclass(slots=True)
class RequestSubscribeToBracketUpdates(Message):
    TEMPLATE = 336
    user_msg: list[str] = pb.texts(132760)
    fcm_id: str = pb.text(154013)
    ib_id: str = pb.text(154014)
    account_id: str = pb.text(154008)


@dataclass(slots=True)
class ResponseSubscribeToBracketUpdates(Message):
    TEMPLATE = 337
    user_msg: list[str] = pb.texts(132760)
    rp_code: list[str] = pb.texts(132766)


# ------------------------------------------------------------------ PnL plant


@dataclass(slots=True)
class RequestPnLPositionUpdates(Message):
    TEMPLATE = 400
    user_msg: list[str] = pb.texts(132760)
    request: int = pb.integer(100000)
    fcm_id: str = pb.text(154013)
    ib_id: str = pb.text(154014)
    account_id: str = pb.text(154008)


@dataclass(slots=True)
class ResponsePnLPositionUpdates(Message):
    TEMPLATE = 401
    user_msg: list[str] = pb.texts(132760)
    rp_code: list[str] = pb.texts(132766)


@dataclass(slots=True)
class RequestPnLPositionSnapshot(Message):
    TEMPLATE = 402
    user_msg: list[str] = pb.texts(132760)
    fcm_id: str = pb.text(154013)
    ib_id: str = pb.text(154014)
    account_id: str = pb.text(154008)


@dataclass(slots=True)
class ResponsePnLPositionSnapshot(Message):
    TEMPLATE = 403
    user_msg: list[str] = pb.texts(132760)
    rp_code: list[str] = pb.texts(132766)


@dataclass(slots=True)
class InstrumentPnLPositionUpdate(Message):
    """One instrument's position and P&L in one account (snapshot rows and live updates)."""

    TEMPLATE = 450
    is_snapshot: bool = pb.flag(110121)
    fcm_id: str = pb.text(154013)
    ib_id: str = pb.text(154014)
    account_id: str = pb.text(154008)
    symbol: str = pb.text(110100)
    exchange: str = pb.text(110101)
    product_code: str = pb.text(100749)
    instrument_type: str = pb.text(110116)
    fill_buy_qty: int = pb.integer(154041)
    fill_sell_qty: int = pb.integer(154042)
    buy_qty: int = pb.integer(154260)
    sell_qty: int = pb.integer(154261)
    avg_open_fill_price: float = pb.real(154434)
    day_open_pnl: float = pb.real(157954)
    day_closed_pnl: float = pb.real(157955)
    day_pnl: float = pb.real(157956)
    open_position_quantity: int = pb.integer(156962)
    net_quantity: int = pb.integer(156967)
    ssboe: int = pb.integer(150100)
    usecs: int = pb.integer(150101)


TEMPLATES: dict[int, type[Message]] = pb.register(
    RequestLogin,
    ResponseLogin,
    RequestLogout,
    ResponseLogout,
    RequestRithmicSystemInfo,
    ResponseRithmicSystemInfo,
    RequestHeartbeat,
    ResponseHeartbeat,
    Reject,
    ForcedLogout,
    RequestFrontMonthContract,
    ResponseFrontMonthContract,
    RequestLoginInfo,
    ResponseLoginInfo,
    RequestAccountList,
    ResponseAccountList,
    RequestSubscribeForOrderUpdates,
    ResponseSubscribeForOrderUpdates,
    RequestTradeRoutes,
    ResponseTradeRoutes,
    RequestSubscribeToBracketUpdates,
    ResponseSubscribeToBracketUpdates,
    om.RequestNewOrder,
    om.ResponseNewOrder,
    om.RequestBracketOrder,
    om.ResponseBracketOrder,
    om.RequestModifyOrder,
    om.ResponseModifyOrder,
    om.RequestCancelOrder,
    om.ResponseCancelOrder,
    om.RequestShowOrders,
    om.ResponseShowOrders,
    om.RequestCancelAllOrders,
    om.ResponseCancelAllOrders,
    om.RequestExitPosition,
    om.ResponseExitPosition,
    om.RequestReplayExecutions,
    om.ResponseReplayExecutions,
    om.RithmicOrderNotification,
    om.ExchangeOrderNotification,
    RequestPnLPositionUpdates,
    ResponsePnLPositionUpdates,
    RequestPnLPositionSnapshot,
    ResponsePnLPositionSnapshot,
    InstrumentPnLPositionUpdate,
)
"""Every message declared here that async-rithmic also declares, by template id (what
tests/outside/rithmic/check_client.py compares, message by message)."""

LINK_TEMPLATES: dict[int, type[Message]] = pb.register(om.RequestLinkOrders, om.ResponseLinkOrders)
"""Link orders (344/345), kept apart: async-rithmic 1.6.6 ships no class to compare them with. Their
numbers are Rithmic's own: the R|Protocol API 0.78.0.0 Reference Guide's template list and its
``request_link_orders.proto`` / ``response_link_orders.proto`` (a public copy of that release sits
in the rithmic-rs crate's repository, under rapi/0.78.0.0)."""

WIRE_TEMPLATES: dict[int, type[Message]] = {**TEMPLATES, **LINK_TEMPLATES}
"""Every template the adapter and the simulator read off the wire."""

ENUM_FIELDS: dict[tuple[str, str], type[enum.IntEnum]] = {
    ("RequestLogin", "infra_type"): InfraType,
    ("RequestNewOrder", "transaction_type"): TransactionType,
    ("RequestNewOrder", "price_type"): PriceType,
    ("RequestNewOrder", "duration"): Duration,
    ("RequestNewOrder", "manual_or_auto"): OrderPlacement,
    ("RequestModifyOrder", "price_type"): PriceType,
    ("ResponseLoginInfo", "user_type"): UserType,
    ("RithmicOrderNotification", "notify_type"): OrderNotify,
    ("RithmicOrderNotification", "transaction_type"): NotifiedTransactionType,
    ("RithmicOrderNotification", "price_type"): PriceType,
    ("ExchangeOrderNotification", "notify_type"): ExchangeNotify,
    ("ExchangeOrderNotification", "transaction_type"): NotifiedTransactionType,
    ("ExchangeOrderNotification", "price_type"): PriceType,
    ("RequestPnLPositionUpdates", "request"): PnlRequest,
    ("RequestBracketOrder", "transaction_type"): TransactionType,
    ("RequestBracketOrder", "price_type"): PriceType,
    ("RequestBracketOrder", "duration"): Duration,
    ("RequestBracketOrder", "user_type"): UserType,
    ("RequestBracketOrder", "bracket_type"): BracketType,
    ("RithmicOrderNotification", "bracket_type"): BracketType,
    ("ExchangeOrderNotification", "bracket_type"): BracketType,
}
"""Which declared field carries which enum: the outside check compares the members' numbers."""
