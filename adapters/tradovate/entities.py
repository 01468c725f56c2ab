"""Tradovate entities as they arrive on the wire, validated at the edge, and the vocabulary tables.

Field names follow the public API reference (partner.tradovate.com, REST endpoints > Orders,
Positions, Contracts). Note what the reference says and PROTOCOLS.md glossed over: the ``Order``
entity has no quantity, price or ``clOrdId``. Quantity, type and prices live in ``OrderVersion``;
the client order id lives in ``Command``; cumulative fills in ``ExecutionReport`` and ``Fill``.
Unknown extra fields are ignored (the broker adds fields); missing or wrong required fields raise
:class:`EntityError` naming the entity and the field.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.base import BrokerError
from copytui.instruments import INSTRUMENTS
from copytui.models import MAX_INT, MAX_QTY, OrderStatus, OrderType, Side, TimeInForce

_WIRE = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)  # NaN / infinite prices: a broken entity

Action = Literal["Buy", "Sell"]
OrdStatus = Literal[
    "Canceled",
    "Completed",
    "Expired",
    "Filled",
    "PendingCancel",
    "PendingNew",
    "PendingReplace",
    "Rejected",
    "Suspended",
    "Unknown",
    "Working",
]
WireOrderType = Literal[
    "Limit", "LimitIfTouched", "MIT", "Market", "QTS", "Stop", "StopLimit", "TrailingStop", "TrailingStopLimit"
]

ACTION_TO_SIDE: dict[str, Side] = {"Buy": Side.BUY, "Sell": Side.SELL}
SIDE_TO_ACTION: dict[Side, str] = {v: k for k, v in ACTION_TO_SIDE.items()}
ORDER_TYPE_FROM_WIRE: dict[str, OrderType] = {
    "Market": OrderType.MARKET,
    "Limit": OrderType.LIMIT,
    "Stop": OrderType.STOP,
    "StopLimit": OrderType.STOP_LIMIT,
    "TrailingStop": OrderType.TRAILING_STOP,
}
ORDER_TYPE_TO_WIRE: dict[OrderType, WireOrderType] = {
    OrderType.MARKET: "Market",
    OrderType.LIMIT: "Limit",
    OrderType.STOP: "Stop",
    OrderType.STOP_LIMIT: "StopLimit",
    OrderType.TRAILING_STOP: "TrailingStop",
}
TIF_TO_WIRE: dict[TimeInForce, str] = {TimeInForce.DAY: "Day", TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC"}
TIF_FROM_WIRE: dict[str, TimeInForce] = {v: k for k, v in TIF_TO_WIRE.items()}
FINAL_STATUSES = frozenset({"Canceled", "Completed", "Expired", "Filled", "Rejected"})
STATUS_FROM_WIRE: dict[str, OrderStatus] = {
    "Canceled": OrderStatus.CANCELLED,
    "Expired": OrderStatus.CANCELLED,
    "Completed": OrderStatus.FILLED,
    "Filled": OrderStatus.FILLED,
    "Rejected": OrderStatus.REJECTED,
    "PendingNew": OrderStatus.WORKING,
    "PendingCancel": OrderStatus.WORKING,
    "PendingReplace": OrderStatus.WORKING,
    "Suspended": OrderStatus.WORKING,
    "Working": OrderStatus.WORKING,
    "Unknown": OrderStatus.UNKNOWN,
}
MONTH_CODES = "FGHJKMNQUVXZ"
_CONTRACT = re.compile(rf"^([A-Z0-9]{{1,4}}?)([{MONTH_CODES}])(\d{{1,2}})$")


class EntityError(BrokerError):
    """An entity from the broker that does not validate: logged and skipped, never fatal."""


class WireAccount(BaseModel):
    model_config = _WIRE
    id: int
    name: str
    userId: int | None = None
    active: bool = True


class WireContract(BaseModel):
    model_config = _WIRE
    id: int
    name: str = Field(min_length=2)
    contractMaturityId: int | None = None


class WireOrder(BaseModel):
    model_config = _WIRE
    id: int
    accountId: int
    contractId: int | None = None
    timestamp: str | None = None
    action: Action
    ordStatus: OrdStatus
    admin: bool = False
    ocoId: int | None = None
    """Links the order into an OCO pair (placeOCO's legs). The reference gives the field and its
    type only: see ``oco_links.OcoLinks`` for how copytui reads it."""
    parentId: int | None = None
    """For a bracket of placeOSO, the order whose fill sends it (read, not used)."""
    linkedId: int | None = None


class WireOrderVersion(BaseModel):
    model_config = _WIRE
    id: int
    orderId: int
    orderQty: int = Field(gt=0, le=MAX_QTY)
    orderType: WireOrderType
    price: float | None = None
    stopPrice: float | None = None
    timeInForce: str | None = None
    pegDifference: float | None = None
    """A TrailingStop's distance from the market (see :func:`trail_of`)."""

    @property
    def trail(self) -> float | None:
        return trail_of(self.orderType, self.pegDifference)


class WireCommand(BaseModel):
    model_config = _WIRE
    id: int
    orderId: int
    timestamp: str | None = None
    clOrdId: str | None = Field(default=None, max_length=64)
    commandType: Literal["New", "Modify", "Cancel"]
    commandStatus: str | None = None


class WireExecutionReport(BaseModel):
    model_config = _WIRE
    id: int
    orderId: int
    accountId: int | None = None
    contractId: int | None = None
    timestamp: str | None = None
    execType: str
    ordStatus: OrdStatus | None = None
    action: Action | None = None
    cumQty: int | None = Field(default=None, ge=0)
    avgPx: float | None = None
    lastQty: int | None = None
    lastPx: float | None = None
    rejectReason: str | None = None
    text: str | None = None


class WireFill(BaseModel):
    model_config = _WIRE
    id: int
    orderId: int
    contractId: int
    timestamp: str | int | None = None
    action: Action
    qty: int = Field(gt=0, le=MAX_QTY)
    price: float
    active: bool = True


class WirePosition(BaseModel):
    model_config = _WIRE
    id: int
    accountId: int
    contractId: int
    timestamp: str | None = None
    netPos: int = Field(ge=-MAX_QTY, le=MAX_QTY)
    netPrice: float | None = None
    bought: int = Field(default=0, ge=0)
    sold: int = Field(default=0, ge=0)
    prevPos: int | None = None


ENTITY_MODELS: dict[str, type[BaseModel]] = {
    "account": WireAccount,
    "contract": WireContract,
    "order": WireOrder,
    "orderVersion": WireOrderVersion,
    "command": WireCommand,
    "executionReport": WireExecutionReport,
    "fill": WireFill,
    "position": WirePosition,
}
SNAPSHOT_KEYS: dict[str, str] = {
    "contracts": "contract",
    "commands": "command",
    "orders": "order",
    "orderVersions": "orderVersion",
    "executionReports": "executionReport",
    "fills": "fill",
    "positions": "position",
}
"""user/syncrequest snapshot lists, in the order they are applied (an order before its fills)."""


def validate(entity_type: str, raw: Any) -> BaseModel:
    model = ENTITY_MODELS[entity_type]
    if not isinstance(raw, dict):
        raise EntityError(f"tradovate {entity_type}: expected an object, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(entity)"
        raise EntityError(
            f"tradovate {entity_type} {raw.get('id', '?')}: field {where!r}: {err['msg']} (got {err.get('input')!r})"
        ) from None


def trail_of(order_type: str, peg_difference: float | None) -> float | None:
    """A TrailingStop's trail as copytui keeps it: the size of ``pegDifference``, in price points.

    The reference lists ``pegDifference`` (a double) on OrderVersion, placeorder and modifyorder
    and says nothing more. Public clients that place trailing stops send it as a positive offset in
    price points, with ``stopPrice`` as the starting stop; FIX, whose PegDifference (211) it is
    named after, signs it. Read as its absolute value, both readings give the same trail; copytui
    sends it positive (orders.py). None: no distance given (or not a TrailingStop), so the stop is
    followed as a plain stop that moves."""
    if order_type != "TrailingStop" or not peg_difference:
        return None
    return abs(peg_difference)


def root_symbol(contract_name: str) -> str:
    """``ESZ5`` -> ``ES``; an unknown root is an error naming the contract."""
    m = _CONTRACT.match(contract_name)
    root = m.group(1) if m else contract_name
    if root not in INSTRUMENTS:
        raise EntityError(
            f"tradovate contract {contract_name!r}: root {root!r} is not a symbol copytui knows "
            f"({', '.join(sorted(INSTRUMENTS))})"
        )
    return root


def is_contract_of(contract_name: str, root: str) -> bool:
    m = _CONTRACT.match(contract_name)
    return bool(m and m.group(1) == root)


def parse_time_ns(stamp: Any) -> int:
    """Broker timestamp (ISO 8601 or epoch ms) as wall-clock ns; 0 when absent, unreadable or out of range."""
    try:
        if isinstance(stamp, int | float):
            ns = int(stamp * 1_000_000)
        elif isinstance(stamp, str) and stamp:
            ns = int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1e9)
        else:
            return 0
    except (ValueError, OverflowError):
        return 0
    return ns if 0 <= ns <= MAX_INT else 0


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
