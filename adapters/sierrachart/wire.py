"""DTC's JSON encoding on a TCP stream: message types, enum values, framing, the compact form.

Facts from DTCProtocol.h (protocol version 8): every message is one JSON object with a numeric
``"Type"`` and the structure's field names, each followed by a NUL byte. The compact JSON form
``{"Type": n, "F": [...]}`` carries the values in the structure's field order (``Size`` and ``Type``
left out); :data:`FIELDS` lists that order for every message this adapter reads or writes, so a
compact message decodes to the same dict as the full form. A newer server that appends fields
to a structure only lengthens ``F``: the extra values are ignored.

Encoding negotiation (ENCODING_REQUEST, type 6) is a binary message; Sierra Chart's server, with
its Encoding setting at JSON, needs none. :data:`ENCODING_REQUEST_JSON` is the 16-byte request
for a server left at Automatic.
"""

from __future__ import annotations

import enum
import json
import struct
from typing import Any

PROTOCOL_VERSION = 8
ORDER_ID_LENGTH = 32
"""char[32] in the binary structures, NUL included: 31 usable characters."""
UNSET = 1e300
"""DTC marks an unset double with DBL_MAX: any value at least this large is "not given"."""


class Msg(enum.IntEnum):
    LOGON_REQUEST = 1
    LOGON_RESPONSE = 2
    HEARTBEAT = 3
    LOGOFF = 5
    ENCODING_REQUEST = 6
    ENCODING_RESPONSE = 7
    SUBMIT_NEW_OCO_ORDER = 201
    SUBMIT_NEW_SINGLE_ORDER = 208
    SUBMIT_FLATTEN_POSITION_ORDER = 209
    CANCEL_ORDER = 203
    CANCEL_REPLACE_ORDER = 204
    OPEN_ORDERS_REQUEST = 300
    ORDER_UPDATE = 301
    OPEN_ORDERS_REJECT = 302
    HISTORICAL_ORDER_FILLS_REQUEST = 303
    HISTORICAL_ORDER_FILL_RESPONSE = 304
    CURRENT_POSITIONS_REQUEST = 305
    POSITION_UPDATE = 306
    CURRENT_POSITIONS_REJECT = 307
    HISTORICAL_ORDER_FILLS_REJECT = 308
    TRADE_ACCOUNTS_REQUEST = 400
    TRADE_ACCOUNT_RESPONSE = 401
    ACCOUNT_BALANCE_UPDATE = 600
    ACCOUNT_BALANCE_REQUEST = 601
    ACCOUNT_BALANCE_REJECT = 602
    USER_MESSAGE = 700
    GENERAL_LOG_MESSAGE = 701
    ALERT_MESSAGE = 702


def msg_name(msg_type: int) -> str:
    return Msg(msg_type).name if msg_type in Msg._value2member_map_ else f"Type {msg_type}"


class Encoding(enum.IntEnum):
    BINARY = 0
    BINARY_VLS = 1
    JSON = 2
    JSON_COMPACT = 3
    PROTOCOL_BUFFERS = 4


class LogonResult(enum.IntEnum):
    SUCCESS = 1
    ERROR = 2
    ERROR_NO_RECONNECT = 3
    RECONNECT_NEW_ADDRESS = 4


class Status(enum.IntEnum):
    UNSPECIFIED = 0
    ORDER_SENT = 1
    PENDING_OPEN = 2
    PENDING_CHILD = 3
    OPEN = 4
    PENDING_CANCEL_REPLACE = 5
    PENDING_CANCEL = 6
    FILLED = 7
    CANCELED = 8
    REJECTED = 9
    PARTIALLY_FILLED = 10


def status_name(status: int) -> str:
    return Status(status).name.lower() if status in Status._value2member_map_ else f"status {status}"


class Reason(enum.IntEnum):
    UNSET = 0
    OPEN_ORDERS_REQUEST_RESPONSE = 1
    NEW_ORDER_ACCEPTED = 2
    GENERAL_ORDER_UPDATE = 3
    ORDER_FILLED = 4
    ORDER_FILLED_PARTIALLY = 5
    ORDER_CANCELED = 6
    ORDER_CANCEL_REPLACE_COMPLETE = 7
    NEW_ORDER_REJECTED = 8
    ORDER_CANCEL_REJECTED = 9
    ORDER_CANCEL_REPLACE_REJECTED = 10


class DtcOrderType(enum.IntEnum):
    UNSET = 0
    MARKET = 1
    LIMIT = 2
    STOP = 3
    STOP_LIMIT = 4
    MARKET_IF_TOUCHED = 5
    LIMIT_IF_TOUCHED = 6


class PartialFillHandling(enum.IntEnum):
    """SUBMIT_NEW_OCO_ORDER: what a partial fill of one leg does to the other (unset: the server's way)."""

    UNSET = 0
    REDUCE_QUANTITY = 1
    IMMEDIATE_CANCEL = 2


class BuySell(enum.IntEnum):
    UNSET = 0
    BUY = 1
    SELL = 2


class Tif(enum.IntEnum):
    UNSET = 0
    DAY = 1
    GOOD_TILL_CANCELED = 2
    GOOD_TILL_DATE_TIME = 3
    IMMEDIATE_OR_CANCEL = 4
    ALL_OR_NONE = 5
    FILL_OR_KILL = 6


_REJECT = ("RequestID", "RejectText")
FIELDS: dict[int, tuple[str, ...]] = {
    Msg.LOGON_REQUEST: (
        "ProtocolVersion", "Username", "Password", "GeneralTextData", "Integer_1", "Integer_2",
        "HeartbeatIntervalInSeconds", "TradeMode", "TradeAccount", "HardwareIdentifier", "ClientName",
    ),
    Msg.LOGON_RESPONSE: (
        "ProtocolVersion", "Result", "ResultText", "ReconnectAddress", "Integer_1", "ServerName",
        "MarketDepthUpdatesBestBidAndAsk", "TradingIsSupported", "OCOOrdersSupported",
        "OrderCancelReplaceSupported", "SymbolExchangeDelimiter", "SecurityDefinitionsSupported",
        "HistoricalPriceDataSupported", "ResubscribeWhenMarketDataFeedAvailable", "MarketDepthIsSupported",
        "OneHistoricalPriceDataRequestPerConnection", "BracketOrdersSupported", "UseIntegerPriceOrderMessages",
        "UsesMultiplePositionsPerSymbolAndTradeAccount", "MarketDataSupported",
    ),
    Msg.HEARTBEAT: ("NumDroppedMessages", "CurrentDateTime"),
    Msg.LOGOFF: ("Reason", "DoNotReconnect"),
    Msg.ENCODING_REQUEST: ("ProtocolVersion", "Encoding", "ProtocolType"),
    Msg.ENCODING_RESPONSE: ("ProtocolVersion", "Encoding", "ProtocolType"),
    Msg.SUBMIT_NEW_SINGLE_ORDER: (
        "Symbol", "Exchange", "TradeAccount", "ClientOrderID", "OrderType", "BuySell", "Price1", "Price2",
        "Quantity", "TimeInForce", "GoodTillDateTime", "IsAutomatedOrder", "IsParentOrder", "FreeFormText",
        "OpenOrClose", "MaxShowQuantity",
    ),
    Msg.SUBMIT_NEW_OCO_ORDER: (
        "Symbol", "Exchange", "ClientOrderID_1", "OrderType_1", "BuySell_1", "Price1_1", "Price2_1", "Quantity_1",
        "ClientOrderID_2", "OrderType_2", "BuySell_2", "Price1_2", "Price2_2", "Quantity_2", "TimeInForce",
        "GoodTillDateTime", "TradeAccount", "IsAutomatedOrder", "ParentTriggerClientOrderID", "FreeFormText",
        "OpenOrClose", "PartialFillHandling", "UseOffsets", "OffsetFromParent1", "OffsetFromParent2",
    ),
    Msg.SUBMIT_FLATTEN_POSITION_ORDER: (
        "Symbol", "Exchange", "TradeAccount", "ClientOrderID", "FreeFormText", "IsAutomatedOrder",
    ),
    Msg.CANCEL_ORDER: ("ServerOrderID", "ClientOrderID"),
    Msg.CANCEL_REPLACE_ORDER: (
        "ServerOrderID", "ClientOrderID", "Price1", "Price2", "Quantity", "Price1IsSet", "Price2IsSet",
        "Unused", "TimeInForce", "GoodTillDateTime", "UpdatePrice1OffsetToParent",
    ),
    Msg.OPEN_ORDERS_REQUEST: ("RequestID", "RequestAllOrders", "ServerOrderID", "TradeAccount"),
    Msg.ORDER_UPDATE: (
        "RequestID", "TotalNumMessages", "MessageNumber", "Symbol", "Exchange", "PreviousServerOrderID",
        "ServerOrderID", "ClientOrderID", "ExchangeOrderID", "OrderStatus", "OrderUpdateReason", "OrderType",
        "BuySell", "Price1", "Price2", "TimeInForce", "GoodTillDateTime", "OrderQuantity", "FilledQuantity",
        "RemainingQuantity", "AverageFillPrice", "LastFillPrice", "LastFillDateTime", "LastFillQuantity",
        "LastFillExecutionID", "TradeAccount", "InfoText", "NoOrders", "ParentServerOrderID",
        "OCOLinkedOrderServerOrderID", "OpenOrClose", "PreviousClientOrderID", "FreeFormText",
        "OrderReceivedDateTime", "LatestTransactionDateTime",
    ),
    Msg.OPEN_ORDERS_REJECT: _REJECT,
    Msg.HISTORICAL_ORDER_FILLS_REQUEST: ("RequestID", "ServerOrderID", "NumberOfDays", "TradeAccount", "StartDateTime"),
    Msg.HISTORICAL_ORDER_FILL_RESPONSE: (
        "RequestID", "TotalNumberMessages", "MessageNumber", "Symbol", "Exchange", "ServerOrderID", "BuySell",
        "Price", "DateTime", "Quantity", "UniqueExecutionID", "TradeAccount", "OpenClose", "NoOrderFills",
        "InfoText", "HighPriceDuringPosition", "LowPriceDuringPosition", "PositionQuantity",
    ),
    Msg.HISTORICAL_ORDER_FILLS_REJECT: _REJECT,
    Msg.CURRENT_POSITIONS_REQUEST: ("RequestID", "TradeAccount"),
    Msg.POSITION_UPDATE: (
        "RequestID", "TotalNumberMessages", "MessageNumber", "Symbol", "Exchange", "Quantity", "AveragePrice",
        "PositionIdentifier", "TradeAccount", "NoPositions", "Unsolicited", "MarginRequirement", "EntryDateTime",
    ),
    Msg.CURRENT_POSITIONS_REJECT: _REJECT,
    Msg.TRADE_ACCOUNTS_REQUEST: ("RequestID",),
    Msg.TRADE_ACCOUNT_RESPONSE: ("TotalNumberMessages", "MessageNumber", "TradeAccount", "RequestID"),
    Msg.ACCOUNT_BALANCE_REQUEST: ("RequestID", "TradeAccount"),
    Msg.ACCOUNT_BALANCE_UPDATE: (
        "RequestID", "CashBalance", "BalanceAvailableForNewPositions", "AccountCurrency", "TradeAccount",
        "SecuritiesValue", "MarginRequirement", "TotalNumberMessages", "MessageNumber", "NoAccountBalances",
        "Unsolicited", "OpenPositionsProfitLoss", "DailyProfitLoss", "InfoText", "TransactionIdentifier",
    ),
    Msg.ACCOUNT_BALANCE_REJECT: _REJECT,
    Msg.USER_MESSAGE: ("UserMessage", "IsPopupMessage"),
    Msg.GENERAL_LOG_MESSAGE: ("MessageText",),
    Msg.ALERT_MESSAGE: ("MessageText", "TradeAccount"),
}  # fmt: skip
"""Field order of each structure (DTCProtocol.h), ``Size`` and ``Type`` left out: the compact form's ``F``."""

MAX_FRAME = 1 << 20
"""No DTC message comes near a megabyte: a longer run of bytes without a NUL is not DTC JSON."""


class FrameError(ValueError):
    """Bytes that are not one DTC JSON message; the text says what is wrong (never the whole frame)."""


def encode(msg_type: int, fields: dict[str, Any]) -> bytes:
    """One message in the full JSON form, NUL-terminated."""
    return json.dumps({"Type": int(msg_type), **fields}, separators=(",", ":")).encode() + b"\0"


def encode_compact(msg_type: int, fields: dict[str, Any]) -> bytes:
    """The compact form: the values in structure order up to the last one given, gaps as DTC's defaults."""
    names = FIELDS[msg_type]
    last = max((i for i, name in enumerate(names) if name in fields), default=-1)
    values = [fields.get(name, _default(name)) for name in names[: last + 1]]
    return json.dumps({"Type": int(msg_type), "F": values}, separators=(",", ":")).encode() + b"\0"


TEXT_FIELDS = frozenset(
    "Username Password GeneralTextData TradeAccount HardwareIdentifier ClientName ResultText ReconnectAddress "
    "ServerName SymbolExchangeDelimiter Reason ProtocolType Symbol Exchange ClientOrderID FreeFormText "
    "ServerOrderID PreviousServerOrderID ExchangeOrderID LastFillExecutionID InfoText ParentServerOrderID "
    "OCOLinkedOrderServerOrderID PreviousClientOrderID RejectText UniqueExecutionID PositionIdentifier "
    "AccountCurrency UserMessage MessageText ClientOrderID_1 ClientOrderID_2 ParentTriggerClientOrderID".split()
)
"""The char arrays of the structures above: "" when unset; every other field is a number, 0 when unset."""


def _default(name: str) -> Any:
    return "" if name in TEXT_FIELDS else 0


def decode(frame: bytes) -> dict[str, Any]:
    """One frame (without its NUL) as a dict with an int ``Type``; a compact message is expanded."""
    try:
        obj = json.loads(frame.decode())  # decoded here: json.loads would take a UTF-16 or -32 BOM too
    except UnicodeDecodeError:
        raise FrameError("not UTF-8 text") from None
    except ValueError as exc:
        raise FrameError(f"not JSON ({exc.args[0] if exc.args else exc})") from None
    if not isinstance(obj, dict):
        raise FrameError(f"not a JSON object but a {type(obj).__name__}")
    msg_type = obj.get("Type")
    if not isinstance(msg_type, int) or isinstance(msg_type, bool):
        raise FrameError(f"no integer Type (got {msg_type!r:.40})")
    values = obj.get("F")
    if values is None:
        return obj
    if not isinstance(values, list):
        raise FrameError(f"Type {msg_type}: compact F is not an array")
    names = FIELDS.get(msg_type, ())
    expanded: dict[str, Any] = dict(zip(names, values, strict=False))  # newer servers append fields
    expanded["Type"] = msg_type
    return expanded


def looks_binary(data: bytes) -> bool:
    """Bytes a binary-encoded server sends (a little-endian size first), not a JSON object."""
    head = data.lstrip(b" \t\r\n")[:1]
    return bool(head) and head != b"{"


class Framer:
    """Splits a TCP byte stream into NUL-terminated frames."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        if b"\0" not in data:
            self._buffer += data
            if len(self._buffer) > MAX_FRAME:
                self._buffer.clear()
                raise FrameError(f"more than {MAX_FRAME} bytes without a NUL terminator")
            return []
        self._buffer += data
        *frames, rest = self._buffer.split(b"\0")
        self._buffer = bytearray(rest)
        return [bytes(f) for f in frames if f.strip()]

    @property
    def pending(self) -> int:
        return len(self._buffer)


_ENCODING = struct.Struct("<HHii4s")  # Size, Type, ProtocolVersion, Encoding, ProtocolType[4]
ENCODING_MESSAGE_SIZE = _ENCODING.size


def encoding_message(msg_type: int, encoding: int) -> bytes:
    """ENCODING_REQUEST / ENCODING_RESPONSE in DTC's binary encoding (the only binary DTC spoken here)."""
    return _ENCODING.pack(_ENCODING.size, msg_type, PROTOCOL_VERSION, encoding, b"DTC\0")


ENCODING_REQUEST_JSON = encoding_message(Msg.ENCODING_REQUEST, Encoding.JSON)


def parse_encoding_message(data: bytes) -> tuple[int, int]:
    """(Type, Encoding) of a binary encoding message; FrameError when it is not one."""
    if len(data) < _ENCODING.size:
        raise FrameError(f"a binary encoding message is {_ENCODING.size} bytes, got {len(data)}")
    size, msg_type, _version, encoding, _proto = _ENCODING.unpack(data[: _ENCODING.size])
    if size != _ENCODING.size or msg_type not in (Msg.ENCODING_REQUEST, Msg.ENCODING_RESPONSE):
        raise FrameError(f"not a binary encoding message (size {size}, type {msg_type})")
    return msg_type, encoding
