"""The market as the engine sees it: the quote of the moment each leader event is read, and live
marks for unrealised P&L, from an optional market-data source (adapters/marketdata.py).

Copying never waits on market data: :meth:`Market.take` is a dict lookup on the source's latest
quote. A quote that is stale (too old, or the feed is down) is kept with the reason and never used
as the market: slippage against it is not computed, and marks fall back to the last fill seen.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from adapters.base import HealthState
from adapters.marketdata import MarketDataSource
from copytui.models import MarketMark

KEEP = 20_000
"""Signals whose marks are kept in memory for their followers' fills (a busy day's worth)."""


@dataclass(frozen=True, slots=True)
class QuoteView:
    """One symbol's quote for the desk."""

    symbol: str
    bid: float | None
    ask: float | None
    age_ms: float | None
    note: str


@dataclass(frozen=True, slots=True)
class MarketView:
    """The source for the desk: its name and connection, and the quotes of the symbols traded."""

    name: str
    source: str
    connection: HealthState
    detail: str
    quotes: tuple[QuoteView, ...]


class Market:
    def __init__(self, source: MarketDataSource | None) -> None:
        self.source = source
        self._marks: OrderedDict[str, MarketMark] = OrderedDict()

    def take(self, signal_id: str, symbol: str) -> MarketMark | None:
        """The hot path: the market of ``symbol`` now, kept for ``signal_id``'s fills."""
        source = self.source
        if source is None:
            return None
        now = time.monotonic_ns()
        q = source.quote(symbol)
        note = source.staleness(symbol, now)
        mark = (
            MarketMark(q.bid, q.ask, q.last, q.age_ms(now), note)
            if q is not None
            else MarketMark(None, None, None, None, note or f"no quote of {symbol}")
        )
        marks = self._marks
        marks[signal_id] = mark
        if len(marks) > KEEP:
            marks.popitem(last=False)
        return mark

    def mark_of(self, signal_id: str) -> MarketMark | None:
        return self._marks.get(signal_id)

    def restore(self, signal_id: str, mark: MarketMark) -> None:
        """A journaled mark after a restart: its followers' later fills still measure against it."""
        self._marks[signal_id] = mark

    def live_price(self, symbol: str) -> float | None:
        """The mark for unrealised P&L: the mid of a live quote (the last trade when one side is
        empty), None when the quote is not live."""
        source = self.source
        if source is None:
            return None
        q = source.quote(symbol)
        if q is None or source.stale(symbol, time.monotonic_ns()):
            return None
        if q.bid is not None and q.ask is not None:
            return (q.bid + q.ask) / 2
        return q.last

    def view(self, symbols: Iterable[str]) -> MarketView | None:
        source = self.source
        if source is None:
            return None
        now = time.monotonic_ns()
        quotes = []
        for symbol in symbols:
            q = source.quote(symbol)
            note = source.staleness(symbol, now)
            if q is None:
                quotes.append(QuoteView(symbol, None, None, None, note))
            else:
                quotes.append(QuoteView(symbol, q.bid, q.ask, q.age_ms(now), note))
        health = source.health()
        return MarketView(source.name, source.source, health.state, health.detail, tuple(quotes))
