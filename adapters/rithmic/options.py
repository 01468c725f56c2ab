"""The ``options:`` of a Rithmic account and where its gateway is.

:class:`RithmicOptions` is what ``adapters.rithmic.spec`` declares: snake_case keys, unknown keys
refused with the list of the known ones. :func:`gateway_of` picks the WebSocket URL: the simulator
(``environment: sim`` with host and port, plain ``ws://``), ``options.gateway``, an explicit host,
or for ``demo`` Rithmic's public test gateway.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator

from adapters.kit.options import read_options
from adapters.rithmic.contracts import Contract, ContractError, parse_overrides
from copytui import __version__

TEST_GATEWAY = "wss://rituz00100.rithmic.com:443"
"""Rithmic's test gateway (system "Rithmic Test"), the one public URL; production URLs come from
Rithmic once an application passes their conformance test, or from the prop firm."""
TEST_SYSTEM = "Rithmic Test"
SIM_SYSTEM = "Rithmic Test"


def _positive(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"must be a positive number, got {value!r}")
    return float(value)


Positive = Annotated[float, BeforeValidator(_positive)]


class RithmicOptions(BaseModel):
    """``options:`` of a Rithmic account (all optional except where the environment needs them)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    system_name: str | None = None
    """The Rithmic system to log into, as your firm names it: "Apex", "TopstepTrader", "Bulenox",
    "Rithmic Paper Trading", "Rithmic 01"... (demo default "Rithmic Test")."""
    gateway: str | None = None
    """The R|Protocol gateway URL, e.g. wss://host:443 (from Rithmic or your firm)."""
    app_name: str = "copytui"
    """The application name sent at login (Rithmic may ask for the name it approved)."""
    app_version: str = __version__
    """The application version sent at login."""
    ca_file: str | None = None
    """A CA bundle for the gateway's TLS certificate (default: the system's trusted CAs)."""
    contracts: str | None = None
    """Contracts per symbol ("ES=ESZ5, CL=CLF6") instead of asking the ticker plant for the front month."""
    trade_route: str | None = None
    """The trade route orders go by (default: the route Rithmic marks default for the exchange)."""
    timeout_s: Positive = 5.0
    """How long a request (login, a read) may take."""
    order_timeout_s: Positive = 5.0
    """How long an order request may wait for its answer before its outcome is ambiguous."""
    reconnect_delay_s: Positive = 0.5
    """The first wait before a lost session is opened again (doubling, at most 10 s)."""
    forced_logout_wait_s: Positive = 30.0
    """After a ForcedLogout: wait this long, log in once more; a second one within 10 minutes stops."""
    lookback_h: Positive = 24.0
    """How far back executions are replayed (fills_since from the start, find_order)."""
    native_oco: bool = False
    """Mirror mode: link a copied bracket's legs at Rithmic (RequestLinkOrders, once both are
    working), so Rithmic cancels the other leg when one fills, without waiting for copytui. Off by
    default: Rithmic does not say publicly what a link does to the other leg when one is
    *cancelled* (a leader cancelling only its target could leave the follower without its stop),
    nor whether it shrinks the other leg on a partial fill. Off, copytui keeps the OCO itself."""

    @field_validator("contracts")
    @classmethod
    def _contracts_parse(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_overrides(value)
            except ContractError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("gateway")
    @classmethod
    def _gateway_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        url = value if "://" in value else f"wss://{value}"
        if not url.startswith(("wss://", "ws://")):
            raise ValueError(f"must be a wss:// URL (or host:port), got {value!r}")
        return url

    def contract_overrides(self) -> dict[str, Contract]:
        return parse_overrides(self.contracts) if self.contracts else {}


def parse_options(account: Any) -> RithmicOptions:
    """The account's options, or ValueError with one line naming the account and the key."""
    return read_options(RithmicOptions, account, "Rithmic")


def gateway_of(account: Any, opts: RithmicOptions) -> tuple[str, str]:
    """(WebSocket URL, system name) of an account config, or ValueError naming what to set."""
    where = f"account {account.name}"
    if account.environment == "sim":
        if not account.host or not account.port:
            raise ValueError(f"{where}: environment sim needs host and port of `copytui sim rithmic --port PORT`")
        return f"ws://{account.host}:{account.port}", opts.system_name or SIM_SYSTEM
    if account.host:
        url = f"wss://{account.host}:{account.port or 443}"
    elif opts.gateway is not None:
        url = opts.gateway
    elif account.environment == "demo":
        url = TEST_GATEWAY
    else:
        raise ValueError(
            f"{where}: live Rithmic needs options.gateway: the R|Protocol URL Rithmic or your firm gave you "
            "(Rithmic hands out production URLs after its conformance test)"
        )
    system = opts.system_name or (TEST_SYSTEM if url == TEST_GATEWAY else None)
    if system is None:
        raise ValueError(
            f'{where}: set options.system_name to your firm\'s Rithmic system ("Apex", "TopstepTrader", '
            '"Bulenox", "Rithmic Paper Trading", "Rithmic 01"...): the name R|Trader shows at login'
        )
    return url, system
