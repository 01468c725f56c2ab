"""The ``options:`` of a Tradovate market-data source (:mod:`adapters.tradovate.marketdata`), and
where its md WebSocket is."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from adapters.base import BrokerError
from adapters.tradovate.settings import TradovateOptions
from copytui import __version__ as copytui_version

MD_URLS = {"live": "wss://md.tradovateapi.com/v1/websocket", "demo": "wss://md-demo.tradovateapi.com/v1/websocket"}
"""Tradovate's md hosts (live from its WebSocket guide; demo from public clients: unverified)."""


class TradovateMdOptions(BaseModel):
    """``options:`` of a Tradovate market-data source (the password and API secret live in the keyring)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    username: str = Field(min_length=1)
    """The Tradovate login name."""
    environment: Literal["demo", "live", "sim"] = "demo"
    """Which Tradovate: demo, live, or sim (a simulator: give rest_url and md_url)."""
    rest_url: str | None = None
    """REST base for the login and contract lookups (default: the environment's, .../v1)."""
    md_url: str | None = None
    """The md WebSocket (default: the environment's md host)."""
    app_id: str = "copytui"
    """The API application name registered with Tradovate."""
    app_version: str = copytui_version
    """The application version sent with each login."""
    cid: int = 0
    """The API key id; its secret is the keyring field ``sec``."""
    device_id: str | None = None
    """Stable device id; default derived from this host and the username."""
    contracts: str = ""
    """Pin contracts per symbol ("ES=ESZ6,NQ=NQZ6"); default: the front one contract/suggest offers."""
    stale_after_ms: float = Field(default=5000.0, gt=0)
    """A quote older than this is shown as stale, never as the market of the moment."""
    heartbeat_s: float = Field(default=2.5, gt=0, le=60)
    """How often ``[]`` goes out on the md socket (Tradovate asks for one every 2.5 s)."""
    idle_timeout_s: float = Field(default=10.0, gt=0, le=300)
    """Nothing from the md socket for this long (quotes or ``h``): it is dead and opened again."""
    connect_timeout_s: float = Field(default=10.0, gt=0)
    """How long opening the md socket and its authorize may take."""
    request_timeout_s: float = Field(default=5.0, gt=0, le=60)
    """How long the login and a contract lookup may take."""
    reconnect_delay_s: float = Field(default=0.5, gt=0)
    """The first wait before a lost md socket is opened again (doubling up to ``reconnect_max_s``)."""
    reconnect_max_s: float = Field(default=30.0, gt=0)
    """The longest wait between attempts to open a lost md socket again."""
    penalty_wait_max_s: float = Field(default=60.0, ge=0, le=3600)
    """Longest p-time login penalty waited out."""

    @model_validator(mode="after")
    def _urls(self) -> TradovateMdOptions:
        if self.environment == "sim" and not (self.rest_url and self.md_url):
            raise ValueError("environment sim needs rest_url and md_url: the simulator prints both")
        for key, value, schemes in (
            ("rest_url", self.rest_url, ("http", "https")),
            ("md_url", self.md_url, ("ws", "wss")),
        ):
            if value is not None and value.partition("://")[0] not in schemes:
                raise ValueError(f"{key} {value!r} must start with {' or '.join(s + '://' for s in schemes)}")
        try:
            TradovateOptions(contracts=self.contracts).contract_pins()
        except BrokerError as exc:  # the broker's own reading of the pins, said as a refusal
            raise ValueError(str(exc)) from None
        return self
