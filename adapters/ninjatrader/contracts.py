"""copytui symbols and NinjaTrader 8 instrument names (``ES 12-26``: root, contract month, year).

Orders go to the front contract by a roll rule per product (equity index futures quarterly, rolled
eight days before the third Friday; crude oil monthly, rolled on the 15th of the month before;
gold in even months, rolled on the 25th of the month before), or to the contract named in the
account's ``instruments`` option. What NinjaTrader reports is read back by root, whatever month:
``ES 03-27`` is ES.
"""

from __future__ import annotations

import datetime as dt

from adapters.ninjatrader.wire import normalise_instrument
from copytui.instruments import INSTRUMENTS

QUARTERLY = frozenset({"ES", "MES", "NQ", "MNQ", "YM", "MYM", "RTY", "M2K"})
MONTHLY = frozenset({"CL", "MCL"})
EVEN_MONTHS = frozenset({"GC", "MGC"})


class ContractError(ValueError):
    pass


def _third_friday(year: int, month: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(4 - first.weekday()) % 7 + 14)


def _months_from(year: int, month: int) -> list[tuple[int, int]]:
    out = []
    for k in range(26):
        m = month - 1 + k
        out.append((year + m // 12, m % 12 + 1))
    return out


def _before(year: int, month: int, day: int) -> dt.date:
    """``day`` of the month before (year, month)."""
    prev = dt.date(year, month, 1) - dt.timedelta(days=1)
    return prev.replace(day=day)


def front_month(symbol: str, today: dt.date) -> tuple[int, int]:
    """(year, month) of ``symbol``'s front contract on ``today`` by the roll rule above."""
    for year, month in _months_from(today.year, today.month):
        if symbol in QUARTERLY:
            if month % 3 == 0 and today < _third_friday(year, month) - dt.timedelta(days=8):
                return year, month
        elif symbol in MONTHLY:
            if today < _before(year, month, 15):
                return year, month
        elif symbol in EVEN_MONTHS:
            if month % 2 == 0 and today < _before(year, month, 25):
                return year, month
        else:
            break
    raise ContractError(f"no roll rule for {symbol}; name its contract in options.instruments (e.g. {symbol}=...)")


def instrument_name(root: str, year: int, month: int) -> str:
    return f"{root} {month:02d}-{year % 100:02d}"


def parse_overrides(text: str) -> dict[str, str]:
    """``"ES=ES 12-26, CL=CL 02-27"`` -> {symbol: instrument}; each checked against its symbol."""
    out: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        symbol, sep, name = (s.strip() for s in part.partition("="))
        if not sep or not symbol or not name:
            raise ContractError(f"{part!r} is not SYMBOL=INSTRUMENT (e.g. ES=ES 12-26)")
        if symbol not in INSTRUMENTS:
            raise ContractError(f"{symbol!r} is not a symbol copytui knows ({', '.join(sorted(INSTRUMENTS))})")
        found = normalise_instrument(name)
        if found is None:
            raise ContractError(f"{name!r} is not a NinjaTrader 8 futures name like 'ES 12-26'")
        if found[1] != symbol:
            raise ContractError(f"{name!r} is not a {symbol} contract")
        out[symbol] = found[0]
    return out


class Contracts:
    """Which instrument an order goes to, and which symbol an instrument NinjaTrader reports is."""

    def __init__(self, overrides: dict[str, str] | None = None, today: dt.date | None = None) -> None:
        self.overrides = dict(overrides or {})
        self.today = today
        self._cache: dict[tuple[str, dt.date], str] = {}

    def instrument(self, symbol: str) -> str:
        if symbol in self.overrides:
            return self.overrides[symbol]
        if symbol not in INSTRUMENTS:
            raise ContractError(f"unknown symbol {symbol!r}")
        today = self.today or dt.datetime.now(dt.UTC).date()
        key = (symbol, today)
        name = self._cache.get(key)
        if name is None:
            name = self._cache[key] = instrument_name(symbol, *front_month(symbol, today))
        return name

    @staticmethod
    def symbol_of_root(root: str) -> str | None:
        """NinjaTrader's futures roots are the exchange's, as copytui's symbols are."""
        return root if root in INSTRUMENTS else None
