"""dxLink's JSON messages as the client sends them, and FEED_DATA read back into events.

The sequence (tastytrade 13.2.3 ``streamer.py``; dxFeed's dxlink-websocket-client ``messages.ts``
and ``feed-messages.ts``): SETUP -> server SETUP and AUTH_STATE UNAUTHORIZED -> AUTH -> AUTH_STATE
AUTHORIZED -> CHANNEL_REQUEST (service FEED, contract AUTO) -> CHANNEL_OPENED -> FEED_SETUP
(COMPACT, the fields wanted per event type) -> FEED_SUBSCRIPTION add -> FEED_CONFIG (the fields the
server actually sends, in its order) and FEED_DATA. KEEPALIVE on channel 0 keeps the socket open.

COMPACT FEED_DATA is ``["Quote", [v1, v2, ... for N events]]``: the values of each event in the
field order of the latest FEED_CONFIG for that type (the order asked until one arrives). A value
the feed does not have is ``"NaN"`` (or null); both read as None.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

VERSION = "0.1-copytui/0.1.0"
"""SETUP's version: dxLink protocol 0.1 (what tastytrade's SDK announces) and this client."""

FEED_CHANNEL = 1
"""One FEED channel carries both event types (channel numbers a client opens are odd)."""

QUOTE_FIELDS = ("eventSymbol", "eventTime", "bidPrice", "askPrice", "bidSize", "askSize", "bidTime", "askTime")
TRADE_FIELDS = ("eventSymbol", "eventTime", "price", "size", "time")
EVENT_FIELDS: dict[str, tuple[str, ...]] = {"Quote": QUOTE_FIELDS, "Trade": TRADE_FIELDS}
"""What FEED_SETUP asks for, per event type."""

_NOT_A_NUMBER = frozenset({"NaN", "Infinity", "-Infinity"})

Event = tuple[str, dict[str, Any]]
"""(event type, field -> value)."""


class FeedDataError(ValueError):
    """A FEED_DATA or FEED_CONFIG frame that cannot be read: the text says what was wrong."""


def setup(keepalive_timeout_s: float) -> dict[str, Any]:
    timeout = _seconds(keepalive_timeout_s)
    return {
        "type": "SETUP",
        "channel": 0,
        "keepaliveTimeout": timeout,
        "acceptKeepaliveTimeout": timeout,
        "version": VERSION,
    }


def auth(token: str) -> dict[str, Any]:
    return {"type": "AUTH", "channel": 0, "token": token}


KEEPALIVE: dict[str, Any] = {"type": "KEEPALIVE", "channel": 0}


def channel_request(channel: int = FEED_CHANNEL) -> dict[str, Any]:
    return {"type": "CHANNEL_REQUEST", "channel": channel, "service": "FEED", "parameters": {"contract": "AUTO"}}


def feed_setup(aggregation_period_s: float, channel: int = FEED_CHANNEL) -> dict[str, Any]:
    return {
        "type": "FEED_SETUP",
        "channel": channel,
        "acceptAggregationPeriod": aggregation_period_s,
        "acceptDataFormat": "COMPACT",
        "acceptEventFields": {kind: list(fields) for kind, fields in EVENT_FIELDS.items()},
    }


def feed_subscription(symbols: Sequence[str], channel: int = FEED_CHANNEL) -> dict[str, Any]:
    return {
        "type": "FEED_SUBSCRIPTION",
        "channel": channel,
        "add": [{"type": kind, "symbol": symbol} for symbol in symbols for kind in EVENT_FIELDS],
    }


def _seconds(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def config_fields(message: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """The field order a FEED_CONFIG announces, for the event types this client reads."""
    fields = message.get("eventFields")
    if fields is None:
        return {}
    if not isinstance(fields, Mapping):
        raise FeedDataError(f"FEED_CONFIG eventFields is {type(fields).__name__}, not an object of field lists")
    out: dict[str, tuple[str, ...]] = {}
    for kind in EVENT_FIELDS:
        listed = fields.get(kind)
        if listed is None:
            continue
        if not isinstance(listed, list) or not all(isinstance(f, str) for f in listed):
            raise FeedDataError(f"FEED_CONFIG eventFields.{kind} is not a list of field names: {listed!r:.80}")
        if "eventSymbol" not in listed:
            raise FeedDataError(f"FEED_CONFIG eventFields.{kind} has no eventSymbol: {listed!r:.80}")
        out[kind] = tuple(listed)
    return out


def decode_feed_data(data: Any, fields: Mapping[str, Sequence[str]]) -> list[Event]:
    """The events of one FEED_DATA ``data``: COMPACT (type, flat values) pairs, or FULL objects.
    FeedDataError says what is wrong with the frame; nothing of a bad frame is used."""
    if not isinstance(data, list):
        raise FeedDataError(f"FEED_DATA data is {type(data).__name__}, not a list")
    if data and isinstance(data[0], dict):
        return [_full_event(item) for item in data]
    if len(data) % 2:
        raise FeedDataError(f"COMPACT FEED_DATA needs [type, [values...]] pairs, got {len(data)} items")
    events: list[Event] = []
    for i in range(0, len(data), 2):
        kind, values = data[i], data[i + 1]
        if not isinstance(kind, str) or not isinstance(values, list):
            raise FeedDataError(f"COMPACT FEED_DATA item {i} is {kind!r:.40}, not an event type and its values")
        names = fields.get(kind)
        if names is None:
            continue  # a type this client did not ask for: skipped, as dxLink's clients do
        if not names or len(values) % len(names):
            raise FeedDataError(
                f"FEED_DATA {kind} carries {len(values)} values, not a multiple of its {len(names)} fields "
                f"({', '.join(names)})"
            )
        width = len(names)
        events.extend(
            (kind, dict(zip(names, values[j : j + width], strict=True))) for j in range(0, len(values), width)
        )
    return events


def _full_event(item: Any) -> Event:
    if not isinstance(item, dict) or not isinstance(item.get("eventType"), str):
        raise FeedDataError(f"FULL FEED_DATA event without an eventType: {item!r:.80}")
    return item["eventType"], item


def symbol_of(event: Mapping[str, Any]) -> str:
    symbol = event.get("eventSymbol")
    if not isinstance(symbol, str) or not symbol:
        raise FeedDataError(f"event without an eventSymbol: {dict(event)!r:.80}")
    return symbol


def number(event: Mapping[str, Any], name: str) -> float | None:
    """A price or size: None when the feed has none (absent, null, "NaN"); FeedDataError otherwise."""
    value = event.get(name)
    if value is None or value in _NOT_A_NUMBER:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FeedDataError(f"{name} of {event.get('eventSymbol')} is {value!r:.40}, not a number")
    if math.isnan(value) or math.isinf(value):
        return None
    return float(value)


def millis(event: Mapping[str, Any], *names: str) -> int | None:
    """The latest of the time fields ``names`` (Unix ms), None when none is set (0 means unset)."""
    best: int | None = None
    for name in names:
        value = number(event, name)
        if value:
            best = max(best or 0, int(value))
    return best
