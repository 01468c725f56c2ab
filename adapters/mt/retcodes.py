"""MetaTrader 5's trade server return codes (``MqlTradeResult.retcode``), the vocabulary of every
reply on the bridge (the MQL4 EA translates MT4's error codes into these), and what each means
for copytui: done, refused (nothing happened), worth sending again (the price moved: nothing
happened), or unknown (the terminal cannot say whether the server executed it)."""

from __future__ import annotations

import enum


class Outcome(enum.Enum):
    DONE = "done"
    REFUSED = "refused"
    REQUOTED = "requoted"
    """Not executed because the price moved or was stale: sending again is not a duplicate."""
    UNKNOWN = "unknown"


REQUOTE = 10004
REJECT = 10006
PLACED = 10008
DONE = 10009
DONE_PARTIAL = 10010
ERROR = 10011
TIMEOUT = 10012
INVALID = 10013
INVALID_VOLUME = 10014
INVALID_PRICE = 10015
NO_MONEY = 10019
PRICE_CHANGED = 10020
PRICE_OFF = 10021
NO_CHANGES = 10025
CLIENT_DISABLES_AT = 10027
CONNECTION = 10031
INVALID_ORDER = 10035
POSITION_CLOSED = 10036
INVALID_CLOSE_VOLUME = 10038

NAMES: dict[int, str] = {
    10004: "REQUOTE",
    10006: "REJECT",
    10007: "CANCEL",
    10008: "PLACED",
    10009: "DONE",
    10010: "DONE_PARTIAL",
    10011: "ERROR",
    10012: "TIMEOUT",
    10013: "INVALID",
    10014: "INVALID_VOLUME",
    10015: "INVALID_PRICE",
    10016: "INVALID_STOPS",
    10017: "TRADE_DISABLED",
    10018: "MARKET_CLOSED",
    10019: "NO_MONEY",
    10020: "PRICE_CHANGED",
    10021: "PRICE_OFF",
    10022: "INVALID_EXPIRATION",
    10023: "ORDER_CHANGED",
    10024: "TOO_MANY_REQUESTS",
    10025: "NO_CHANGES",
    10026: "SERVER_DISABLES_AT",
    10027: "CLIENT_DISABLES_AT",
    10028: "LOCKED",
    10029: "FROZEN",
    10030: "INVALID_FILL",
    10031: "CONNECTION",
    10032: "ONLY_REAL",
    10033: "LIMIT_ORDERS",
    10034: "LIMIT_VOLUME",
    10035: "INVALID_ORDER",
    10036: "POSITION_CLOSED",
    10038: "INVALID_CLOSE_VOLUME",
    10039: "CLOSE_ORDER_EXIST",
    10040: "LIMIT_POSITIONS",
    10041: "REJECT_CANCEL",
    10042: "LONG_ONLY",
    10043: "SHORT_ONLY",
    10044: "CLOSE_ONLY",
    10045: "FIFO_CLOSE",
    10046: "HEDGE_PROHIBITED",
}

_DONE = {PLACED, DONE, DONE_PARTIAL, NO_CHANGES}
_REQUOTED = {REQUOTE, PRICE_CHANGED, PRICE_OFF}
# the request may have reached the trade server: ask by client order id, never send it again
_UNKNOWN = {ERROR, TIMEOUT, CONNECTION}

HINTS: dict[int, str] = {
    CLIENT_DISABLES_AT: "turn on Algo Trading in the terminal's toolbar and allow it in the EA's properties",
    10026: "the broker's server does not allow automated trading on this account",
    NO_MONEY: "not enough free margin for this volume",
    INVALID_VOLUME: "the volume breaks the symbol's minimum, maximum or step: check options.symbols",
    10018: "the market is closed for this symbol",
    10030: "the symbol does not take the filling mode the EA chose",
    10045: "the account closes positions first in, first out (FIFO rule)",
    10046: "the account does not allow opposite positions (hedging prohibited)",
}


def outcome(retcode: int) -> Outcome:
    if retcode in _DONE:
        return Outcome.DONE
    if retcode in _REQUOTED:
        return Outcome.REQUOTED
    if retcode in _UNKNOWN:
        return Outcome.UNKNOWN
    return Outcome.REFUSED


def describe(retcode: int, message: str = "") -> str:
    """``"MetaTrader 10019 NO_MONEY: <terminal's text> (<what to do>)"``."""
    name = NAMES.get(retcode, "UNKNOWN_CODE")
    text = f"MetaTrader {retcode} {name}"
    if message:
        text += f": {message}"
    hint = HINTS.get(retcode)
    return f"{text} ({hint})" if hint else text
