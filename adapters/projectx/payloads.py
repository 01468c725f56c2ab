"""Gateway payloads validated at the edge: hub events and REST items, and the gateway's enums.

Enum values follow the ProjectX Gateway documentation's realtime page and two independent public
clients (project-x-py 4.x, the Rust crate projectx-client 6.x): OrderStatus 0 None, 1 Open,
2 Filled, 3 Cancelled, 4 Expired, 5 Rejected, 6 Pending, 7 PendingCancellation, 8 Suspended
(inactive bracket children); OrderType 0 Unknown, 1 Limit, 2 Market, 3 StopLimit, 4 Stop,
5 TrailingStop, 6 JoinBid, 7 JoinAsk; side 0 bid/buy, 1 ask/sell; PositionType 0 Undefined, 1 long,
2 short. A TrailingStop (5) is copytui's TRAILING_STOP, its trail the order's ``trailPrice``.
An integer outside them is never a reason to drop the event: it decodes as ``UNKNOWN``
and the raw value is kept in ``unknown_values`` (the adapter counts and reports them). A value of
the wrong kind (text where a number belongs) is still a malformed payload, named by its field.
Unknown extra fields are ignored: the gateway adds fields over time.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from adapters.projectx.contracts import ContractError, symbol_of
from copytui.models import MAX_INT, MAX_QTY, OrderStatus, OrderType, Side

# Every gateway enum has UNKNOWN = -1: a value this copytui does not know (its raw value is in the
# payload's ``unknown_values``). -1 is never read from the wire as itself: it is unknown too.


class GwStatus(IntEnum):
    UNKNOWN = -1
    NONE = 0
    OPEN = 1
    FILLED = 2
    CANCELLED = 3
    EXPIRED = 4
    REJECTED = 5
    PENDING = 6
    PENDING_CANCELLATION = 7
    SUSPENDED = 8  # inactive bracket children, waiting for their entry


class GwType(IntEnum):
    UNKNOWN = -1
    UNSPECIFIED = 0  # "Unknown" in the gateway's own enum
    LIMIT = 1
    MARKET = 2
    STOP_LIMIT = 3
    STOP = 4
    TRAILING_STOP = 5
    JOIN_BID = 6
    JOIN_ASK = 7


class GwSide(IntEnum):
    UNKNOWN = -1
    BID = 0  # buy
    ASK = 1  # sell


class GwPositionType(IntEnum):
    UNKNOWN = -1
    UNDEFINED = 0
    LONG = 1
    SHORT = 2


def _documented(enum: type[IntEnum]) -> frozenset[int]:
    return frozenset(m.value for m in enum if m.name != "UNKNOWN")


class PayloadError(ValueError):
    """A gateway payload that failed validation; the message names the event and the field."""


_TYPE_IN = {
    GwType.LIMIT: OrderType.LIMIT,
    GwType.MARKET: OrderType.MARKET,
    GwType.STOP_LIMIT: OrderType.STOP_LIMIT,
    GwType.STOP: OrderType.STOP,
    GwType.TRAILING_STOP: OrderType.TRAILING_STOP,
    GwType.JOIN_BID: OrderType.LIMIT,
    GwType.JOIN_ASK: OrderType.LIMIT,
}
TYPE_OUT = {
    OrderType.LIMIT: GwType.LIMIT,
    OrderType.MARKET: GwType.MARKET,
    OrderType.STOP_LIMIT: GwType.STOP_LIMIT,
    OrderType.STOP: GwType.STOP,
    OrderType.TRAILING_STOP: GwType.TRAILING_STOP,
}


def _ns(ts: datetime | None) -> int:
    """Wall-clock ns of a gateway timestamp; 0 without an offset or outside what an AccountEvent holds."""
    ns = int(ts.timestamp() * 1e9) if ts and ts.tzinfo else 0
    return ns if 0 <= ns <= MAX_INT else 0


def side_out(side: Side) -> int:
    return 0 if side is Side.BUY else 1


def _side_in(side: GwSide) -> Side | None:
    return {GwSide.BID: Side.BUY, GwSide.ASK: Side.SELL}.get(side)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)  # NaN / infinite: a broken payload

    _ENUMS: ClassVar[dict[str, type[IntEnum]]] = {}
    contractId: str
    unknown_values: tuple[str, ...] = ()
    """``field=value`` for each enum value this copytui does not know; the field reads UNKNOWN."""

    @model_validator(mode="before")
    @classmethod
    def _keep_unknown_enums(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = {k: v for k, v in data.items() if k != "unknown_values"}  # ours, never the wire's
        unknown = []
        for name, enum in cls._ENUMS.items():
            value = data.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value not in _documented(enum):
                unknown.append(f"{name}={value}")
                data[name] = enum["UNKNOWN"]
        data["unknown_values"] = tuple(unknown)
        return data

    @field_validator("contractId")
    @classmethod
    def _contract(cls, v: str) -> str:
        try:
            symbol_of(v)
        except ContractError as exc:
            raise ValueError(str(exc).removeprefix("contractId: ")) from None
        return v

    @property
    def symbol(self) -> str:
        return symbol_of(self.contractId)


class GwOrder(_Payload):
    _ENUMS: ClassVar[dict[str, type[IntEnum]]] = {"status": GwStatus, "type": GwType, "side": GwSide}

    id: int
    accountId: int
    contractId: str
    status: GwStatus
    type: GwType
    side: GwSide
    size: int
    limitPrice: float | None = None
    stopPrice: float | None = None
    fillVolume: int | None = None
    """None: the gateway did not say (project-x-py allows it); no fill is inferred from it."""
    filledPrice: float | None = None
    customTag: str | None = None
    creationTimestamp: datetime | None = None
    updateTimestamp: datetime | None = None
    trailPrice: float | None = None
    """Absent from the documented order payloads, present in recorded gateway order events: a
    distance in price units (see :attr:`trail`)."""

    @field_validator("size", "fillVolume")
    @classmethod
    def _non_negative(cls, v: int | None) -> int | None:
        if v is not None and not 0 <= v <= MAX_QTY:
            raise ValueError(f"must be from 0 to {MAX_QTY}, got {v}")
        return v

    @property
    def copy_side(self) -> Side | None:
        """None when the side is unknown to this copytui."""
        return _side_in(self.side)

    @property
    def order_type(self) -> OrderType | None:
        """None when the type is unknown to this copytui (or the gateway's own 0 "Unknown")."""
        return _TYPE_IN.get(self.type)

    @property
    def trail(self) -> float | None:
        """A TrailingStop's trail: the size of ``trailPrice``. Recorded gateway events carry
        ``trailPrice`` as a signed distance in price units on bracket legs (their ticks in
        ``trailDistance``), so it is read as a distance, whatever its sign; None when the order is
        no TrailingStop or says no distance (copytui then follows its stop as a plain stop)."""
        if self.type is not GwType.TRAILING_STOP or not self.trailPrice:
            return None
        return abs(self.trailPrice)

    @property
    def filled(self) -> int:
        return self.fillVolume or 0

    @property
    def wall_ns(self) -> int:
        return _ns(self.updateTimestamp or self.creationTimestamp)


class GwTrade(_Payload):
    _ENUMS: ClassVar[dict[str, type[IntEnum]]] = {"side": GwSide}

    id: int
    accountId: int
    contractId: str
    price: float
    side: GwSide
    size: int
    orderId: int
    voided: bool = False
    creationTimestamp: datetime | None = None
    profitAndLoss: float | None = None
    fees: float | None = None

    @field_validator("size")
    @classmethod
    def _positive(cls, v: int) -> int:
        if not 0 < v <= MAX_QTY:
            raise ValueError(f"must be from 1 to {MAX_QTY}, got {v}")
        return v

    @property
    def copy_side(self) -> Side | None:
        """None when the side is unknown to this copytui: the trade's order then says it."""
        return _side_in(self.side)

    @property
    def wall_ns(self) -> int:
        return _ns(self.creationTimestamp)


class GwPosition(_Payload):
    _ENUMS: ClassVar[dict[str, type[IntEnum]]] = {"type": GwPositionType}

    accountId: int
    contractId: str
    type: GwPositionType
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

    @property
    def signed_size(self) -> int:
        """The net position; a size without a known direction is an error naming the field, never a guess."""
        if self.size and self.type not in (GwPositionType.LONG, GwPositionType.SHORT):
            raw = next((u.partition("=")[2] for u in self.unknown_values if u.startswith("type=")), "0 (undefined)")
            raise PayloadError(f"GatewayUserPosition.type: {raw} with size {self.size} for {self.contractId}")
        return -self.size if self.type is GwPositionType.SHORT else self.size


_LIVE = {GwStatus.OPEN, GwStatus.PENDING, GwStatus.PENDING_CANCELLATION, GwStatus.SUSPENDED}


def copy_status(status: GwStatus, fill_volume: int = 0) -> OrderStatus:
    """What copytui calls a gateway status: a cancel still pending or a suspended bracket child still works."""
    if status in _LIVE:
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
