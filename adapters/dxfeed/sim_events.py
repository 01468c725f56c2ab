"""The simulator's market events: Quote and Trade values for one dxFeed symbol from the paper
exchange, under dxFeed's field names, for whatever fields (of those it knows) a client asks for.

The fields are dxFeed's Quote and Trade as tastytrade's SDK and dxFeed's docs name them; values the
paper exchange has no notion of get plausible constants (exchange codes empty, no extended hours).
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.paper.exchange import PaperExchange
from copytui.instruments import instrument, price_source

QUOTE = (
    "eventType",
    "eventSymbol",
    "eventTime",
    "sequence",
    "timeNanoPart",
    "bidTime",
    "bidExchangeCode",
    "askTime",
    "askExchangeCode",
    "bidPrice",
    "askPrice",
    "bidSize",
    "askSize",
)
TRADE = (
    "eventType",
    "eventSymbol",
    "eventTime",
    "time",
    "timeNanoPart",
    "sequence",
    "exchangeCode",
    "dayId",
    "tickDirection",
    "extendedTradingHours",
    "price",
    "change",
    "size",
    "dayVolume",
    "dayTurnover",
)
KNOWN: dict[str, tuple[str, ...]] = {"Quote": QUOTE, "Trade": TRADE}
"""The event types the simulator serves and the fields it can fill."""


def served_fields(kind: str, asked: Sequence[str], reverse: bool = False) -> tuple[str, ...]:
    """The fields of ``kind`` the simulator sends for ``asked``: those it knows, in the order asked
    (reversed when it is told to announce another order in FEED_CONFIG)."""
    known = KNOWN[kind]
    fields = [f for f in dict.fromkeys(asked) if f in known] or ["eventSymbol"]
    return tuple(reversed(fields)) if reverse else tuple(fields)


@dataclass
class Tape:
    """What the simulator last told about each symbol, and the running day's totals of its trades."""

    rng: random.Random
    sent: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(event type, dxFeed symbol) -> the full event as last sent (tests compare against it)."""
    history: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=10_000))
    """The latest events made, oldest first; each has its own ``sequence``."""
    volume: dict[str, int] = field(default_factory=dict)
    turnover: dict[str, float] = field(default_factory=dict)
    sequence: int = 0

    def quote_event(self, exchange: PaperExchange, symbol: str, root: str) -> dict[str, Any]:
        bid, ask = exchange.quote(root)
        now_ms = time.time_ns() // 1_000_000
        self.sequence += 1
        event = {
            "eventType": "Quote",
            "eventSymbol": symbol,
            "eventTime": now_ms,
            "sequence": self.sequence,
            "timeNanoPart": 0,
            "bidTime": now_ms,
            "bidExchangeCode": "",
            "askTime": now_ms,
            "askExchangeCode": "",
            "bidPrice": bid,
            "askPrice": ask,
            "bidSize": self.rng.randint(1, 60),
            "askSize": self.rng.randint(1, 60),
        }
        self.sent["Quote", symbol] = event
        self.history.append(event)
        return event

    def trade_event(self, exchange: PaperExchange, symbol: str, root: str) -> dict[str, Any]:
        price = exchange.price(root)
        previous = self.sent.get(("Trade", symbol), {}).get("price", price)
        size = self.rng.randint(1, 8)
        self.volume[symbol] = self.volume.get(symbol, 0) + size
        self.turnover[symbol] = self.turnover.get(symbol, 0.0) + size * price
        now_ms = time.time_ns() // 1_000_000
        self.sequence += 1
        event = {
            "eventType": "Trade",
            "eventSymbol": symbol,
            "eventTime": now_ms,
            "time": now_ms,
            "timeNanoPart": 0,
            "sequence": self.sequence,
            "exchangeCode": "",
            "dayId": now_ms // 86_400_000,
            "tickDirection": "UP" if price > previous else "DOWN" if price < previous else "ZERO",
            "extendedTradingHours": False,
            "price": price,
            "change": instrument(root).round_price(price - instrument(price_source(root)).start_price),
            "size": size,
            "dayVolume": self.volume[symbol],
            "dayTurnover": round(self.turnover[symbol], 2),
        }
        self.sent["Trade", symbol] = event
        self.history.append(event)
        return event


def compact(kind: str, events: Sequence[dict[str, Any]], fields: Sequence[str]) -> list[Any]:
    """``[kind, [values of each event in ``fields`` order...]]``: COMPACT FEED_DATA."""
    return [kind, [event.get(name, "NaN") for event in events for name in fields]]
