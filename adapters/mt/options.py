"""The ``options:`` of a MetaTrader account, checked once when the adapter is made.

:class:`MtOptions` is what ``adapters.mt.spec`` declares: snake_case keys, unknown keys refused
with the list of the known ones. :func:`bridge_of` says who the account is (the terminal's login)
and where copytui listens for its terminal (``host``/``port`` of the account; one listener per
address is shared by every account of the process).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from adapters.kit.options import read_options
from adapters.mt.symbols import Route, SymbolMapError, parse_routes

DEFAULT_HOST = "127.0.0.1"


def _positive(value: Any) -> Any:
    # said here rather than by pydantic so that a bool (YAML `yes`) is refused as a number too
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"must be a positive number, got {value!r}")
    return float(value)


def _count(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value != int(value):
        raise ValueError(f"must be a whole number, 0 or more, got {value!r}")
    return int(value)


Positive = Annotated[float, BeforeValidator(_positive)]
Count = Annotated[int, BeforeValidator(_count)]


class MtOptions(BaseModel):
    """``options:`` of a MetaTrader account (all optional; unknown keys are refused)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    symbols: str | None = None
    """copytui symbol = terminal symbol : lots per contract, comma separated ("ES=US500:0.1, NQ=USTEC:0.1");
    a symbol not named trades under its own name at 1 lot per contract."""
    server: str | None = None
    """The trade server the terminal must be logged in to (as its hello says); any when unset."""
    connect_timeout_s: Positive = 60.0
    """How long connect() waits for the terminal to dial in."""
    request_timeout_s: Positive = 10.0
    """How long a read (positions, orders, deals) may take."""
    order_timeout_s: Positive = 10.0
    """How long an order request may take before its outcome is unknown (then asked by comment)."""
    reconnect_wait_s: Positive = 3.0
    """An order sent while the terminal is redialing waits this long for it (nothing is sent meanwhile)."""
    heartbeat_s: Positive = 5.0
    """Heartbeat interval told to the terminal; three silent intervals close the connection."""
    deviation_points: Count = 20
    """Market orders: the worst fill, in points from the quote, the terminal may accept."""
    requote_retries: Annotated[Count, Field(le=5)] = 2
    """How often a market order refused by a requote (nothing executed) is sent again."""
    lookback_h: Positive = 72.0
    """How far back find_order and the deal history look."""

    @field_validator("symbols")
    @classmethod
    def _routes_parse(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_routes(value)
            except SymbolMapError as exc:
                raise ValueError(str(exc)) from None
        return value

    def routes(self) -> dict[str, Route]:
        return parse_routes(self.symbols) if self.symbols else {}


@dataclass(frozen=True, slots=True)
class Bridge:
    login: int
    host: str
    port: int


def parse_options(account: Any) -> MtOptions:
    """The account's options, or ValueError with one line naming the account and the key."""
    return read_options(MtOptions, account, where=f"mt account {account.name}")


def bridge_of(account: Any) -> Bridge:
    """The terminal's login (``account_id``) and the address copytui listens on for it."""
    where = f"mt account {account.name}"
    login = str(account.account_id or "")
    if not login.isdigit() or int(login) <= 0:
        raise ValueError(f"{where}: account_id must be the MetaTrader login (a number), got {login or 'nothing'!r}")
    if not account.port:
        raise ValueError(
            f"{where}: set port: the TCP port copytui listens on for the terminal (the EA's BridgePort input)"
        )
    return Bridge(int(login), account.host or DEFAULT_HOST, int(account.port))
