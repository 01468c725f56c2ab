"""NinjaTrader 8's ATI file formats: the order instruction lines copytui writes into ``incoming/``
and the information update files NinjaTrader writes into ``outgoing/``.

An instruction is one line of 13 ``;``-separated fields::

    COMMAND;ACCOUNT;INSTRUMENT;ACTION;QTY;ORDER TYPE;LIMIT PRICE;STOP PRICE;TIF;OCO ID;ORDER ID;STRATEGY;STRATEGY ID

``outgoing/`` holds three kinds of file: ``<orderId>.txt`` (``STATE;filled;average fill price``,
only for orders placed with an ORDER ID), ``<Instrument>[ <Exchange>]_<Account>_Position.txt``
(``LONG|SHORT|FLAT;qty;average price``) and ``<Connection>.txt`` (``CONNECTED|DISCONNECTED``).
Everything read is checked here; a value this module does not know is a :class:`WireError`
naming the field, never a guess.
"""

from __future__ import annotations

import enum
import hashlib
import math
import re
from dataclasses import dataclass

from copytui.models import OrderStatus

FIELDS = (
    "COMMAND", "ACCOUNT", "INSTRUMENT", "ACTION", "QTY", "ORDER TYPE", "LIMIT PRICE", "STOP PRICE",
    "TIF", "OCO ID", "ORDER ID", "STRATEGY", "STRATEGY ID",
)  # fmt: skip
COMMANDS = (
    "PLACE", "CHANGE", "CANCEL", "CANCELALLORDERS", "CLOSEPOSITION", "CLOSESTRATEGY",
    "FLATTENEVERYTHING", "REVERSEPOSITION",
)  # fmt: skip
ORDER_TYPES = ("MARKET", "LIMIT", "STOPMARKET", "STOP", "STOPLIMIT")
"""NT8 names the stop-market type STOPMARKET; the older ATI pages say STOP. Which one NT8 takes is
unverified: the word copytui writes is the ``stop_market_type`` option."""
TIFS = ("DAY", "GTC")
POSITION_SUFFIX = "_Position.txt"
INSTRUCTION_GLOB = "oif*.txt"
# A field may hold anything but the separator and line breaks (ORDER ID is also a file name).
_FIELD_OK = re.compile(r"^[^;\r\n]*$")
_INSTRUMENT = re.compile(r"^(?P<root>[A-Z0-9]{1,8}) (?P<mm>\d{2})-?(?P<yy>\d{2})(?: (?P<exchange>\S.*))?$")


class WireError(ValueError):
    """A file or line that does not read as ATI says; the message names the file and the field."""


class NtState(enum.StrEnum):
    """NinjaTrader 8's order states, as the order state files spell them (``OrderState`` upper-cased)."""

    INITIALIZED = "INITIALIZED"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    WORKING = "WORKING"
    TRIGGERPENDING = "TRIGGERPENDING"
    CHANGEPENDING = "CHANGEPENDING"
    CHANGESUBMITTED = "CHANGESUBMITTED"
    CANCELPENDING = "CANCELPENDING"
    CANCELSUBMITTED = "CANCELSUBMITTED"
    PARTFILLED = "PARTFILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    UNKNOWN = "UNKNOWN"

    @property
    def status(self) -> OrderStatus:
        return _STATUS.get(self, OrderStatus.WORKING)

    @property
    def final(self) -> bool:
        return self in (NtState.FILLED, NtState.CANCELLED, NtState.REJECTED)

    @property
    def changing(self) -> bool:
        return self in (NtState.CHANGEPENDING, NtState.CHANGESUBMITTED)


_STATUS = {
    NtState.PARTFILLED: OrderStatus.PARTIALLY_FILLED,
    NtState.FILLED: OrderStatus.FILLED,
    NtState.CANCELLED: OrderStatus.CANCELLED,
    NtState.REJECTED: OrderStatus.REJECTED,
    NtState.UNKNOWN: OrderStatus.UNKNOWN,
}
# spellings seen in NinjaTrader's own texts for the same states ("Part filled", "Canceled")
_STATE_ALIASES = {"PARTIALLYFILLED": NtState.PARTFILLED, "CANCELED": NtState.CANCELLED}


# ------------------------------------------------------------------------------ instructions
def fmt_number(value: float) -> str:
    """A price as ATI wants it: US decimal point, no exponent, no trailing zeros."""
    if not math.isfinite(value):
        raise WireError(f"price {value} is not a finite number")
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return text or "0"


OCO_ID_MAX = 40
"""ATI takes "any string value" as OCO ID; copytui keeps to letters, digits, ``-`` and ``_`` and to
this length, so the id is safe in a line, a log and NinjaTrader's Orders tab alike."""
_OCO_OK = re.compile(rf"^[A-Za-z0-9_-]{{1,{OCO_ID_MAX}}}$")


def fit_oco_id(group: str) -> str:
    """The OCO ID written for the follower OCO group ``group``: the group itself when it fits, else a
    digest of it. Deterministic, so every leg of one group (each placed on its own) gets the same id."""
    if _OCO_OK.match(group):
        return group
    return "oco" + hashlib.blake2b(group.encode(), digest_size=12).hexdigest()


def instruction(command: str, **fields: str | int) -> str:
    """One instruction line (no line break). ``fields`` by lower-case name with ``_`` for spaces:
    ``instruction("CANCEL", order_id="ct1")`` -> ``CANCEL;;;;;;;;;;ct1;;``."""
    values = [""] * len(FIELDS)
    values[0] = command
    names = {f.lower().replace(" ", "_"): i for i, f in enumerate(FIELDS)}
    for key, value in fields.items():
        text = str(value)
        if not _FIELD_OK.match(text):
            raise WireError(f"{key} {text!r} holds a ';' or a line break")
        values[names[key]] = text
    return ";".join(values)


@dataclass(frozen=True, slots=True)
class Instruction:
    """One instruction line as NinjaTrader reads it (what the stand-in parses)."""

    command: str
    account: str
    instrument: str
    action: str
    qty: int
    order_type: str
    limit: float
    stop: float
    tif: str
    oco: str
    order_id: str
    strategy: str
    strategy_id: str

    def fields(self) -> dict[str, str | int | float]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _num(text: str, name: str, where: str) -> float:
    if text == "":
        return 0.0
    try:
        value = float(text)
    except ValueError:
        raise WireError(f"{where}: {name} {text!r} is not a number (US decimal point: 1212.25)") from None
    if not math.isfinite(value) or value < 0:
        raise WireError(f"{where}: {name} {text!r} is not a price")
    return value


def parse_instruction(line: str, where: str = "instruction") -> Instruction:
    parts = line.strip().split(";")
    if len(parts) != len(FIELDS):
        raise WireError(f"{where}: {len(parts)} fields, ATI wants {len(FIELDS)} (12 ';')")
    command = parts[0].strip().upper()
    if command not in COMMANDS:
        raise WireError(f"{where}: COMMAND {parts[0]!r} is not one of {', '.join(COMMANDS)}")
    qty_text = parts[4].strip()
    if qty_text and not qty_text.isdigit():
        raise WireError(f"{where}: QTY {qty_text!r} is not a whole number")
    return Instruction(
        command=command,
        account=parts[1].strip(),
        instrument=parts[2].strip(),
        action=parts[3].strip().upper(),
        qty=int(qty_text or 0),
        order_type=parts[5].strip().upper(),
        limit=_num(parts[6].strip(), "LIMIT PRICE", where),
        stop=_num(parts[7].strip(), "STOP PRICE", where),
        tif=parts[8].strip().upper(),
        oco=parts[9].strip(),
        order_id=parts[10].strip(),
        strategy=parts[11].strip(),
        strategy_id=parts[12].strip(),
    )


# ------------------------------------------------------------------------------ outgoing files
@dataclass(frozen=True, slots=True)
class OrderState:
    state: NtState
    filled: int
    avg_price: float


@dataclass(frozen=True, slots=True)
class PositionState:
    qty: int
    """Signed: long positive, short negative."""
    avg_price: float


@dataclass(frozen=True, slots=True)
class PositionName:
    instrument: str
    """Normalised to NT8's ``ROOT MM-YY`` (the exchange suffix dropped)."""
    root: str
    account: str


def one_line(text: str, where: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise WireError(f"{where}: empty")
    if len(lines) > 1:
        raise WireError(f"{where}: {len(lines)} lines, ATI writes one")
    return lines[0]


def parse_state(text: str) -> NtState | None:
    key = re.sub(r"[\s_]", "", text).upper()
    if key in NtState.__members__:
        return NtState(key)
    return _STATE_ALIASES.get(key)


def _count(text: str, name: str, where: str) -> int:
    t = text.strip()
    if not t.isdigit():
        raise WireError(f"{where}: {name} {t!r} is not a whole number")
    return int(t)


def _price(text: str, name: str, where: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise WireError(f"{where}: {name} {text.strip()!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise WireError(f"{where}: {name} {text.strip()!r} is not a price")
    return value


def parse_order_file(text: str, where: str) -> OrderState:
    parts = one_line(text, where).split(";")
    if len(parts) != 3:
        raise WireError(f"{where}: {len(parts)} fields, an order state file has 3 (state;filled;average price)")
    state = parse_state(parts[0])
    if state is None:
        raise WireError(f"{where}: order state {parts[0].strip()!r} is not one copytui knows")
    return OrderState(state, _count(parts[1], "filled amount", where), _price(parts[2], "average fill price", where))


def parse_position_file(text: str, where: str) -> PositionState:
    parts = one_line(text, where).split(";")
    if len(parts) != 3:
        raise WireError(f"{where}: {len(parts)} fields, a position file has 3 (LONG|SHORT|FLAT;qty;average price)")
    side = parts[0].strip().upper()
    qty = _count(parts[1], "quantity", where)
    avg = _price(parts[2], "average price", where)
    if side == "FLAT":
        if qty:
            raise WireError(f"{where}: FLAT with quantity {qty}")
        return PositionState(0, 0.0)
    if side not in ("LONG", "SHORT"):
        raise WireError(f"{where}: market position {parts[0].strip()!r} is not LONG, SHORT or FLAT")
    if qty == 0:
        raise WireError(f"{where}: {side} with quantity 0")
    return PositionState(qty if side == "LONG" else -qty, avg)


def parse_connection_file(text: str) -> bool | None:
    """True for CONNECTED, False for DISCONNECTED, None when the text is neither (not a connection file)."""
    lines = [ln.strip().upper() for ln in text.splitlines() if ln.strip()]
    if len(lines) != 1 or lines[0] not in ("CONNECTED", "DISCONNECTED"):
        return None
    return lines[0] == "CONNECTED"


def normalise_instrument(text: str) -> tuple[str, str] | None:
    """``("ES 12-26", "ES")`` for "ES 12-26", "ES 1226" or "ES 12-26 Globex"; None when it is no futures name."""
    m = _INSTRUMENT.match(text.strip())
    if m is None:
        return None
    return f"{m['root']} {m['mm']}-{m['yy']}", m["root"]


def parse_position_name(name: str) -> PositionName | None:
    """The parts of ``ES 12-26 Globex_Sim101_Position.txt``; None when ``name`` is no position file.
    The instrument holds no ``_``, so the account is everything between the first ``_`` and the suffix."""
    if not name.endswith(POSITION_SUFFIX):
        return None
    instrument, sep, account = name[: -len(POSITION_SUFFIX)].partition("_")
    if not sep or not account:
        return None
    found = normalise_instrument(instrument)
    if found is None:
        return PositionName(instrument.strip(), "", account)
    return PositionName(found[0], found[1], account)


def position_file_name(instrument: str, account: str, exchange: str = "Globex") -> str:
    """As the ATI pages show it: instrument name, exchange, account (``ES 12-26 Globex_Sim101_Position.txt``)."""
    named = f"{instrument} {exchange}" if exchange else instrument
    return f"{named}_{account}{POSITION_SUFFIX}"


def order_file_text(state: NtState, filled: int, avg_price: float) -> str:
    return f"{state.value};{filled};{fmt_number(avg_price)}"


def position_file_text(qty: int, avg_price: float) -> str:
    if qty == 0:
        return "FLAT;0;0"
    return f"{'LONG' if qty > 0 else 'SHORT'};{abs(qty)};{fmt_number(avg_price)}"
