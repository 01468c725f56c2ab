"""Gateway payloads validated at the edge: hub events and REST items, and the gateway's enums.

Enum values follow the ProjectX Gateway documentation's realtime page (OrderStatus: 0 None,
1 Open, 2 Filled, 3 Cancelled, 4 Expired, 5 Rejected, 6 Pending; OrderType: 1 Limit, 2 Market,
3 StopLimit, 4 Stop, 5 TrailingStop, 6 JoinBid, 7 JoinAsk; side 0 bid/buy, 1 ask/sell;
PositionType 1 long, 2 short). A value outside them is reported naming the field, not guessed.
Unknown extra fields are ignored: the gateway adds fields over time.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from adapters.projectx.contracts import ContractError, symbol_of
from copytui.models import MAX_INT, MAX_QTY, OrderStatus, OrderType, Side


class GwStatus(IntEnum):
    NONE = 0
    OPEN = 1
    FILLED = 2
    CANCELLED = 3
    EXPIRED = 4
    REJECTED = 5
    PENDING = 6


class GwType(IntEnum):
    LIMIT = 1
    MARKET = 2
    STOP_LIMIT = 3
    STOP = 4
    TRAILING_STOP = 5
    JOIN_BID = 6
    JOIN_ASK = 7


class PayloadError(ValueError):
    """A gateway payload that failed validation; the message names the event and the field."""


_TYPE_IN = {
    GwType.LIMIT: OrderType.LIMIT,
    GwType.MARKET: OrderType.MARKET,
    GwType.STOP_LIMIT: OrderType.STOP_LIMIT,
    GwType.STOP: OrderType.STOP,
    GwType.TRAILING_STOP: OrderType.STOP,  # copytui has no trailing stop: its current stop level is what counts
    GwType.JOIN_BID: OrderType.LIMIT,
    GwType.JOIN_ASK: OrderType.LIMIT,
}
TYPE_OUT = {
    OrderType.LIMIT: GwType.LIMIT,
    OrderType.MARKET: GwType.MARKET,
    OrderType.STOP_LIMIT: GwType.STOP_LIMIT,
    OrderType.STOP: GwType.STOP,
}


def _ns(ts: datetime | None) -> int:
    """Wall-clock ns of a gateway timestamp; 0 without an offset or outside what an AccountEvent holds."""
    ns = int(ts.timestamp() * 1e9) if ts and ts.tzinfo else 0
    return ns if 0 <= ns <= MAX_INT else 0


def side_out(side: Side) -> int:
    return 0 if side is Side.BUY else 1


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)  # NaN / infinite: a broken payload

    @field_validator("contractId", check_fields=False)
    @classmethod
    def _contract(cls, v: str) -> str:
        try:
            symbol_of(v)
        except ContractError as exc:
            raise ValueError(str(exc).removeprefix("contractId: ")) from None
        return v

    @property
    def symbol(self) -> str:
        return symbol_of(self.contractId)  # type: ignore[attr-defined]


class GwOrder(_Payload):
    id: int
    accountId: int
    contractId: str
    status: GwStatus
    type: GwType
    side: int
    size: int
    limitPrice: float | None = None
    stopPrice: float | None = None
    fillVolume: int = 0
    filledPrice: float | None = None
    customTag: str | None = None
    creationTimestamp: datetime | None = None
    updateTimestamp: datetime | None = None

    @field_validator("side")
    @classmethod
    def _side(cls, v: int) -> int:
        if v not in (0, 1):
            raise ValueError(f"must be 0 (bid/buy) or 1 (ask/sell), got {v}")
        return v

    @field_validator("size", "fillVolume")
    @classmethod
    def _non_negative(cls, v: int) -> int:
        if not 0 <= v <= MAX_QTY:
            raise ValueError(f"must be from 0 to {MAX_QTY}, got {v}")
        return v

    @property
    def copy_side(self) -> Side:
        return Side.BUY if self.side == 0 else Side.SELL

    @property
    def order_type(self) -> OrderType:
        return _TYPE_IN[self.type]

    @property
    def wall_ns(self) -> int:
        return _ns(self.updateTimestamp or self.creationTimestamp)


class GwTrade(_Payload):
    id: int
    accountId: int
    contractId: str
    price: float
    side: int
    size: int
    orderId: int
    voided: bool = False
    creationTimestamp: datetime | None = None
    profitAndLoss: float | None = None
    fees: float | None = None

    @field_validator("side")
    @classmethod
    def _side(cls, v: int) -> int:
        if v not in (0, 1):
            raise ValueError(f"must be 0 (bid/buy) or 1 (ask/sell), got {v}")
        return v

    @field_validator("size")
    @classmethod
    def _positive(cls, v: int) -> int:
        if not 0 < v <= MAX_QTY:
            raise ValueError(f"must be from 1 to {MAX_QTY}, got {v}")
        return v

    @property
    def copy_side(self) -> Side:
        return Side.BUY if self.side == 0 else Side.SELL

    @property
    def wall_ns(self) -> int:
        return _ns(self.creationTimestamp)


class GwPosition(_Payload):
    accountId: int
    contractId: str
    type: int
    size: int
    averagePrice: float | None = None
    id: int | None = None
    creationTimestamp: datetime | None = None

    @field_validator("size")
    @classmethod
    def _non_negative(cls, v: int) -> int:
        if not 0 <= v <= MAX_QTY:
            raise ValueError(f"must be from 0 to {MAX_QTY}, got {v}")
        return v

    @field_validator("type")
    @classmethod
    def _type(cls, v: int) -> int:
        if v not in (0, 1, 2):
            raise ValueError(f"must be 1 (long) or 2 (short) (0 only when closed), got {v}")
        return v

    @property
    def signed_size(self) -> int:
        if self.size and self.type == 0:
            raise PayloadError(f"GatewayUserPosition.type: 0 (undefined) with size {self.size} for {self.contractId}")
        return -self.size if self.type == 2 else self.size


def copy_status(status: GwStatus, fill_volume: int = 0) -> OrderStatus:
    if status in (GwStatus.OPEN, GwStatus.PENDING):
        return OrderStatus.PARTIALLY_FILLED if fill_volume else OrderStatus.WORKING
    return {
        GwStatus.FILLED: OrderStatus.FILLED,
        GwStatus.CANCELLED: OrderStatus.CANCELLED,
        GwStatus.EXPIRED: OrderStatus.CANCELLED,
        GwStatus.REJECTED: OrderStatus.REJECTED,
    }.get(status, OrderStatus.UNKNOWN)


def unwrap(raw: Any, event: str) -> dict[str, Any]:
    """A hub payload comes bare or as ``{"action": n, "data": {...}}``; return the entity."""
    if not isinstance(raw, dict):
        raise PayloadError(f"{event}: payload must be a JSON object, got {type(raw).__name__}")
    if "data" in raw and "action" in raw:
        data = raw["data"]
        if not isinstance(data, dict):
            raise PayloadError(f"{event}.data: must be a JSON object, got {type(data).__name__}")
        if not isinstance(raw["action"], int) or isinstance(raw["action"], bool):
            raise PayloadError(f"{event}.action: must be an integer, got {raw['action']!r}")
        return data
    return raw


def validate(model: type[_Payload], raw: Any, event: str) -> Any:
    """Validate one payload; PayloadError names the event and every bad field."""
    data = unwrap(raw, event)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "(payload)"
            got = "" if err["type"] == "missing" else f" (got {err.get('input')!r:.40})"
            problems.append(f"{event}.{field}: {err['msg']}{got}")
        raise PayloadError("; ".join(problems)) from None
