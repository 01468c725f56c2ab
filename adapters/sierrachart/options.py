"""The ``options:`` of a Sierra Chart account and the symbols its orders go to.

:class:`SierraChartOptions` is what ``adapters.sierrachart.spec`` declares: snake_case keys,
unknown keys refused with the list of the known ones. :class:`SymbolMap` turns copytui's symbols
(ES, MNQ) into the symbols Sierra Chart trades (``ESZ25_FUT_CME``, ``MNQZ5``: they depend on the
data and trading service Sierra Chart is connected to, so orders need ``contracts``) and reads a
Sierra Chart symbol back as copytui's (from ``contracts``, else from its leading root and month
code: ``MESZ25_FUT_CME`` is MES).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator

from adapters.kit.options import read_options
from copytui.instruments import INSTRUMENTS

DEFAULT_PORT = 11099
"""Sierra Chart's DTC server listening port unless changed in its SC Server Settings."""


def _positive(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"must be a positive number, got {value!r}")
    return float(value)


def _count(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1 or value != int(value):
        raise ValueError(f"must be a positive whole number, got {value!r}")
    return int(value)


def _flag(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


Positive = Annotated[float, BeforeValidator(_positive)]
Count = Annotated[int, BeforeValidator(_count)]
Flag = Annotated[bool, BeforeValidator(_flag)]

_SYMBOL = re.compile(r"^[A-Za-z0-9_.\-:/ ]{1,63}$")
_MONTH_TAIL = re.compile(r"^[FGHJKMNQUVXZ]\d{1,2}(?:[_\-. ].*)?$")


def parse_contracts(text: str) -> dict[str, str]:
    """``"ES=ESZ25_FUT_CME, MES=MESZ25_FUT_CME"`` -> {"ES": "ESZ25_FUT_CME", ...}; ValueError says what is wrong."""
    out: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        root, sep, symbol = (s.strip() for s in part.partition("="))
        if not sep or not root or not symbol:
            raise ValueError(f"{part!r} is not ROOT=SIERRA_SYMBOL (e.g. ES=ESZ25_FUT_CME)")
        if root not in INSTRUMENTS:
            raise ValueError(f"{root!r} is not a symbol copytui knows ({', '.join(sorted(INSTRUMENTS))})")
        if not _SYMBOL.match(symbol):
            raise ValueError(f"{symbol!r} is not a Sierra Chart symbol (letters, digits, _ . - : /, at most 63)")
        if root in out:
            raise ValueError(f"{root} is given twice")
        out[root] = symbol
    return out


class SierraChartOptions(BaseModel):
    """``options:`` of a Sierra Chart account (all optional; unknown keys are refused)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True)

    contracts: str | None = None
    """The Sierra Chart symbol each copytui symbol trades as ("ES=ESZ25_FUT_CME, MES=MESZ25_FUT_CME"):
    needed for every symbol this account receives orders in; roll it with the contract."""
    exchange: str = ""
    """The Exchange field of orders; empty when the symbol names the exchange (Sierra Chart's usual form)."""
    heartbeat_interval_s: Count = 10
    """HeartbeatIntervalInSeconds asked at logon; copytui sends a HEARTBEAT this often."""
    idle_timeout_s: Positive = 35.0
    """Nothing from the server for this long: the connection is dead and is opened again."""
    connect_timeout_s: Positive = 5.0
    """How long the TCP connection and the logon may take."""
    order_timeout_s: Positive = 5.0
    """How long an order, a cancel or a cancel-replace may wait for its ORDER_UPDATE before its
    outcome is ambiguous (then asked by ClientOrderID, never sent again)."""
    request_timeout_s: Positive = 10.0
    """How long a read (open orders, fills, positions, trade accounts, balance) may take."""
    reconnect_delay_s: Positive = 0.05
    """The first wait before a lost connection is opened again (doubling, at most 5 s)."""
    reconnect_wait_s: Positive = 3.0
    """How long an order waits for a connection that is being opened again before it is not sent."""
    encoding_request: Flag = False
    """Send DTC's binary ENCODING_REQUEST asking for JSON first: for a server whose Encoding
    setting is Automatic. With the setting at JSON (recommended) no negotiation is needed."""
    fills_days: Count = 1
    """NumberOfDays of historical fills asked for gap recovery (fills_since, reconnects)."""
    native_oco: Flag = False
    """Mirror mode: send a copied bracket's stop and target as one SUBMIT_NEW_OCO_ORDER, so Sierra
    Chart cancels the other leg the instant one fills. Off by default: DTC says the other leg also
    goes when one is *cancelled*, so a leader that cancels only its target would leave the follower
    without its stop, and what a part fill does to the other leg is the server's choice (copytui
    asks it to reduce the other by the fill). Off, copytui keeps the OCO itself."""

    @field_validator("contracts")
    @classmethod
    def _contracts_parse(cls, value: str | None) -> str | None:
        if value is not None:
            parse_contracts(value)
        return value

    @field_validator("exchange")
    @classmethod
    def _exchange_short(cls, value: str) -> str:
        if len(value) > 15 or not re.fullmatch(r"[A-Za-z0-9_.\-]*", value):
            raise ValueError(f"{value!r} is not an exchange code (letters and digits, at most 15)")
        return value


def parse_options(account: Any) -> SierraChartOptions:
    """The account's options, or ValueError with one line naming the account and the key."""
    return read_options(SierraChartOptions, account, "Sierra Chart")


class SymbolError(ValueError):
    """A copytui symbol without a Sierra Chart symbol: says which option to set."""


class SymbolMap:
    def __init__(self, contracts: dict[str, str]) -> None:
        self.out = dict(contracts)
        self.back = {sym: root for root, sym in contracts.items()}

    def to_sierra(self, root: str) -> str:
        symbol = self.out.get(root)
        if symbol is None:
            raise SymbolError(
                f"no Sierra Chart symbol for {root}: add it to options.contracts "
                f'(e.g. contracts: "{root}={root}Z25_FUT_CME"), as Sierra Chart names the contract'
            )
        return symbol

    def to_copytui(self, symbol: str) -> str | None:
        """copytui's symbol for a Sierra Chart one, or None when it is none copytui knows."""
        known = self.back.get(symbol)
        if known is not None:
            return known
        upper = symbol.upper()
        for i in range(1, min(len(upper), 5)):
            root = upper[:i]
            if root in INSTRUMENTS and _MONTH_TAIL.match(upper[i:]):
                return root
        return None
