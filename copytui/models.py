"""Canonical types shared by every room of copytui.

Quantities are whole contracts (futures). Prices are floats in the instrument's quote units;
tick arithmetic lives in :mod:`copytui.instruments`. Timestamps ending in ``_ns`` are
``time.perf_counter_ns()`` readings taken in this process unless named ``wall_ns`` (``time.time_ns``).
"""

from __future__ import annotations

import dataclasses
import math
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @classmethod
    def for_delta(cls, delta: int) -> Side:
        return cls.BUY if delta > 0 else cls.SELL


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"
    """A stop its broker moves after the market: ``trail`` behind the best price since it was placed
    (below it for a sell, above for a buy), never back; ``stop_price`` is where it stands now."""


class TimeInForce(StrEnum):
    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"


class EventKind(StrEnum):
    ORDER_NEW = "order_new"
    ORDER_MODIFIED = "order_modified"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_REJECTED = "order_rejected"
    FILL = "fill"
    POSITION = "position"


class OrderStatus(StrEnum):
    PENDING = "pending"  # journaled, not yet on the wire
    SENT = "sent"  # written to the broker's socket, no answer yet
    WORKING = "working"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    UNKNOWN = "unknown"  # the broker did not answer: ask it by client order id
    SKIPPED = "skipped"  # journaled intent that was deliberately not sent (paused, rounded to 0...)

    @property
    def final(self) -> bool:
        return self in _FINAL


_FINAL = {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.SKIPPED}


class SignalKind(StrEnum):
    NEW = "new"  # a working (limit / stop) order appeared on the leader
    MODIFY = "modify"
    CANCEL = "cancel"
    FILL = "fill"  # the leader's cumulative filled quantity grew
    CORRECTION = "correction"  # a reconciler correction, not a leader event
    OPERATOR = "operator"  # flatten / sync asked by the trader


class OrderAction(StrEnum):
    PLACE = "place"
    MODIFY = "modify"
    CANCEL = "cancel"


_FROZEN = ConfigDict(frozen=True, extra="forbid")

# No futures exchange takes an order anywhere near this size: a larger number is a broken frame.
MAX_QTY = 100_000
# What SQLite (and so the journal) can store in an INTEGER column.
MAX_INT = 2**63 - 1
# Brokers' OCO ids (NinjaTrader's OCO ID, a FIX list id) are short strings: a longer one is a broken frame.
MAX_OCO_GROUP_LEN = 64


class AccountEvent(BaseModel):
    """One thing that happened on a broker account, validated at the adapter's edge."""

    model_config = _FROZEN

    account: str
    kind: EventKind
    order_id: str | None = None
    client_order_id: str | None = None
    symbol: str | None = None
    side: Side | None = None
    order_type: OrderType | None = None
    qty: int = Field(default=0, ge=0, le=MAX_QTY, description="order quantity")
    price: float | None = None
    stop_price: float | None = None
    trail: float | None = Field(
        default=None, gt=0, description="trailing stops: the distance its broker keeps the stop from the market"
    )
    version: int = Field(default=0, ge=0, le=MAX_INT, description="order version: grows with each modification")
    fill_id: str | None = None
    fill_qty: int = Field(default=0, ge=0, le=MAX_QTY)
    cum_qty: int = Field(default=0, ge=0, le=MAX_QTY, description="cumulative filled quantity of the order")
    fill_price: float | None = None
    position: int | None = Field(
        default=None, ge=-MAX_QTY, le=MAX_QTY, description="signed net position (POSITION events)"
    )
    avg_price: float | None = None
    reason: str | None = None
    oco_group: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_OCO_GROUP_LEN,
        description="order events: the broker's OCO group of the order (its other working legs share it)",
    )
    seq: int = Field(default=0, ge=0, le=MAX_INT, description="broker event sequence, 0 when the broker has none")
    cursor: str | None = Field(
        default=None,
        max_length=4096,
        description="fills_since's cursor once this fill is copied, for a broker whose catch-up cannot be told"
        " apart from fills already copied by id (NinjaTrader's position files): journaled with the fill's signal",
    )
    wall_ns: int = Field(default=0, ge=0, le=MAX_INT)
    recv_ns: int = Field(default=0, ge=0, le=MAX_INT, description="perf_counter_ns when the frame was read")

    @model_validator(mode="after")
    def _check(self) -> AccountEvent:
        for name in ("price", "stop_price", "fill_price", "avg_price", "trail"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value}")
        if self.kind is EventKind.FILL:
            if self.fill_qty <= 0 or self.fill_price is None or not self.symbol or self.side is None:
                raise ValueError("a fill needs symbol, side, fill_qty > 0 and fill_price")
            if self.cum_qty < self.fill_qty:
                raise ValueError("cum_qty is smaller than fill_qty")
        if self.kind in (EventKind.ORDER_NEW, EventKind.ORDER_MODIFIED):
            if not self.order_id or not self.symbol or self.side is None or self.order_type is None:
                raise ValueError("an order event needs order_id, symbol, side and order_type")
            if self.qty <= 0:
                raise ValueError("an order event needs qty > 0")
        if self.kind is EventKind.POSITION and (self.position is None or not self.symbol):
            raise ValueError("a position event needs symbol and position")
        return self


@dataclasses.dataclass(frozen=True, slots=True)
class MarketMark:
    """The market of a leader event's contract at the moment the event was read."""

    bid: float | None
    ask: float | None
    last: float | None
    age_ms: float | None
    """How old the quote was then; None when there was none."""
    note: str
    """Why it is not the market of that moment ("" when it is): stale, none yet, feed down."""

    @property
    def live(self) -> bool:
        return not self.note

    def reference(self, side: Side) -> float | None:
        """What a follower order on ``side`` could have had at that moment: the ask to buy, the bid
        to sell (the last trade when that side is empty); None when the quote was not live."""
        if not self.live:
            return None
        touch = self.ask if side is Side.BUY else self.bid
        return touch if touch is not None else self.last


class Signal(BaseModel):
    """What the leader did, with a deterministic id (invariant 2)."""

    model_config = _FROZEN

    id: str
    leader: str
    kind: SignalKind
    leader_order_id: str | None = None
    symbol: str
    side: Side | None = None
    order_type: OrderType | None = None
    qty: int = 0
    price: float | None = None
    stop_price: float | None = None
    fill_qty: int = 0
    cum_qty: int = 0
    fill_price: float | None = None
    leader_position: int = 0
    oco_group: str | None = None
    """The leader's OCO group of the order (its other legs share it), None when it has none."""
    trail: float | None = None
    """A trailing stop's distance from the market, when the leader's broker reports it."""
    wall_ns: int = 0
    recv_ns: int = 0


class FollowerOrder(BaseModel):
    """One order for one follower, decided by the router and journaled before it is sent."""

    model_config = _FROZEN

    follower: str
    signal_id: str
    client_order_id: str
    action: OrderAction
    symbol: str
    side: Side
    qty: int = Field(ge=0)
    order_type: OrderType = OrderType.MARKET
    price: float | None = None
    stop_price: float | None = None
    tif: TimeInForce = TimeInForce.DAY
    leader_symbol: str = ""
    leader_order_id: str | None = None
    target_client_order_id: str | None = Field(
        default=None, description="for modify / cancel: the follower order being changed"
    )
    broker_order_id: str | None = None
    reference_price: float | None = Field(default=None, description="leader fill price, for slippage")
    status: OrderStatus = OrderStatus.PENDING
    reason: str | None = None
    oco_group: str | None = Field(
        default=None,
        description="the follower-side OCO group of a mirrored bracket leg: sent to a broker that declares "
        "brackets, emulated by copytui for one that does not",
    )
    trail: float | None = Field(default=None, description="a trailing stop's distance from the market")
    recv_ns: int = 0

    @property
    def signed_qty(self) -> int:
        return self.qty * self.side.sign


# Every field in declaration order, with its default (None for the required ones): a copy updated
# with the given values keeps that order, as pydantic's own __dict__ does.
_ORDER_TEMPLATE: dict[str, Any] = {
    name: None if info.is_required() else info.default for name, info in FollowerOrder.model_fields.items()
}
_ORDER_REQUIRED = frozenset(name for name, info in FollowerOrder.model_fields.items() if info.is_required())


def trusted_follower_order(**values: Any) -> FollowerOrder:
    """A FollowerOrder made without pydantic's validation, for the router's hot path only.

    Validation costs about 2 us an order, paid once per follower on every leader fill; the router's
    values all come from state that was validated already (the Signal, the follower's config, its
    own arithmetic), so checking them again buys nothing. The result equals ``FollowerOrder(**values)``
    field for field (same ``__dict__`` order, same fields set). A call that names an unknown field,
    leaves out a required one or gives a negative quantity goes through the validating constructor,
    which says what is wrong. Anything from outside copytui must use ``FollowerOrder(...)``."""
    data = _ORDER_TEMPLATE.copy()
    data.update(values)
    if len(data) != len(_ORDER_TEMPLATE) or not values.keys() >= _ORDER_REQUIRED or data["qty"] < 0:
        return FollowerOrder(**values)
    order = FollowerOrder.__new__(FollowerOrder)
    object.__setattr__(order, "__dict__", data)  # what BaseModel.model_construct sets, without its per-field loop
    object.__setattr__(order, "__pydantic_fields_set__", set(values))
    object.__setattr__(order, "__pydantic_extra__", None)
    object.__setattr__(order, "__pydantic_private__", None)
    return order


class OrderInfo(BaseModel):
    """An order as the broker reports it (open orders, find_order)."""

    model_config = _FROZEN

    account: str
    broker_order_id: str
    client_order_id: str | None = None
    symbol: str
    side: Side
    order_type: OrderType
    qty: int
    filled_qty: int = 0
    price: float | None = None
    stop_price: float | None = None
    avg_fill_price: float | None = None
    status: OrderStatus
    oco_group: str | None = None
    """The broker's OCO group of the order, when the broker reports one."""
    trail: float | None = None
    """A trailing stop's distance from the market, when the broker reports it."""


class OrderAck(BaseModel):
    model_config = _FROZEN

    client_order_id: str
    broker_order_id: str | None
    status: OrderStatus
    sent_ns: int = Field(description="perf_counter_ns when the request was written to the socket")
    ack_ns: int = 0
    reason: str | None = None


class Execution(BaseModel):
    """A follower fill, with its latency and slippage against the leader."""

    model_config = _FROZEN

    follower: str
    client_order_id: str
    symbol: str
    side: Side
    qty: int
    price: float
    fill_id: str
    slippage_ticks: float | None = None
    slippage_cash: float | None = None
    fill_ns: int = 0
    wall_ns: int = 0


class Position(BaseModel):
    """A position as the broker reports it. The P&L fields are the broker's own figures, None when
    the broker sends none; copytui's own P&L is computed from fills (copytui.engine.pnl)."""

    model_config = _FROZEN

    account: str
    symbol: str
    qty: int
    avg_price: float = Field(default=0.0, description="0.0 when flat or when the broker does not say")
    realized_pnl: float | None = None
    unrealized_pnl: float | None = None


def apply_fill(qty: int, avg_price: float, delta: int, price: float) -> tuple[int, float, float]:
    """Net a fill of ``delta`` signed contracts at ``price`` into a position of ``qty`` at ``avg_price``.

    Returns the new ``(qty, avg_price, realised)``, the realised part in price points times contracts
    (times the contract's point value, it is money). Adding keeps the volume-weighted average;
    reducing keeps the average and realises the closed part; a fill through zero closes the old
    position and opens the rest at ``price``; a flat position's average is 0.0.
    """
    if delta == 0:
        return qty, avg_price, 0.0
    if qty == 0 or (qty > 0) == (delta > 0):
        total = qty + delta
        return total, (avg_price * abs(qty) + price * abs(delta)) / abs(total), 0.0
    sign = 1 if qty > 0 else -1
    closing = min(abs(delta), abs(qty))
    realised = (price - avg_price) * closing * sign
    opened = delta + sign * closing  # the part of the fill beyond flat
    if opened:
        return opened, price, realised
    left = qty - sign * closing
    return left, avg_price if left else 0.0, realised
