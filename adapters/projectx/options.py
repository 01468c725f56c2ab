"""The ``options:`` of a ProjectX account, checked once when the adapter is made.

:class:`ProjectXOptions` is what ``adapters.projectx.spec`` declares: snake_case keys, unknown
keys refused with the list of the known ones, every number positive. :func:`endpoints` says where
the account's gateway is: the simulator (host and port), the firm's gateway, or explicit URLs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator, model_validator

from adapters.kit.options import read_options
from adapters.projectx.contracts import ContractError, parse_overrides

DEMO = ("https://gateway-api-demo.s2f.projectx.com", "https://gateway-rtc-demo.s2f.projectx.com/hubs/user")
FIRMS = {"topstepx": ("https://api.topstepx.com", "https://rtc.topstepx.com/hubs/user")}


def _positive(value: Any) -> Any:
    # said here rather than by pydantic so that a bool (YAML `yes`) is refused as a number too
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"must be a positive number, got {value!r}")
    return float(value)


def _positive_count(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1 or value != int(value):
        raise ValueError(f"must be a positive whole number, got {value!r}")
    return int(value)


def _flag(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


Positive = Annotated[float, BeforeValidator(_positive)]
Count = Annotated[int, BeforeValidator(_positive_count)]
Flag = Annotated[bool, BeforeValidator(_flag)]


class ProjectXOptions(BaseModel):
    """``options:`` of a ProjectX account (all optional; unknown keys are refused)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    api_url: str | None = None
    """The gateway's REST base URL, from the firm's API page (with ``hub_url``)."""
    hub_url: str | None = None
    """The gateway's user hub URL (with ``api_url``)."""
    firm: str | None = None
    """Live accounts: whose gateway (topstepx), when ``api_url`` and ``hub_url`` are not given."""
    negotiate: Flag = False
    """SignalR negotiate before the WebSocket; the gateway's own example skips it."""
    contracts: str | None = None
    """Contracts per symbol ("MES=CON.F.US.MES.H25, ...") instead of asking Contract/search."""
    requests_per_minute: Count = 200
    """The gateway's request budget per user, shared by every account of that user."""
    timeout_s: Positive = 5.0
    """How long a read may take."""
    order_timeout_s: Positive = 5.0
    """How long an order request may take before its outcome is ambiguous (asked by customTag)."""
    order_max_wait_s: Positive = 0.5
    """How long an order may wait for the request budget before it is given up as not sent."""
    ping_interval_s: Positive = 15.0
    """Keepalive pings on the user hub."""
    server_timeout_s: Positive = 30.0
    """Nothing from the user hub for this long: the connection is dead."""
    session_hours: Positive = 24.0
    """The session token's life when the token does not say it."""
    reconnect_delay_s: Positive = 0.05
    """The first wait before the user hub is opened again (doubling, at most 5 s)."""
    order_http: Literal["lean", "aiohttp"] = "lean"
    """How order requests go out: ``lean`` (keep-alive connections of their own, one write per
    order, orderline.py) or ``aiohttp`` (the session reads use). Both never resend an order."""
    lookback_h: Positive = 24.0
    """How far back order and trade searches look (find_order, fills_since)."""

    @field_validator("firm")
    @classmethod
    def _known_firm(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.lower() not in FIRMS:
            raise ValueError(
                f"{value!r} is not a firm known here ({', '.join(FIRMS)}); "
                "set api_url and hub_url from the firm's API page instead"
            )
        return value.lower()

    @field_validator("contracts")
    @classmethod
    def _contracts_parse(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_overrides(value)
            except ContractError as exc:  # said without its "options.contracts: ": the caller names the key
                raise ValueError(str(exc).removeprefix("options.contracts: ")) from None
        return value

    @model_validator(mode="after")
    def _urls_together(self) -> ProjectXOptions:
        if (self.api_url is None) != (self.hub_url is None):
            raise ValueError("options.api_url and options.hub_url go together; set both")
        return self

    def contract_overrides(self) -> dict[str, str]:
        return parse_overrides(self.contracts) if self.contracts else {}


def parse_options(account: Any) -> ProjectXOptions:
    """The account's options, or ValueError with one line naming the account and the key."""
    return read_options(ProjectXOptions, account, "ProjectX")


def endpoints(account: Any, opts: ProjectXOptions) -> tuple[str, str]:
    """(REST base URL, user hub URL) for an account config."""
    where = f"account {account.name}"
    if account.host:
        if not account.port:
            raise ValueError(f"{where}: host {account.host} needs a port too (the simulator's --port)")
        base = f"http://{account.host}:{account.port}"
        return base, f"{base}/hubs/user"
    if opts.api_url is not None and opts.hub_url is not None:
        return opts.api_url, opts.hub_url
    if account.environment == "demo":
        return DEMO
    if account.environment == "sim":
        raise ValueError(f"{where}: environment sim needs host and port of `copytui sim projectx --port PORT`")
    if opts.firm is not None:
        return FIRMS[opts.firm]
    raise ValueError(
        f"{where}: live ProjectX needs your firm's gateway: options.firm ({', '.join(FIRMS)}) "
        "or options.api_url and options.hub_url from the firm's API page"
    )
