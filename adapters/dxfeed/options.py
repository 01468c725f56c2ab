"""The ``options:`` of a dxFeed market-data source: snake_case keys, unknown keys refused with the
list of known ones, each bad value said in one line (through :mod:`adapters.kit.options`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, field_validator

from adapters.dxfeed.symbols import check_override
from adapters.kit.options import option_problem


def _positive(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"must be a positive number, got {value!r}")
    return float(value)


def _not_negative(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(f"must be 0 or a positive number, got {value!r}")
    return float(value)


Positive = Annotated[float, BeforeValidator(_positive)]
NotNegative = Annotated[float, BeforeValidator(_not_negative)]


class DxFeedOptions(BaseModel):
    """``options:`` of a dxFeed (dxLink) market-data source; the token lives in the keyring."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True)

    url: str
    """The dxLink WebSocket, ``wss://`` (``ws://`` only for a simulator on this machine), e.g. the
    ``dxlink-url`` your data vendor gives with the token."""
    stale_after_ms: Positive = 5000.0
    """A quote older than this is shown as stale, never as the market of the moment."""
    symbols: dict[str, str] = {}
    """dxFeed symbol per copytui symbol where the automatic front month is not wanted
    (``{ES: /ESH27:XCME}``); a micro may be quoted by its full-size contract (``MES: /ESH27:XCME``)."""
    keepalive_timeout_s: Positive = 60.0
    """keepaliveTimeout announced in SETUP: the server may drop a client silent this long; a
    KEEPALIVE goes out every half of it (or of the server's acceptKeepaliveTimeout, if smaller)."""
    connect_timeout_s: Positive = 10.0
    """How long opening the socket and the SETUP / AUTH exchange may take."""
    aggregation_period_s: NotNegative = 0.1
    """acceptAggregationPeriod asked in FEED_SETUP (0: as unaggregated as the server allows)."""
    reconnect_delay_s: Positive = 0.5
    """The first wait before a lost feed is opened again (doubling up to ``reconnect_max_s``)."""
    reconnect_max_s: Positive = 30.0
    """The longest wait between attempts to open a lost feed again."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(
                f"{value!r} is not a WebSocket URL (wss://host/path, e.g. wss://demo.dxfeed.com/dxlink-ws)"
            )
        return value

    @field_validator("symbols", mode="before")
    @classmethod
    def _symbols(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValueError(f"must map copytui symbols to dxFeed symbols ({{ES: /ESZ26:XCME}}), got {value!r}")
        return {str(root): check_override(str(root), symbol) for root, symbol in value.items()}


def parse_options(name: str, options: Mapping[str, Any] | None) -> DxFeedOptions:
    """The source's options, or ValueError with one line naming the source and the key."""
    try:
        return DxFeedOptions.model_validate(dict(options or {}))
    except ValidationError as exc:
        required = {"url": "the dxLink WebSocket URL, e.g. url: wss://demo.dxfeed.com/dxlink-ws"}
        raise ValueError(f"market data {name}: {option_problem(exc, DxFeedOptions, 'dxFeed', required)}") from None
