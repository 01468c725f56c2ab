"""From an AccountConfig to what the Tradovate adapter needs, with one-line errors for bad input.

Config fields: ``environment`` demo | live | sim, ``username`` (the Tradovate login), ``account_id``
(the account's name such as ``DEMO123456``, or its numeric id; optional when the login has one
account), ``host`` / ``port`` (a simulator: ``127.0.0.1`` and its port, or ``host: embedded`` for an
in-process simulator over the paper exchange) and ``options`` (see :class:`TradovateOptions`).
Secrets, from the OS keyring through ``AdapterContext.secret``: ``<account name>:password`` and
``<account name>:sec`` (the API secret).
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from adapters.base import BrokerError
from copytui import __version__ as copytui_version
from copytui.instruments import INSTRUMENTS

SIM_PASSWORD = "demo"  # noqa: S105 - the simulator's published demo login, not a secret
SIM_SEC = "demo"
EMBEDDED = "embedded"
HOSTS = {"demo": "demo.tradovateapi.com", "live": "live.tradovateapi.com"}


class ConfigProblem(BrokerError):
    """The account's config cannot work with Tradovate: says which key and how to fix it."""


RENAMED = {
    "appId": "app_id",
    "appVersion": "app_version",
    "deviceId": "device_id",
    "orderTransport": "order_transport",
    "syncRequest": "sync_request",
    "requestTimeoutS": "request_timeout_s",
    "reconnectWaitS": "reconnect_wait_s",
    "rateLimitWaitS": "rate_limit_wait_s",
    "penaltyWaitMaxS": "penalty_wait_max_s",
    "heartbeatS": "heartbeat_s",
    "idleTimeoutS": "idle_timeout_s",
    "renewMarginS": "renew_margin_s",
}
"""Option keys of earlier copytui versions (camelCase) and their names now: refused with the new name."""


def _flag(value: Any) -> Any:
    # said here rather than by pydantic: "yes", 1 or "maybe" for a switch that changes who keeps a stop is refused
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


Flag = Annotated[bool, BeforeValidator(_flag)]


class TradovateOptions(BaseModel):
    """``options:`` of a Tradovate account (all optional; unknown keys are refused)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    app_id: str = "copytui"
    """The API application name registered with Tradovate."""
    app_version: str = copytui_version
    """The application version sent with each login."""
    cid: int = 0
    """The API key id (client id); its secret is the keyring field ``sec``."""
    device_id: str | None = None
    """Stable device id; default derived from this host and the username."""
    order_transport: Literal["ws", "rest"] = "ws"
    """Send orders over the account WebSocket (default, fastest) or REST."""
    sync_request: Literal["users", "accounts"] = "users"
    """user/syncrequest form: {users:[id]} or {splitResponses, accounts, entityTypes}."""
    contracts: str = ""
    """Pin contracts per symbol, e.g. "ES=ESZ5,NQ=NQZ5"; default: contract/suggest picks the front one."""
    request_timeout_s: float = Field(default=3.0, gt=0, le=60)
    """How long a request waits for its answer before its outcome is called ambiguous."""
    reconnect_wait_s: float = Field(default=4.0, gt=0, le=60)
    """How long an order waits for a dropped stream to come back before it is given up as not sent."""
    rate_limit_wait_s: float = Field(default=3.0, ge=0, le=600)
    """How long an order may wait out 429 answers before it is given up as RateLimited."""
    penalty_wait_max_s: float = Field(default=60.0, ge=0, le=3600)
    """Longest p-time penalty waited out (login and orders)."""
    heartbeat_s: float = Field(default=2.5, gt=0, le=60)
    """How often the ``[]`` heartbeat goes out on the WebSocket."""
    idle_timeout_s: float = Field(default=10.0, gt=0, le=300)
    """No frame at all (not even a server heartbeat) for this long: the socket is dead."""
    renew_margin_s: float | None = Field(default=None, ge=0)
    """Renew the token this long before expiry (default 15 min, or a quarter of a short token's life)."""
    native_oco: Flag = False
    """Mirror mode: send a copied bracket's two legs as one ``/order/placeOCO``, so Tradovate cancels
    the other leg the instant one fills. Off by default: Tradovate does not say what its OCO does to
    the other leg when one is *cancelled* (a leader cancelling only its target could cost the
    follower its stop), nor whether a partial fill shrinks it. Off, copytui keeps the OCO itself."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_old_names(cls, data: Any) -> Any:
        # an old key would otherwise be "extra inputs are not permitted": say what it is called now
        if isinstance(data, dict):
            for old, new in RENAMED.items():
                if old in data:
                    raise ValueError(f"options.{old} is now {new}: rename it in your config")
        return data

    def contract_pins(self) -> dict[str, str]:
        pins: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in self.contracts.split(","))):
            root, sep, name = part.partition("=")
            root, name = root.strip(), name.strip()
            if not sep or root not in INSTRUMENTS or not name:
                raise ConfigProblem(
                    f"options.contracts: {part!r} must look like ES=ESZ5 with a known symbol "
                    f"({', '.join(sorted(INSTRUMENTS))})"
                )
            pins[root] = name
        return pins


@dataclass(frozen=True)
class Settings:
    alias: str
    """The account's name in copytui (keyring key prefix)."""
    label: str
    """What AccountEvents carry as ``account``: the configured account id, else the alias."""
    environment: str
    username: str
    account_spec: str | None
    rest_url: str
    ws_url: str
    embedded: bool
    options: TradovateOptions
    secret: Callable[[str], str | None]


def urls(environment: str, host: str | None, port: int | None) -> tuple[str, str]:
    if environment == "sim":
        if not port:
            raise ConfigProblem(
                "tradovate environment 'sim' needs port: the simulator's port (see `copytui sim tradovate`), "
                "or host: embedded"
            )
        h = host or "127.0.0.1"
        return f"http://{h}:{port}/v1", f"ws://{h}:{port}/v1/websocket"
    h = host or HOSTS[environment]
    hp = f"{h}:{port}" if port else h
    return f"https://{hp}/v1", f"wss://{hp}/v1/websocket"


def settings_from(account: Any, secret: Callable[[str], str | None]) -> Settings:
    name = account.name
    try:
        opts = TradovateOptions.model_validate(dict(account.options or {}))
    except ValidationError as exc:
        err = exc.errors()[0]
        if not err["loc"]:  # refused as a whole (an old key's name): the message says it all
            raise ConfigProblem(f"account {name}: {err.get('ctx', {}).get('error', err['msg'])}") from None
        key = ".".join(str(p) for p in err["loc"])
        known = ", ".join(TradovateOptions.model_fields)
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise ConfigProblem(f"account {name}: options.{key}: {msg} (tradovate options: {known})") from None
    opts.contract_pins()
    embedded = account.host == EMBEDDED
    environment = "sim" if embedded else account.environment
    if environment not in ("demo", "live", "sim"):
        raise ConfigProblem(f"account {name}: environment must be demo, live or sim, got {environment!r}")
    username = account.username
    if not username:
        if environment != "sim":
            raise ConfigProblem(f"account {name}: tradovate needs username: your Tradovate login name")
        username = name
    if embedded:
        rest_url = ws_url = ""  # known once the embedded simulator listens
    else:
        rest_url, ws_url = urls(environment, account.host, account.port)

    def lookup(field: str) -> str | None:
        if embedded:  # the in-process simulator of the demo: its published demo login, no keyring
            return SIM_PASSWORD if field == "password" else SIM_SEC if field == "sec" else None
        value = secret(f"{name}:{field}")
        if not value and environment == "sim":
            return SIM_PASSWORD if field == "password" else SIM_SEC if field == "sec" else None
        return value

    if not opts.device_id:
        opts = opts.model_copy(
            update={"device_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"copytui:{socket.gethostname()}:{username}"))}
        )
    return Settings(
        alias=name,
        label=account.account_id or name,
        environment=environment,
        username=username,
        account_spec=account.account_id,
        rest_url=rest_url,
        ws_url=ws_url,
        embedded=embedded,
        options=opts,
        secret=lookup,
    )
