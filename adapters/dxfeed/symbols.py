"""copytui's symbols (ES, MGC) as dxFeed's futures symbols (``/ESZ26:XCME``) for a given day.

dxFeed names a future ``/`` + root + month code + two-digit year + ``:`` + the exchange's MIC.
Which contract month a root means on a day is our rule, the front month as traders roll it:

- equity index (ES MES NQ MNQ YM MYM RTY M2K): quarterly H M U Z; the contract expires on the
  third Friday of its month and is left 8 days before (CME's roll date, the Thursday of the week
  before expiry);
- crude oil (CL MCL): every month; the contract's last trading day is 3 business days before the
  25th of the month before its month (before the last business day preceding the 25th when the
  25th is a weekend), and it is left 7 days before that;
- gold (GC MGC): G J M Q V Z; first notice day is the last business day of the month before the
  contract month, and the contract is left 7 days before that.

Business days here are Monday to Friday: exchange holidays are not known, so a roll may come a day
earlier or later than the exchange's calendar would put it. ``options.symbols`` of the source
overrides any of this, root by root.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta

from copytui.instruments import INSTRUMENTS, price_source

MONTH_CODES = "FGHJKMNQUVXZ"
"""January to December."""

EXCHANGE = {
    **dict.fromkeys(("ES", "MES", "NQ", "MNQ", "RTY", "M2K"), "XCME"),
    **dict.fromkeys(("YM", "MYM"), "XCBT"),
    **dict.fromkeys(("CL", "MCL"), "XNYM"),
    **dict.fromkeys(("GC", "MGC"), "XCEC"),
}
"""The exchange (MIC) of each root copytui knows."""

_INDEX, _CRUDE, _GOLD = "index", "crude", "gold"
_FAMILY = {
    **dict.fromkeys(("ES", "MES", "NQ", "MNQ", "YM", "MYM", "RTY", "M2K"), _INDEX),
    **dict.fromkeys(("CL", "MCL"), _CRUDE),
    **dict.fromkeys(("GC", "MGC"), _GOLD),
}
_MONTHS = {_INDEX: (3, 6, 9, 12), _CRUDE: tuple(range(1, 13)), _GOLD: (2, 4, 6, 8, 10, 12)}
_ROLL_DAYS = {_INDEX: 8, _CRUDE: 7, _GOLD: 7}

DX_FUTURE = re.compile(r"^/(?P<root>[A-Z0-9]{1,6})[FGHJKMNQUVXZ]\d{2}:(?P<mic>X[A-Z]{3})$")
"""A dxFeed futures symbol: /ROOT + month code + 2-digit year + : + MIC."""


def _business_day(day: date) -> bool:
    return day.weekday() < 5


def _business_days_before(day: date, n: int) -> date:
    while n:
        day -= timedelta(days=1)
        if _business_day(day):
            n -= 1
    return day


def _month_before(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def _third_friday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


def _crude_last_trade(year: int, month: int) -> date:
    y, m = _month_before(year, month)
    day = date(y, m, 25)
    while not _business_day(day):
        day -= timedelta(days=1)
    return _business_days_before(day, 3)


def _gold_first_notice(year: int, month: int) -> date:
    day = date(year, month, 1) - timedelta(days=1)
    while not _business_day(day):
        day -= timedelta(days=1)
    return day


def roll_date(root: str, year: int, month: int) -> date:
    """The first day on which the contract of ``year``/``month`` is no longer ``root``'s front month."""
    family = _family(root)
    if family == _INDEX:
        key = _third_friday(year, month)
    elif family == _CRUDE:
        key = _crude_last_trade(year, month)
    else:
        key = _gold_first_notice(year, month)
    return key - timedelta(days=_ROLL_DAYS[family])


def front_month(root: str, day: date) -> tuple[int, int]:
    """(year, month) of ``root``'s front contract on ``day``."""
    months = _MONTHS[_family(root)]
    year, month = day.year, day.month
    for _ in range(30):
        if month in months and day < roll_date(root, year, month):
            return year, month
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise AssertionError(f"no front month for {root} on {day}")  # every cycle has one within a year


def dx_symbol(root: str, day: date) -> str:
    """dxFeed's symbol of ``root``'s front contract on ``day``: ``dx_symbol("ES", date(2026, 12, 1))``
    is ``/ESZ26:XCME``."""
    year, month = front_month(root, day)
    return f"/{root}{MONTH_CODES[month - 1]}{year % 100:02d}:{EXCHANGE[root]}"


def _family(root: str) -> str:
    family = _FAMILY.get(root)
    if family is None:
        raise ValueError(f"no dxFeed symbol for {root!r}: copytui maps {', '.join(sorted(_FAMILY))} only")
    return family


def check_override(root: str, symbol: object) -> str:
    """``symbol`` if it can stand for ``root``, else ValueError saying what is wrong."""
    if root not in INSTRUMENTS:
        raise ValueError(f"{root!r} is not a symbol copytui knows ({', '.join(sorted(INSTRUMENTS))})")
    if not isinstance(symbol, str):
        raise ValueError(f"{root}: the dxFeed symbol must be text like /{root}Z26:{EXCHANGE[root]}, got {symbol!r}")
    found = DX_FUTURE.match(symbol)
    if found is None:
        raise ValueError(
            f"{root}: {symbol!r} is not a dxFeed futures symbol "
            f"(/ROOT, month code, 2-digit year, :exchange, e.g. /{root}Z26:{EXCHANGE[root]})"
        )
    allowed = {root, price_source(root)}
    if found["root"] not in allowed:
        raise ValueError(
            f"{root}: {symbol!r} is a {found['root']} contract; {root} may be quoted by "
            f"{' or '.join(sorted(allowed))} only"
        )
    return symbol


class SymbolMap:
    """Our symbols to dxFeed's and back, for the day it is made: the overrides first."""

    def __init__(self, overrides: Mapping[str, str], day: date) -> None:
        self.overrides = {root: check_override(root, sym) for root, sym in overrides.items()}
        self.day = day
        self._back: dict[str, list[str]] = {}

    def to_dx(self, root: str) -> str:
        """dxFeed's symbol for ``root``, remembered for :meth:`roots`; ValueError for a root with none."""
        symbol = self.overrides.get(root) or dx_symbol(root, self.day)
        ours = self._back.setdefault(symbol, [])
        if root not in ours:
            ours.append(root)
        return symbol

    def roots(self, symbol: str) -> tuple[str, ...]:
        """Our symbols quoted by the dxFeed ``symbol`` (MES and ES may share /ESZ26:XCME)."""
        return tuple(self._back.get(symbol, ()))
