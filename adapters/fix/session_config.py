"""FIX account options from copytui's config, and the quickfix SessionSettings built from them.

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
=======================  =========  ==========================================================

``positions`` / ``open_orders`` ``auto``: AN and AF are asked once, in the background, when the
session logs on; nothing waits for them, and reads answer from the session's own reports until the
gateway has answered. Any reject of AN, AF or H (35=3 or 35=j, whatever the reason) or no answer
within request_timeout_s means "not supported here": the session's view from then on, never asked
again, and the account's health says so. ``request``: every read asks and waits; a refusal is an
error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import quickfix as fix

from adapters.fix.wire import VERSIONS

_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$")
_COMP_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


class FixConfigError(ValueError):
    """A FIX account option that cannot work, said in one line with its fix."""


@dataclass(frozen=True)
class FixOptions:
    name: str
    host: str
    port: int
    sender_comp_id: str
    target_comp_id: str
    begin_string: str = "FIX.4.4"
    heartbeat_interval: int = 30
    reset_on_logon: bool = False
    reconnect_interval: int = 5
    marketable_limit_ticks: int | None = None
    positions: str = "auto"
    open_orders: str = "auto"
    order_status_request: bool = True
    ack_timeout_s: float = 5.0
    request_timeout_s: float = 3.0
    logon_timeout_s: float = 10.0
    clordid_max_len: int = 32
    symbol_suffix: str = ""
    start_time: str | None = None
    end_time: str | None = None
    data_dictionary: str = ""
    message_log: bool = True
    username: str | None = None
    account_id: str | None = None

    @property
    def session_id(self) -> fix.SessionID:
        return fix.SessionID(self.begin_string, self.sender_comp_id, self.target_comp_id)

    @property
    def label(self) -> str:
        return f"{self.begin_string} {self.sender_comp_id}->{self.target_comp_id} at {self.host}:{self.port}"


_KNOWN = {
    "begin_string",
    "sender_comp_id",
    "target_comp_id",
    "heartbeat_interval",
    "reset_on_logon",
    "reconnect_interval",
    "marketable_limit_ticks",
    "positions",
    "open_orders",
    "order_status_request",
    "ack_timeout_s",
    "request_timeout_s",
    "logon_timeout_s",
    "clordid_max_len",
    "symbol_suffix",
    "start_time",
    "end_time",
    "data_dictionary",
    "message_log",
}


def parse_options(account: Any) -> FixOptions:
    """FixOptions from an AccountConfig; every problem is one FixConfigError line naming the key."""
    name = account.name
    opts: dict[str, Any] = dict(account.options or {})

    def bad(key: str, problem: str, fix_hint: str) -> FixConfigError:
        return FixConfigError(f"fix account {name}: {key}: {problem}. {fix_hint}")

    unknown = sorted(set(opts) - _KNOWN)
    if unknown:
        raise bad(
            f"options.{unknown[0]}", "unknown FIX option", f"use one of: {', '.join(sorted(_KNOWN))} (see README, FIX)"
        )
    if not account.host or not account.port:
        raise bad("host/port", "not set", "set host and port to the FIX gateway's address (simulator: 127.0.0.1)")

    def text(key: str, default: str | None = None, pattern: re.Pattern[str] | None = None) -> str | None:
        value = opts.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str) or (pattern is not None and not pattern.match(value)):
            raise bad(f"options.{key}", f"{value!r} is not valid", _HINTS.get(key, "see README, FIX"))
        return value

    def integer(key: str, default: int | None, lo: int, hi: int) -> int | None:
        value = opts.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise bad(f"options.{key}", f"{value!r} is not a whole number from {lo} to {hi}", "change it")
        return value

    def number(key: str, default: float, lo: float, hi: float) -> float:
        value = opts.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise bad(f"options.{key}", f"{value!r} is not a number from {lo:g} to {hi:g}", "change it")
        return float(value)

    def flag(key: str, default: bool) -> bool:
        value = opts.get(key, default)
        if not isinstance(value, bool):
            raise bad(f"options.{key}", f"{value!r} is not true or false", "write true or false")
        return value

    def choice(key: str, default: str, allowed: tuple[str, ...]) -> str:
        value = opts.get(key, default)
        if value not in allowed:
            raise bad(f"options.{key}", f"{value!r} is not allowed", f"use one of {', '.join(allowed)}")
        return str(value)

    sender = text("sender_comp_id", None, _COMP_ID)
    target = text("target_comp_id", None, _COMP_ID)
    if not sender or not target:
        missing = "sender_comp_id" if not sender else "target_comp_id"
        raise bad(f"options.{missing}", "not set", "set it to the CompID your FIX gateway gave you")
    start, end = text("start_time", None, _TIME), text("end_time", None, _TIME)
    if (start is None) != (end is None):
        raise bad("options.start_time/end_time", "only one is set", "set both (UTC HH:MM:SS) or neither")
    dictionary = text("data_dictionary", "") or ""
    if dictionary and not Path(dictionary).expanduser().is_file():
        raise bad("options.data_dictionary", f"{dictionary} is not a file", "point it at a quickfix XML spec")
    return FixOptions(
        name=name,
        host=account.host,
        port=account.port,
        sender_comp_id=sender,
        target_comp_id=target,
        begin_string=choice("begin_string", "FIX.4.4", VERSIONS),
        heartbeat_interval=integer("heartbeat_interval", 30, 1, 3600) or 30,
        reset_on_logon=flag("reset_on_logon", False),
        reconnect_interval=integer("reconnect_interval", 5, 1, 3600) or 5,
        marketable_limit_ticks=integer("marketable_limit_ticks", None, 0, 1000),
        positions=choice("positions", "auto", ("auto", "request", "session")),
        open_orders=choice("open_orders", "auto", ("auto", "request", "session")),
        order_status_request=flag("order_status_request", True),
        ack_timeout_s=number("ack_timeout_s", 5.0, 0.1, 120),
        request_timeout_s=number("request_timeout_s", 3.0, 0.1, 120),
        logon_timeout_s=number("logon_timeout_s", 10.0, 0.1, 300),
        clordid_max_len=integer("clordid_max_len", 32, 10, 64) or 32,
        symbol_suffix=text("symbol_suffix", "") or "",
        start_time=start,
        end_time=end,
        data_dictionary=str(Path(dictionary).expanduser()) if dictionary else "",
        message_log=flag("message_log", True),
        username=account.username,
        account_id=account.account_id,
    )


_HINTS = {
    "sender_comp_id": "use letters, digits, _ . - (up to 64)",
    "target_comp_id": "use letters, digits, _ . - (up to 64)",
    "start_time": "write UTC time as HH:MM:SS",
    "end_time": "write UTC time as HH:MM:SS",
}


# ----------------------------------------------------------------- quickfix settings
def _schedule(d: fix.Dictionary, start: str | None, end: str | None) -> None:
    if start and end:
        d.setString("StartTime", start)
        d.setString("EndTime", end)
    else:
        d.setString("StartTime", "00:00:00")
        d.setString("EndTime", "00:00:00")
        d.setString("NonStopSession", "Y")


def initiator_settings(o: FixOptions, store_dir: Path) -> fix.SessionSettings:
    """One initiator session. Outgoing messages are not persisted: copytui never lets quickfix
    resend an order late (a resend request is answered with a gap fill), and so the Logon with its
    password never lands in the store either."""
    defaults = fix.Dictionary()
    defaults.setString("ConnectionType", "initiator")
    defaults.setString("FileStorePath", str(store_dir))
    defaults.setString("PersistMessages", "N")
    defaults.setString("SocketNodelay", "Y")
    defaults.setInt("ReconnectInterval", o.reconnect_interval)
    defaults.setInt("LogonTimeout", max(1, int(o.logon_timeout_s)))
    defaults.setInt("LogoutTimeout", 2)
    _schedule(defaults, o.start_time, o.end_time)
    if o.data_dictionary:
        defaults.setString("UseDataDictionary", "Y")
        defaults.setString("DataDictionary", o.data_dictionary)
        defaults.setString("AllowUnknownMsgFields", "Y")
        defaults.setString("ValidateUserDefinedFields", "N")
    else:
        defaults.setString("UseDataDictionary", "N")
    settings = fix.SessionSettings()
    settings.set(defaults)
    session = fix.Dictionary()
    session.setString("SocketConnectHost", o.host)
    session.setInt("SocketConnectPort", o.port)
    session.setInt("HeartBtInt", o.heartbeat_interval)
    session.setString("ResetOnLogon", "Y" if o.reset_on_logon else "N")
    settings.set(o.session_id, session)
    return settings


def acceptor_settings(
    port: int, sessions: list[fix.SessionID], store_dir: Path, *, allowed: str = "127.0.0.1"
) -> fix.SessionSettings:
    """Acceptor sessions that keep what they send, so a client's resend request gets real resends.

    quickfix's acceptor binds every interface (it has no listen-address setting); sessions are
    restricted to peers at ``allowed`` (AllowedRemoteAddresses), loopback by default."""
    defaults = fix.Dictionary()
    defaults.setString("ConnectionType", "acceptor")
    defaults.setInt("SocketAcceptPort", port)
    defaults.setString("AllowedRemoteAddresses", allowed)
    defaults.setString("SocketReuseAddress", "Y")
    defaults.setString("SocketNodelay", "Y")
    defaults.setString("FileStorePath", str(store_dir))
    defaults.setString("PersistMessages", "Y")
    defaults.setString("UseDataDictionary", "N")
    _schedule(defaults, None, None)
    settings = fix.SessionSettings()
    settings.set(defaults)
    for sid in sessions:
        settings.set(sid, fix.Dictionary())
    return settings
