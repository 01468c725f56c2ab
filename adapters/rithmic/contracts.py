"""Rithmic contracts (``ESZ5`` on ``CME``) to and from copytui symbols (``ES``).

A Rithmic futures symbol is the exchange's product code, a month letter and the year's last digit
(``NQU4`` is what Rithmic's front-month answer said for NQ in 2024; two digits are accepted too).
Product codes are CME Globex codes; the exchange is where the product trades. Which month is the
front one is asked of Rithmic's ticker plant (RequestFrontMonthContract) unless
``options.contracts`` names it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from copytui.instruments import INSTRUMENTS

# copytui symbol -> (Rithmic product code, exchange)
PRODUCTS: dict[str, tuple[str, str]] = {
    "ES": ("ES", "CME"),
    "MES": ("MES", "CME"),
    "NQ": ("NQ", "CME"),
    "MNQ": ("MNQ", "CME"),
    "RTY": ("RTY", "CME"),
    "M2K": ("M2K", "CME"),
    "YM": ("YM", "CBOT"),
    "MYM": ("MYM", "CBOT"),
    "CL": ("CL", "NYMEX"),
    "MCL": ("MCL", "NYMEX"),
    "GC": ("GC", "COMEX"),
    "MGC": ("MGC", "COMEX"),
}
SYMBOL_OF_PRODUCT: dict[tuple[str, str], str] = {prod: sym for sym, prod in PRODUCTS.items()}
MONTH_CODES = "FGHJKMNQUVXZ"
_CONTRACT = re.compile(r"^([A-Z0-9]+?)([FGHJKMNQUVXZ])(\d{1,2})$")


class ContractError(ValueError):
    """A contract or symbol that cannot be mapped; the text names the value and the fix."""


@dataclass(frozen=True, slots=True)
class Contract:
    """What an order names at Rithmic: the contract's symbol and its exchange."""

    symbol: str
    exchange: str

    def __str__(self) -> str:
        return f"{self.symbol}.{self.exchange}"


def symbol_of(rithmic_symbol: str, exchange: str) -> str | None:
    """The copytui symbol of a Rithmic futures contract; None for one copytui does not trade
    (another product, a spread, an option)."""
    m = _CONTRACT.match(rithmic_symbol)
    if m is None:
        return None
    return SYMBOL_OF_PRODUCT.get((m.group(1), exchange))


def product_of(symbol: str) -> tuple[str, str]:
    """(product code, exchange) of a copytui symbol."""
    try:
        return PRODUCTS[symbol]
    except KeyError:
        raise ContractError(f"symbol {symbol!r} has no Rithmic product; known: {', '.join(sorted(PRODUCTS))}") from None


def front_quarter(year: int, month: int, symbol: str) -> Contract:
    """The simulator's front month: the next quarterly month (H M U Z), one-digit year."""
    product, exchange = product_of(symbol)
    for q in (3, 6, 9, 12):
        if month <= q:
            return Contract(f"{product}{MONTH_CODES[q - 1]}{year % 10}", exchange)
    return Contract(f"{product}H{(year + 1) % 10}", exchange)


def parse_overrides(text: str) -> dict[str, Contract]:
    """``"ES=ESZ5, CL=CLF6"`` -> {symbol: contract}; each contract checked against its symbol."""
    out: dict[str, Contract] = {}
    for part in filter(None, (p.strip() for p in re.split(r"[,\s]+", text))):
        sym, sep, code = part.partition("=")
        if not sep or sym not in INSTRUMENTS or sym not in PRODUCTS:
            raise ContractError(f"{part!r} must be SYMBOL=CONTRACT with a known symbol, e.g. ES=ESZ5")
        exchange = PRODUCTS[sym][1]
        if symbol_of(code, exchange) != sym:
            raise ContractError(f"{sym}={code}: {code!r} is not a {sym} futures contract (like {PRODUCTS[sym][0]}Z5)")
        out[sym] = Contract(code, exchange)
    return out
