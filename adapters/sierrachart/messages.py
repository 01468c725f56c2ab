"""Inbound DTC messages as typed, checked values: every field this adapter reads is validated here.

A message that cannot be read raises :class:`~adapters.sierrachart.wire.FrameError` naming the
message and the field; the caller counts it (``Health.drop``) and skips it. Fields DTC leaves
unset (DBL_MAX for a double, "" for a string) come out as None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from adapters.sierrachart.wire import UNSET, FrameError, Msg
from copytui.models import MAX_QTY


def text(d: dict[str, Any], key: str, what: str) -> str:
    value = d.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FrameError(f"{what}: field {key!r} must be text, got {value!r:.40}")
    return value.strip()


def number(d: dict[str, Any], key: str, what: str) -> float | None:
    """A double, or None when absent or unset (0 counts as a value)."""
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FrameError(f"{what}: field {key!r} must be a number, got {value!r:.40}")
    if math.isnan(value) or value >= UNSET or value <= -UNSET:
        return None
    if math.isinf(value):
        raise FrameError(f"{what}: field {key!r} is infinite")
    return float(value)


def integer(d: dict[str, Any], key: str, what: str, default: int = 0) -> int:
    value = d.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise FrameError(f"{what}: field {key!r} must be a whole number, got {value!r:.40}")
    return int(value)


def contracts(d: dict[str, Any], key: str, what: str, signed: bool = False) -> int | None:
    """A quantity of whole contracts (DTC sends doubles); None when unset."""
    value = number(d, key, what)
    if value is None:
        return None
    if value != int(value) or abs(value) > MAX_QTY or (value < 0 and not signed):
        raise FrameError(f"{what}: field {key!r} is not a whole number of contracts: {value!r}")
    return int(value)


def price(d: dict[str, Any], key: str, what: str) -> float | None:
    """A price; 0 counts as unset (DTC orders without a price send 0)."""
    value = number(d, key, what)
    return value if value else None


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    request_id: int
    total: int
    number: int
    no_orders: bool
    symbol: str
    server_id: str
    previous_server_id: str
    client_id: str
    status: int
    reason: int
    order_type: int
    buy_sell: int
    price1: float | None
    price2: float | None
    order_qty: int | None
    filled_qty: int | None
    avg_fill_price: float | None
    last_fill_price: float | None
    last_fill_qty: int | None
    last_fill_exec_id: str
    trade_account: str
    info_text: str
    latest: float
    """LatestTransactionDateTime (0: not given): an update older than one already applied is stale."""
    oco_linked_id: str = ""
    """OCOLinkedOrderServerOrderID: the other order of an OCO pair submitted with SUBMIT_NEW_OCO_ORDER."""
    parent_id: str = ""
    """ParentServerOrderID: the parent order of a bracket's child ("" for an order with none)."""


def order_update(d: dict[str, Any]) -> OrderUpdate:
    what = "ORDER_UPDATE"
    no_orders = integer(d, "NoOrders", what) == 1
    u = OrderUpdate(
        request_id=integer(d, "RequestID", what),
        total=integer(d, "TotalNumMessages", what),
        number=integer(d, "MessageNumber", what),
        no_orders=no_orders,
        symbol=text(d, "Symbol", what),
        server_id=text(d, "ServerOrderID", what),
        previous_server_id=text(d, "PreviousServerOrderID", what),
        client_id=text(d, "ClientOrderID", what),
        status=integer(d, "OrderStatus", what),
        reason=integer(d, "OrderUpdateReason", what),
        order_type=integer(d, "OrderType", what),
        buy_sell=integer(d, "BuySell", what),
        price1=price(d, "Price1", what),
        price2=price(d, "Price2", what),
        order_qty=contracts(d, "OrderQuantity", what),
        filled_qty=contracts(d, "FilledQuantity", what),
        avg_fill_price=price(d, "AverageFillPrice", what),
        last_fill_price=price(d, "LastFillPrice", what),
        last_fill_qty=contracts(d, "LastFillQuantity", what),
        last_fill_exec_id=text(d, "LastFillExecutionID", what),
        trade_account=text(d, "TradeAccount", what),
        info_text=text(d, "InfoText", what),
        latest=number(d, "LatestTransactionDateTime", what) or 0.0,
        oco_linked_id=text(d, "OCOLinkedOrderServerOrderID", what),
        parent_id=text(d, "ParentServerOrderID", what),
    )
    if not no_orders and not u.server_id and not u.client_id:
        raise FrameError(f"{what}: neither ServerOrderID nor ClientOrderID is set")
    return u


@dataclass(frozen=True, slots=True)
class HistoricalFill:
    request_id: int
    total: int
    number: int
    no_fills: bool
    symbol: str
    server_id: str
    buy_sell: int
    price: float | None
    date_time: float
    qty: int
    exec_id: str
    trade_account: str


def historical_fill(d: dict[str, Any]) -> HistoricalFill:
    what = "HISTORICAL_ORDER_FILL_RESPONSE"
    no_fills = integer(d, "NoOrderFills", what) == 1
    f = HistoricalFill(
        request_id=integer(d, "RequestID", what),
        total=integer(d, "TotalNumberMessages", what),
        number=integer(d, "MessageNumber", what),
        no_fills=no_fills,
        symbol=text(d, "Symbol", what),
        server_id=text(d, "ServerOrderID", what),
        buy_sell=integer(d, "BuySell", what),
        price=price(d, "Price", what),
        date_time=number(d, "DateTime", what) or 0.0,
        qty=contracts(d, "Quantity", what) or 0,
        exec_id=text(d, "UniqueExecutionID", what),
        trade_account=text(d, "TradeAccount", what),
    )
    if not no_fills and (not f.server_id or not f.exec_id or f.qty <= 0 or f.price is None):
        raise FrameError(f"{what}: a fill needs ServerOrderID, UniqueExecutionID, Quantity > 0 and Price")
    return f


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    request_id: int
    total: int
    number: int
    no_positions: bool
    symbol: str
    qty: int
    avg_price: float | None
    trade_account: str
    unsolicited: bool


def position_update(d: dict[str, Any]) -> PositionUpdate:
    what = "POSITION_UPDATE"
    no_positions = integer(d, "NoPositions", what) == 1
    p = PositionUpdate(
        request_id=integer(d, "RequestID", what),
        total=integer(d, "TotalNumberMessages", what),
        number=integer(d, "MessageNumber", what),
        no_positions=no_positions,
        symbol=text(d, "Symbol", what),
        qty=contracts(d, "Quantity", what, signed=True) or 0,
        avg_price=price(d, "AveragePrice", what),
        trade_account=text(d, "TradeAccount", what),
        unsolicited=integer(d, "Unsolicited", what) == 1,
    )
    if not no_positions and not p.symbol:
        raise FrameError(f"{what}: no Symbol")
    return p


@dataclass(frozen=True, slots=True)
class Balance:
    trade_account: str
    cash_balance: float | None
    available: float | None
    currency: str
    open_pnl: float | None
    daily_pnl: float | None


def balance(d: dict[str, Any]) -> Balance:
    what = "ACCOUNT_BALANCE_UPDATE"
    return Balance(
        trade_account=text(d, "TradeAccount", what),
        cash_balance=number(d, "CashBalance", what),
        available=number(d, "BalanceAvailableForNewPositions", what),
        currency=text(d, "AccountCurrency", what),
        open_pnl=number(d, "OpenPositionsProfitLoss", what),
        daily_pnl=number(d, "DailyProfitLoss", what),
    )


@dataclass(frozen=True, slots=True)
class LogonResponse:
    result: int
    text: str
    server_name: str
    trading_supported: bool
    cancel_replace_supported: bool


def logon_response(d: dict[str, Any]) -> LogonResponse:
    what = "LOGON_RESPONSE"
    return LogonResponse(
        result=integer(d, "Result", what),
        text=text(d, "ResultText", what),
        server_name=text(d, "ServerName", what),
        trading_supported=integer(d, "TradingIsSupported", what) == 1,
        # the structure's constructor sets it to 1: a server that leaves it out supports it
        cancel_replace_supported=integer(d, "OrderCancelReplaceSupported", what, default=1) == 1,
    )


def reject_text(d: dict[str, Any]) -> str:
    return text(d, "RejectText", f"reject (Type {d.get('Type')})") or "no reason given"


def server_text(d: dict[str, Any]) -> str:
    """What a USER_MESSAGE / GENERAL_LOG_MESSAGE / ALERT_MESSAGE / LOGOFF says."""
    key = {Msg.USER_MESSAGE: "UserMessage", Msg.LOGOFF: "Reason"}.get(d["Type"], "MessageText")
    return text(d, key, f"Type {d['Type']}")
