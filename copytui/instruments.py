"""Contract specifications for the futures copytui knows: tick size and point value.

Slippage in ticks and currency, the paper exchange's price grid and P&L all come from here.
An unknown symbol is an error at the edge, never a silent default.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    tick_size: float
    point_value: float
    start_price: float
    description: str

    @property
    def tick_value(self) -> float:
        return self.tick_size * self.point_value

    def round_price(self, price: float) -> float:
        ticks = round(price / self.tick_size)
        return round(ticks * self.tick_size, 10)

    def ticks_between(self, a: float, b: float) -> float:
        return round((a - b) / self.tick_size, 6)

    @property
    def price_decimals(self) -> int:
        """Decimals of the tick size: ES 0.25 -> 2, YM 1 -> 0, RTY 0.1 -> 1, CL 0.01 -> 2."""
        text = f"{self.tick_size:.10f}".rstrip("0")
        return len(text.split(".")[1])

    def format_price(self, price: float) -> str:
        """A price as the contract is quoted, with its tick size's decimals: ES 5000.25, YM 39001, CL 75.42."""
        return f"{price:.{self.price_decimals}f}"


INSTRUMENTS: dict[str, Instrument] = {
    i.symbol: i
    for i in (
        Instrument("ES", 0.25, 50.0, 5000.00, "E-mini S&P 500"),
        Instrument("MES", 0.25, 5.0, 5000.00, "Micro E-mini S&P 500"),
        Instrument("NQ", 0.25, 20.0, 17500.00, "E-mini Nasdaq-100"),
        Instrument("MNQ", 0.25, 2.0, 17500.00, "Micro E-mini Nasdaq-100"),
        Instrument("YM", 1.0, 5.0, 39000.0, "E-mini Dow"),
        Instrument("MYM", 1.0, 0.5, 39000.0, "Micro E-mini Dow"),
        Instrument("RTY", 0.1, 50.0, 2050.0, "E-mini Russell 2000"),
        Instrument("M2K", 0.1, 5.0, 2050.0, "Micro E-mini Russell 2000"),
        Instrument("CL", 0.01, 1000.0, 78.00, "Crude Oil"),
        Instrument("MCL", 0.01, 100.0, 78.00, "Micro Crude Oil"),
        Instrument("GC", 0.10, 100.0, 2350.0, "Gold"),
        Instrument("MGC", 0.10, 10.0, 2350.0, "Micro Gold"),
    )
}


# A micro contract quotes the same price as its full-size sibling: a price seen on one marks both.
PRICE_SOURCE: dict[str, str] = {"MES": "ES", "MNQ": "NQ", "MYM": "YM", "M2K": "RTY", "MCL": "CL", "MGC": "GC"}


def price_source(symbol: str) -> str:
    """The contract whose price ``symbol`` quotes (itself for a full-size contract)."""
    return PRICE_SOURCE.get(symbol, symbol)


class UnknownSymbol(KeyError):
    def __init__(self, symbol: str) -> None:
        known = ", ".join(sorted(INSTRUMENTS))
        super().__init__(f"unknown symbol {symbol!r}: copytui knows {known}")
        self.symbol = symbol

    def __str__(self) -> str:
        return str(self.args[0])


def format_price(symbol: str, price: float) -> str:
    """``price`` on ``symbol``'s tick grid (``format_price("NQ", 17501.25)`` -> ``"17501.25"``).

    The one price formatter of the desk, headless output and reports. A symbol copytui does not
    know (a price read back from an old journal) keeps every digit it has, never rounded away."""
    spec = INSTRUMENTS.get(symbol)
    return spec.format_price(price) if spec is not None else repr(float(price))


def instrument(symbol: str) -> Instrument:
    try:
        return INSTRUMENTS[symbol]
    except KeyError:
        raise UnknownSymbol(symbol) from None
