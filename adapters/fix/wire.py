"""FIX 4.2 / 4.4 wire facts shared by the client and the simulator: tag numbers, enum codes,
a tolerant parser of raw messages and builders of the application messages copytui sends.

Incoming messages are read from their raw text (``Message.toString()``), never through a data
dictionary: a FIX 4.2 counterparty that answers with FIX 4.4 position reports, or adds custom
tags, must not be rejected at the session level. quickfix ``Message`` objects handed to a
callback are valid only during that callback, so everything is copied out here first.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import quickfix as fix

from adapters.fix.frames import field_text
from copytui.models import MAX_INT, MAX_QTY, OrderStatus, OrderType, Side, TimeInForce

SOH = "\x01"
FIX42 = "FIX.4.2"
FIX44 = "FIX.4.4"
VERSIONS = (FIX42, FIX44)

# ---------------------------------------------------------------------- tags
ACCOUNT = 1
AVG_PX = 6
CL_ORD_ID = 11
CUM_QTY = 14
EXEC_ID = 17
EXEC_TRANS_TYPE = 20
HANDL_INST = 21
LAST_PX = 31
LAST_QTY = 32  # LastShares in FIX 4.2: same tag
MSG_SEQ_NUM = 34
MSG_TYPE = 35
ORDER_ID = 37
ORDER_QTY = 38
ORD_STATUS = 39
ORD_TYPE = 40
ORIG_CL_ORD_ID = 41
POSS_DUP = 43
PRICE = 44
REF_SEQ_NUM = 45
SENDER_COMP_ID = 49
SENDING_TIME = 52
SIDE = 54
SYMBOL = 55
TARGET_COMP_ID = 56
TEXT = 58
TIME_IN_FORCE = 59
TRANSACT_TIME = 60
RAW_DATA = 96
STOP_PX = 99
CXL_REJ_REASON = 102
ORD_REJ_REASON = 103
ORIG_SENDING_TIME = 122
EXEC_TYPE = 150
LEAVES_QTY = 151
SUBSCRIPTION_REQUEST_TYPE = 263
REF_TAG_ID = 371
REF_MSG_TYPE = 372
SESSION_REJECT_REASON = 373
BUSINESS_REJECT_REF_ID = 379
BUSINESS_REJECT_REASON = 380
CXL_REJ_RESPONSE_TO = 434
USERNAME = 553
PASSWORD = 554
ACCOUNT_TYPE = 581
MASS_STATUS_REQ_ID = 584
MASS_STATUS_REQ_TYPE = 585
NO_POSITIONS = 702
POS_TYPE = 703
LONG_QTY = 704
SHORT_QTY = 705
POS_REQ_ID = 710
CLEARING_BUSINESS_DATE = 715
POS_MAINT_RPT_ID = 721
POS_REQ_TYPE = 724
TOTAL_NUM_POS_REPORTS = 727
POS_REQ_RESULT = 728
POS_REQ_STATUS = 729
SETTL_PRICE = 730
SETTL_PRICE_TYPE = 731
ORD_STATUS_REQ_ID = 790
TOT_NUM_REPORTS = 911
LAST_RPT_REQUESTED = 912
NEW_PASSWORD = 925

SECRET_TAGS = (PASSWORD, NEW_PASSWORD, RAW_DATA)
"""Tags whose values never reach a log line or a file."""

# ------------------------------------------------------------------ msg types
NEW_ORDER = "D"
CANCEL = "F"
REPLACE = "G"
STATUS_REQUEST = "H"
EXEC_REPORT = "8"
CANCEL_REJECT = "9"
SESSION_REJECT = "3"
BUSINESS_REJECT = "j"
MASS_STATUS = "AF"
POSITIONS_REQUEST = "AN"
POSITIONS_ACK = "AO"
POSITION_REPORT = "AP"
LOGON = "A"
LOGOUT = "5"

# ------------------------------------------------------------------- names
TAG_NAMES = {
    ACCOUNT: "Account", AVG_PX: "AvgPx", CL_ORD_ID: "ClOrdID", CUM_QTY: "CumQty", EXEC_ID: "ExecID",
    HANDL_INST: "HandlInst", MSG_SEQ_NUM: "MsgSeqNum", MSG_TYPE: "MsgType", ORDER_ID: "OrderID",
    ORDER_QTY: "OrderQty", ORD_STATUS: "OrdStatus", ORD_TYPE: "OrdType", ORIG_CL_ORD_ID: "OrigClOrdID",
    POSS_DUP: "PossDupFlag", PRICE: "Price", SENDER_COMP_ID: "SenderCompID", SENDING_TIME: "SendingTime",
    SIDE: "Side", SYMBOL: "Symbol", TARGET_COMP_ID: "TargetCompID", TEXT: "Text", TIME_IN_FORCE: "TimeInForce",
    TRANSACT_TIME: "TransactTime", STOP_PX: "StopPx", ORIG_SENDING_TIME: "OrigSendingTime", 108: "HeartBtInt",
    112: "TestReqID", 141: "ResetSeqNumFlag", SUBSCRIPTION_REQUEST_TYPE: "SubscriptionRequestType",
    453: "NoPartyIDs", USERNAME: "Username", PASSWORD: "Password", ACCOUNT_TYPE: "AccountType",
    MASS_STATUS_REQ_ID: "MassStatusReqID", MASS_STATUS_REQ_TYPE: "MassStatusReqType", POS_REQ_ID: "PosReqID",
    CLEARING_BUSINESS_DATE: "ClearingBusinessDate", POS_REQ_TYPE: "PosReqType", ORD_STATUS_REQ_ID: "OrdStatusReqID",
}  # fmt: skip
"""Names of the tags copytui sends (and a few it reads), for messages a trader reads."""

MSG_TYPE_NAMES = {
    "D": "NewOrderSingle", "F": "OrderCancelRequest", "G": "OrderCancelReplaceRequest", "H": "OrderStatusRequest",
    "AF": "OrderMassStatusRequest", "AN": "RequestForPositions", "A": "Logon", "0": "Heartbeat",
    "1": "TestRequest", "2": "ResendRequest", "4": "SequenceReset", "5": "Logout",
}  # fmt: skip

SESSION_REJECT_REASONS = {
    "0": "Invalid tag number", "1": "Required tag missing", "2": "Tag not defined for this message type",
    "3": "Undefined tag", "4": "Tag specified without a value", "5": "Value is incorrect (out of range) for this tag",
    "6": "Incorrect data format for value", "9": "CompID problem", "10": "SendingTime accuracy problem",
    "11": "Invalid MsgType", "13": "Tag appears more than once", "15": "Repeating group fields out of order",
    "16": "Incorrect NumInGroup count for repeating group", "99": "Other",
}  # fmt: skip
"""SessionRejectReason (373), FIX 4.4 (FIX 4.2 has 0-11 of them)."""


def tag_label(tag: int | str) -> str:
    """``OrdType (40)`` for a known tag, ``tag 9001`` otherwise."""
    number = as_int(str(tag))
    name = TAG_NAMES.get(number) if number is not None else None
    return f"{name} ({number})" if name else f"tag {tag}"


def msg_type_label(msg_type: str) -> str:
    """``RequestForPositions (AN)`` for a known MsgType, ``MsgType X`` otherwise."""
    name = MSG_TYPE_NAMES.get(msg_type)
    return f"{name} ({msg_type})" if name else f"MsgType {msg_type}"


# ---------------------------------------------------------------------- enums
SIDE_CODE = {Side.BUY: "1", Side.SELL: "2"}
CODE_SIDE = {"1": Side.BUY, "2": Side.SELL, "5": Side.SELL, "6": Side.SELL}
ORD_TYPE_CODE = {OrderType.MARKET: "1", OrderType.LIMIT: "2", OrderType.STOP: "3", OrderType.STOP_LIMIT: "4"}
CODE_ORD_TYPE = {v: k for k, v in ORD_TYPE_CODE.items()} | {"K": OrderType.MARKET}
TIF_CODE = {TimeInForce.DAY: "0", TimeInForce.GTC: "1", TimeInForce.IOC: "3"}
CODE_TIF = {v: k for k, v in TIF_CODE.items()}
STATUS_OF = {
    "0": OrderStatus.WORKING,
    "1": OrderStatus.PARTIALLY_FILLED,
    "2": OrderStatus.FILLED,
    "3": OrderStatus.CANCELLED,  # done for day
    "4": OrderStatus.CANCELLED,
    "5": OrderStatus.WORKING,  # replaced (FIX 4.2)
    "6": OrderStatus.WORKING,  # pending cancel
    "7": OrderStatus.WORKING,  # stopped
    "8": OrderStatus.REJECTED,
    "9": OrderStatus.WORKING,  # suspended
    "A": OrderStatus.SENT,  # pending new
    "C": OrderStatus.CANCELLED,  # expired
    "E": OrderStatus.WORKING,  # pending replace
}
STATUS_CODE = {
    OrderStatus.WORKING: "0",
    OrderStatus.PARTIALLY_FILLED: "1",
    OrderStatus.FILLED: "2",
    OrderStatus.CANCELLED: "4",
    OrderStatus.REJECTED: "8",
}

# Effective execution types after folding FIX 4.2 into FIX 4.4 terms.
ET_NEW, ET_TRADE, ET_CANCELED, ET_REPLACED, ET_REJECTED, ET_STATUS = "0", "F", "4", "5", "8", "I"
ET_PENDING = ("A", "6", "E")
ET_DONE = ("3", "C")  # done for day, expired: the order is gone like a cancel
ET_BUSTS = ("G", "H")  # trade correct / cancel (FIX 4.4)


_second: tuple[int, str] = (-1, "")


def utc_timestamp() -> str:
    """UTCTimestamp with milliseconds (YYYYMMDD-HH:MM:SS.sss); the seconds are formatted once each."""
    global _second
    ms = time.time_ns() // 1_000_000
    sec, frac = divmod(ms, 1000)
    if _second[0] != sec:
        _second = (sec, time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(sec)))
    return f"{_second[1]}.{frac:03d}"


def business_date() -> str:
    return datetime.now(tz=UTC).strftime("%Y%m%d")


def scrub(raw: str) -> str:
    """A raw FIX message with its secret fields masked and SOH shown as ``|``."""
    out = []
    for part in raw.split(SOH):
        tag, sep, _ = part.partition("=")
        if sep and tag.isdigit() and int(tag) in SECRET_TAGS:
            part = f"{tag}=***"
        out.append(part)
    return "|".join(out)


# ---------------------------------------------------------------------- parsing
class Fields:
    """The fields of one raw FIX message, in wire order (repeating groups stay flat)."""

    __slots__ = ("pairs", "_first")

    def __init__(self, pairs: list[tuple[int, str]]) -> None:
        self.pairs = pairs
        self._first: dict[int, str] = {}
        for tag, value in pairs:
            self._first.setdefault(tag, value)

    @classmethod
    def parse(cls, raw: str) -> Fields:
        pairs: list[tuple[int, str]] = []
        for part in raw.split(SOH):
            tag, sep, value = part.partition("=")
            if sep and tag.isdigit():
                pairs.append((int(tag), value))
        return cls(pairs)

    @classmethod
    def of(cls, message: fix.Message) -> Fields:
        return cls.parse(message.toString())

    def get(self, tag: int, default: str | None = None) -> str | None:
        return self._first.get(tag, default)

    def __contains__(self, tag: int) -> bool:
        return tag in self._first

    @property
    def msg_type(self) -> str:
        return self._first.get(MSG_TYPE, "")

    @property
    def seq(self) -> int:
        n = as_int(self._first.get(MSG_SEQ_NUM)) or 0
        return n if 0 <= n <= MAX_INT else 0

    def number(self, tag: int) -> float | None:
        return as_float(self._first.get(tag))

    def qty(self, tag: int) -> int | None:
        """A quantity field; None when absent, unreadable, or beyond any real order (MAX_QTY)."""
        value = as_float(self._first.get(tag))
        return None if value is None or abs(value) > MAX_QTY else int(round(value))

    def groups(self, count_tag: int, first_tag: int) -> Iterator[dict[int, str]]:
        """The entries of a repeating group: each starts at ``first_tag``, after ``count_tag``."""
        inside = False
        entry: dict[int, str] | None = None
        for tag, value in self.pairs:
            if tag == count_tag:
                inside = True
                continue
            if not inside:
                continue
            if tag == first_tag:
                if entry is not None:
                    yield entry
                entry = {}
            if entry is not None:
                if tag in entry:  # a tag repeating inside one entry ends the group
                    break
                entry[tag] = value
        if entry is not None:
            yield entry

    def text(self) -> str:
        return self._first.get(TEXT, "")


def as_float(value: str | None) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None  # "inf", "nan", "1e999": unreadable, not a number


def as_int(value: str | None) -> int | None:
    number = as_float(value)
    return None if number is None else int(round(number))


@dataclass(frozen=True, slots=True)
class ExecReport:
    """An ExecutionReport, with FIX 4.2's ExecType/ExecTransType folded into FIX 4.4 terms."""

    exec_type: str
    ord_status: str
    order_id: str | None
    cl_ord_id: str | None
    orig_cl_ord_id: str | None
    exec_id: str | None
    account: str | None
    symbol: str | None
    side: Side | None
    ord_type: OrderType | None
    qty: int | None
    price: float | None
    stop_px: float | None
    last_qty: int
    last_px: float | None
    cum_qty: int | None
    leaves_qty: int | None
    avg_px: float | None
    text: str
    mass_status_req_id: str | None
    ord_status_req_id: str | None
    tot_num_reports: int | None
    last_report: bool
    poss_dup: bool
    bust: bool

    @property
    def status(self) -> OrderStatus:
        return STATUS_OF.get(self.ord_status, OrderStatus.UNKNOWN)

    @classmethod
    def from_fields(cls, f: Fields) -> ExecReport:
        exec_type = f.get(EXEC_TYPE, "") or ""
        trans = f.get(EXEC_TRANS_TYPE)
        bust = exec_type in ET_BUSTS or trans in ("1", "2")
        if exec_type in ("1", "2"):  # FIX 4.2 partial fill / fill
            exec_type = ET_TRADE
        if trans == "3":  # FIX 4.2 status report
            exec_type = ET_STATUS
        last_qty = f.qty(LAST_QTY) or 0
        return cls(
            exec_type=exec_type,
            ord_status=f.get(ORD_STATUS, "") or "",
            order_id=f.get(ORDER_ID),
            cl_ord_id=f.get(CL_ORD_ID),
            orig_cl_ord_id=f.get(ORIG_CL_ORD_ID),
            exec_id=f.get(EXEC_ID),
            account=f.get(ACCOUNT),
            symbol=f.get(SYMBOL),
            side=CODE_SIDE.get(f.get(SIDE) or ""),
            ord_type=CODE_ORD_TYPE.get(f.get(ORD_TYPE) or ""),
            qty=f.qty(ORDER_QTY),
            price=f.number(PRICE),
            stop_px=f.number(STOP_PX),
            last_qty=last_qty,
            last_px=f.number(LAST_PX),
            cum_qty=f.qty(CUM_QTY),
            leaves_qty=f.qty(LEAVES_QTY),
            avg_px=f.number(AVG_PX),
            text=f.text(),
            mass_status_req_id=f.get(MASS_STATUS_REQ_ID),
            ord_status_req_id=f.get(ORD_STATUS_REQ_ID),
            tot_num_reports=as_int(f.get(TOT_NUM_REPORTS)),
            last_report=f.get(LAST_RPT_REQUESTED) == "Y",
            poss_dup=f.get(POSS_DUP) == "Y",
            bust=bust,
        )


# --------------------------------------------------------------------- building
def message(begin_string: str, msg_type: str) -> fix.Message:
    m = fix.Message()
    header = m.getHeader()
    header.setField(fix.BeginString(begin_string))
    header.setField(fix.MsgType(msg_type))
    return m


def put(m: fix.Message, tag: int, value: object) -> None:
    """Set a field unless the value is None; floats without a trailing ``.0`` noise."""
    if value is not None:
        m.setField(tag, field_text(value))


_request_ids = itertools.count(1)


def request_id(prefix: str) -> str:
    return f"{prefix}{datetime.now(tz=UTC).strftime('%H%M%S')}-{next(_request_ids)}"
