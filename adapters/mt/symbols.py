"""From copytui's contracts to MetaTrader's lots and back, per symbol.

``options.symbols`` maps a copytui symbol to the terminal's symbol and how many lots one contract
is: ``"ES=US500:0.1, NQ=USTEC:0.1"``. A symbol not named there trades under its own name at one
lot per contract (a terminal that lists the futures themselves). The terminal's hello says each
symbol's volume minimum, maximum and step; an order whose lots break them is refused here, with
the reason, before anything is sent, and a volume coming back that is not a whole number of
contracts is refused at the edge (never rounded into a position nobody holds).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from adapters.mt.protocol import SymbolInfo
from copytui.instruments import INSTRUMENTS

_NAME = re.compile(r"^[A-Za-z0-9._#+&!$-]{1,64}$")
_EPS = 1e-6


class SymbolMapError(ValueError):
    """``options.symbols`` cannot be read (said in one line)."""


class LotProblem(ValueError):
    """A quantity that does not fit the symbol (said in one line, for a reject or a drop)."""


@dataclass(frozen=True, slots=True)
class Route:
    symbol: str
    """copytui's symbol (a known contract)."""
    mt: str
    """The terminal's symbol."""
    lots_per_contract: float


def parse_routes(text: str) -> dict[str, Route]:
    """``"ES=US500:0.1, NQ=USTEC"`` -> routes by copytui symbol."""
    routes: dict[str, Route] = {}
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        symbol, eq, rest = entry.partition("=")
        symbol = symbol.strip()
        name, _, lots_text = rest.partition(":")
        name = name.strip()
        if not eq or not name:
            raise SymbolMapError(f"{entry!r} is not SYMBOL=MT_SYMBOL or SYMBOL=MT_SYMBOL:LOTS_PER_CONTRACT")
        if symbol not in INSTRUMENTS:
            raise SymbolMapError(f"{symbol!r} is not a symbol copytui knows ({', '.join(sorted(INSTRUMENTS))})")
        if not _NAME.match(name):
            raise SymbolMapError(f"{name!r} is not a MetaTrader symbol name")
        try:
            lots = float(lots_text) if lots_text.strip() else 1.0
        except ValueError:
            raise SymbolMapError(f"{entry!r}: lots per contract {lots_text.strip()!r} is not a number") from None
        if not math.isfinite(lots) or lots <= 0:
            raise SymbolMapError(f"{entry!r}: lots per contract must be a positive number")
        if symbol in routes:
            raise SymbolMapError(f"{symbol} is mapped twice")
        if any(r.mt == name for r in routes.values()):
            raise SymbolMapError(f"{name} is the terminal symbol of two copytui symbols")
        routes[symbol] = Route(symbol, name, lots)
    return routes


def _whole(value: float) -> int | None:
    near = round(value)
    return int(near) if abs(value - near) <= _EPS * max(1.0, abs(value)) else None


class SymbolBook:
    """The routes of one account and what its terminal said of each symbol."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self._by_mt = {r.mt: r for r in routes.values()}
        self.specs: dict[str, SymbolInfo] = {}

    def learn(self, symbols: list[SymbolInfo]) -> list[str]:
        """Take the terminal's symbols; what does not fit the routes, one line each."""
        self.specs = {s.name: s for s in symbols}
        problems = []
        for r in self.routes.values():
            spec = self.specs.get(r.mt)
            if spec is None:
                problems.append(f"{r.mt} (for {r.symbol}) is not in the terminal's Market Watch")
            elif spec.volume_step <= 0 or spec.volume_max <= 0:
                problems.append(f"{r.mt} (for {r.symbol}) is not tradable on this account (no volume step)")
            elif _whole(r.lots_per_contract / spec.volume_step) is None:
                problems.append(
                    f"{r.symbol}={r.mt}:{r.lots_per_contract:g} is not a multiple of {r.mt}'s volume step "
                    f"{spec.volume_step:g}"
                )
        return problems

    def route(self, symbol: str) -> Route:
        return self.routes.get(symbol) or Route(symbol, symbol, 1.0)

    def of_terminal(self, mt_symbol: str) -> Route | None:
        """The route of a terminal symbol; None for one copytui does not trade (EURUSD, ...)."""
        found = self._by_mt.get(mt_symbol)
        if found is not None:
            return found
        if mt_symbol in INSTRUMENTS and mt_symbol not in self.routes:
            return Route(mt_symbol, mt_symbol, 1.0)
        return None

    def lots(self, symbol: str, qty: int) -> tuple[Route, float]:
        """``qty`` contracts of ``symbol`` in the terminal's lots, checked against its limits."""
        r = self.route(symbol)
        lots = round(qty * r.lots_per_contract, 8)
        spec = self.specs.get(r.mt)
        if spec is None:
            raise LotProblem(
                f"{r.mt} is not in the terminal's Market Watch (add it there, or map {symbol} in options.symbols)"
            )
        if spec.volume_step <= 0 or spec.volume_max <= 0:
            raise LotProblem(f"{r.mt} is not tradable on this account (the terminal gives it no volume step)")
        if _whole(lots / spec.volume_step) is None:
            raise LotProblem(f"{lots:g} lots of {r.mt} is not a multiple of its volume step {spec.volume_step:g}")
        if lots < spec.volume_min - _EPS:
            raise LotProblem(f"{lots:g} lots of {r.mt} is below its minimum {spec.volume_min:g}")
        if lots > spec.volume_max + _EPS:
            raise LotProblem(
                f"{lots:g} lots of {r.mt} is above its maximum {spec.volume_max:g} (set max_order_qty to split orders)"
            )
        return r, lots

    @staticmethod
    def contracts(route: Route, lots: float) -> int:
        """``lots`` of the route's terminal symbol as whole contracts, or :class:`LotProblem`."""
        whole = _whole(lots / route.lots_per_contract)
        if whole is None:
            raise LotProblem(
                f"{lots:g} lots of {route.mt} is not a whole number of {route.symbol} contracts at "
                f"{route.lots_per_contract:g} lots each (options.symbols)"
            )
        return whole

    def price(self, route: Route, price: float | None) -> float:
        """A copytui price on the terminal symbol's tick grid (0 for none, MetaTrader's convention)."""
        if not price:
            return 0.0
        spec = self.specs.get(route.mt)
        if spec is None or spec.tick_size <= 0:
            return price
        return round(round(price / spec.tick_size) * spec.tick_size, spec.digits)
