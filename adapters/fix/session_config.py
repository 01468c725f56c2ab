"""FIX account options from copytui's config: :class:`FixOptions`, the model of a ``broker: fix``
account's ``options:`` mapping (declared in adapters/fix/spec.py), and :class:`FixAccount`, those
options with the account's own keys, as the adapter uses them. Importing this needs no quickfix:
``copytui config check`` reads the model without it (the quickfix settings are built in
:mod:`adapters.fix.quickfix_settings`).

Options (``options:`` of a ``broker: fix`` account; host and port are the account's own keys):

=======================  =========  ==========================================================
begin_string             FIX.4.4    FIX.4.2 or FIX.4.4
sender_comp_id           (needed)   our SenderCompID (49)
target_comp_id           (needed)   the gateway's TargetCompID (56)
heartbeat_interval       30         HeartBtInt (108), seconds
reset_on_logon           false      send ResetSeqNumFlag=Y on every logon (loses resends)
reconnect_interval       5          seconds between reconnect attempts
marketable_limit_ticks   (off)      send market orders as limits at reference price +/- N ticks
positions                auto       auto | request | session: RequestForPositions (AN) or own fills
open_orders              auto       auto | request | session: OrderMassStatusRequest (AF) or own
order_status_request     true       ask the gateway (OrderStatusRequest H) for unknown ClOrdIDs
ack_timeout_s            5          seconds to wait for an order's first answer
request_timeout_s        3          seconds to wait for AN / AF / H answers
logon_timeout_s          10         seconds connect() waits for the logon
clordid_max_len          32         longest ClOrdID the gateway accepts
symbol_suffix            ""         appended to Symbol (55) on the wire, e.g. a contract month
start_time / end_time    (non-stop) session schedule, UTC HH:MM:SS (sequence reset at start)
data_dictionary          ""         a quickfix XML spec to validate incoming messages with
message_log              true       write a message log (secrets masked) beside the store
trailing_stops           false      send trailing stops natively (OrdType 3, ExecInst a, tag 211)
=======================  =========  ==========================================================

``positions`` / ``open_orders`` ``auto``: AN and AF are asked once, in the background, when the
session logs on; nothing waits for them, and reads answer from the session's own reports until the
gateway has answered. Any reject of AN, AF or H (35=3 or 35=j, whatever the reason) or no answer
within request_timeout_s means "not supported here": the session's view from then on, never asked
again, and the account's health says so. ``request``: every read asks and waits; a refusal is an
error.

``trailing_stops`` is off by default because many gateways take no pegged or trailing orders: a
follower's trailing stop would be refused. Off, a leader's trailing stop is copied as a plain stop
that copytui moves each time the leader's moves. On, it goes out as the gateway's own trailing stop
(see :mod:`adapters.fix.trailing` for the tags and what copytui guessed) and the leader's moves are
not copied: the gateway trails the copy itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

_TIME = r"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$"
_COMP_ID = r"^[A-Za-z0-9_.\-]{1,64}$"
Read = Literal["auto", "request", "session"]


class FixConfigError(ValueError):
    """A FIX account option that cannot work, said in one line with its fix."""


class _Problem(ValueError):
    """A check across keys or on the disk, raised inside the model: its key, what is wrong, the fix."""

    def __init__(self, key: str, problem: str, fix_hint: str) -> None:
        super().__init__(f"{problem}. {fix_hint}")
        self.key, self.problem, self.fix_hint = key, problem, fix_hint


class FixOptions(BaseModel):
    """``options:`` of a ``broker: fix`` account. Strict, as YAML gives them: a whole number is
    never a string or true, a flag is true or false; unknown keys are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True)

    sender_comp_id: str = Field(pattern=_COMP_ID)
    """Our SenderCompID (49), as the gateway gave it."""
    target_comp_id: str = Field(pattern=_COMP_ID)
    """The gateway's TargetCompID (56)."""
    begin_string: Literal["FIX.4.2", "FIX.4.4"] = "FIX.4.4"
    heartbeat_interval: int = Field(30, ge=1, le=3600)
    """HeartBtInt (108), seconds."""
    reset_on_logon: bool = False
    """Send ResetSeqNumFlag=Y on every logon (the gateway then cannot resend what copytui missed)."""
    reconnect_interval: int = Field(5, ge=1, le=3600)
    """Seconds between quickfix's reconnect attempts."""
    marketable_limit_ticks: int | None = Field(None, ge=0, le=1000)
    """Send market orders as limits this many ticks through the reference price (gateways without
    market orders)."""
    positions: Read = "auto"
    """RequestForPositions (AN): auto (asked once, in the background), request (every read), session."""
    open_orders: Read = "auto"
    """OrderMassStatusRequest (AF): auto, request or session, as ``positions``."""
    order_status_request: bool = True
    """Ask the gateway (OrderStatusRequest H) about ClOrdIDs this session does not know."""
    ack_timeout_s: float = Field(5.0, ge=0.1, le=120)
    """Seconds an order waits for its first answer before its outcome is ambiguous."""
    request_timeout_s: float = Field(3.0, ge=0.1, le=120)
    """Seconds an AN / AF / H request waits for its answer."""
    logon_timeout_s: float = Field(10.0, ge=0.1, le=300)
    """Seconds ``connect()`` waits for the logon."""
    clordid_max_len: int = Field(32, ge=10, le=64)
    """The longest ClOrdID the gateway takes."""
    symbol_suffix: str = ""
    """Appended to Symbol (55) on the wire, e.g. a contract month."""
    start_time: str | None = Field(None, pattern=_TIME)
    """Session start, UTC HH:MM:SS (sequence numbers reset then); with end_time, or neither: non-stop."""
    end_time: str | None = Field(None, pattern=_TIME)
    data_dictionary: str = ""
    """A quickfix XML spec to validate incoming messages with; none: messages are read leniently."""
    message_log: bool = True
    """Write a message log (secrets masked) beside the session store."""
    trailing_stops: bool = False
    """Send trailing stops as the gateway's own (OrdType 3, ExecInst a, PegDifference 211; see
    adapters/fix/trailing.py). Off by default: many gateways take no pegged or trailing orders, and a
    copy they refuse leaves a position unprotected; off, copytui moves a plain stop after the leader's."""

    @field_validator("data_dictionary")
    @classmethod
    def _dictionary_is_a_file(cls, value: str) -> str:
        if not value:
            return ""
        path = Path(value).expanduser()
        if not path.is_file():
            raise _Problem("options.data_dictionary", f"{value} is not a file", "point it at a quickfix XML spec")
        return str(path)

    @model_validator(mode="after")
    def _schedule_has_both_ends(self) -> FixOptions:
        if (self.start_time is None) != (self.end_time is None):
            raise _Problem("options.start_time/end_time", "only one is set", "set both (UTC HH:MM:SS) or neither")
        return self


class FixAccount(FixOptions):
    """A FIX account as the adapter uses it: its options and the account's own keys."""

    name: str
    host: str
    port: int
    username: str | None = None
    account_id: str | None = None

    @property
    def label(self) -> str:
        return f"{self.begin_string} {self.sender_comp_id}->{self.target_comp_id} at {self.host}:{self.port}"

    def carries(self, account: str | None) -> bool:
        """Whether a report naming Account (1) ``account`` is about this account (one naming none is)."""
        return not (self.account_id and account and account != self.account_id)

    def wire_symbol(self, symbol: str) -> str:
        return symbol + self.symbol_suffix

    def local_symbol(self, wire: str) -> str:
        """copytui's symbol of a Symbol (55) the gateway sent."""
        suffix = self.symbol_suffix
        return wire[: -len(suffix)] if suffix and wire.endswith(suffix) else wire


_HINTS = {
    "sender_comp_id": "use letters, digits, _ . - (up to 64)",
    "target_comp_id": "use letters, digits, _ . - (up to 64)",
    "start_time": "write UTC time as HH:MM:SS",
    "end_time": "write UTC time as HH:MM:SS",
}


def parse_options(account: Any) -> FixAccount:
    """The FixAccount of an AccountConfig; every problem is one FixConfigError line naming the key."""
    name = account.name
    given = dict(account.options or {})
    unknown = sorted(set(given) - set(FixOptions.model_fields))
    if unknown:  # first: a misspelt key is the likeliest cause of every other complaint
        known = ", ".join(sorted(FixOptions.model_fields))
        raise _error(name, f"options.{unknown[0]}", "unknown FIX option", f"use one of: {known} (see README, FIX)")
    if not account.host or not account.port:
        raise _error(
            name, "host/port", "not set", "set host and port to the FIX gateway's address (simulator: 127.0.0.1)"
        )
    try:
        options = FixOptions.model_validate(given)
    except ValidationError as exc:
        raise _error(name, *_explain(exc.errors()[0])) from None
    return FixAccount(
        **options.model_dump(),
        name=name,
        host=account.host,
        port=account.port,
        username=account.username,
        account_id=account.account_id,
    )


def _error(name: str, key: str, problem: str, fix_hint: str) -> FixConfigError:
    return FixConfigError(f"fix account {name}: {key}: {problem}. {fix_hint}")


def _explain(err: Mapping[str, Any]) -> tuple[str, str, str]:
    """(key, what is wrong, how to fix it) of one error of :class:`FixOptions`, said for a trader."""
    found = (err.get("ctx") or {}).get("error")
    if isinstance(found, _Problem):
        return found.key, found.problem, found.fix_hint
    field = ".".join(str(part) for part in err["loc"])
    key, value, kind = f"options.{field}", err.get("input"), err["type"]
    if kind == "missing":
        return key, "not set", "set it to the CompID your FIX gateway gave you"
    if kind == "literal_error":
        return key, f"{value!r} is not allowed", f"use one of {', '.join(_choices(field))}"
    if kind == "bool_type":
        return key, f"{value!r} is not true or false", "write true or false"
    info = FixOptions.model_fields.get(field)
    lo = next((m.ge for m in info.metadata if hasattr(m, "ge")), None) if info else None
    hi = next((m.le for m in info.metadata if hasattr(m, "le")), None) if info else None
    if info is not None and lo is not None:
        if isinstance(info.default, float):
            return key, f"{value!r} is not a number from {lo:g} to {hi:g}", "change it"
        return key, f"{value!r} is not a whole number from {lo} to {hi}", "change it"
    return key, f"{value!r} is not valid", _HINTS.get(field, "see README, FIX")


def _choices(field: str) -> tuple[str, ...]:
    info = FixOptions.model_fields[field]
    return tuple(str(a) for a in get_args(info.annotation))
