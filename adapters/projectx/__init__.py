"""ProjectX Gateway (TopstepX and other prop firms): the adapter and its loopback simulator.

Account config (secrets never here: the API key lives in the keyring)::

    - name: topstep1
      broker: projectx
      environment: demo          # demo | live | sim
      username: jane             # the ProjectX user the API key belongs to
      account_id: "465"          # the numeric account id, or the account's name
      options: {firm: topstepx}  # live: which firm's gateway; or api_url / hub_url

Options: ``api_url``, ``hub_url``, ``firm`` (topstepx), ``negotiate`` (SignalR negotiate before
the WebSocket; the gateway's own example skips it), ``contracts`` ("MES=CON.F.US.MES.H25, ..."
instead of asking Contract/search), ``requests_per_minute`` (200), ``order_timeout_s`` (5),
``order_max_wait_s`` (0.5: how long an order may wait for the request budget), ``ping_interval_s``,
``server_timeout_s``, ``session_hours`` (24: the session's life when it cannot be read from the
token), ``lookback_h``.
"""

from __future__ import annotations

from typing import Any

from adapters.base import AdapterContext, BrokerAdapter
from adapters.projectx.client import ProjectXAdapter
from adapters.projectx.contracts import ContractError, parse_overrides
from adapters.projectx.ratelimit import TokenBucket

__all__ = ["ProjectXAdapter", "create_adapter", "endpoints"]

DEMO = ("https://gateway-api-demo.s2f.projectx.com", "https://gateway-rtc-demo.s2f.projectx.com/hubs/user")
FIRMS = {"topstepx": ("https://api.topstepx.com", "https://rtc.topstepx.com/hubs/user")}

_OPTIONS = {
    "api_url",
    "hub_url",
    "firm",
    "negotiate",
    "contracts",
    "requests_per_minute",
    "order_timeout_s",
    "order_max_wait_s",
    "timeout_s",
    "ping_interval_s",
    "server_timeout_s",
    "session_hours",
    "reconnect_delay_s",
    "lookback_h",
}


def endpoints(account: Any) -> tuple[str, str]:
    """(REST base URL, user hub URL) for an account config."""
    opts = account.options
    where = f"account {account.name}"
    if account.host:
        if not account.port:
            raise ValueError(f"{where}: host {account.host} needs a port too (the simulator's --port)")
        base = f"http://{account.host}:{account.port}"
        return base, f"{base}/hubs/user"
    if "api_url" in opts or "hub_url" in opts:
        if not ("api_url" in opts and "hub_url" in opts):
            raise ValueError(f"{where}: options.api_url and options.hub_url go together; set both")
        return str(opts["api_url"]), str(opts["hub_url"])
    if account.environment == "demo":
        return DEMO
    if account.environment == "sim":
        raise ValueError(f"{where}: environment sim needs host and port of `copytui sim projectx --port PORT`")
    firm = str(opts.get("firm", "")).lower()
    if firm in FIRMS:
        return FIRMS[firm]
    raise ValueError(
        f"{where}: live ProjectX needs your firm's gateway: options.firm ({', '.join(FIRMS)}) "
        "or options.api_url and options.hub_url from the firm's API page"
    )


# The gateway counts requests per user, and prop traders often run several accounts under one
# login: every adapter of one user on one gateway draws from the same bucket.
_BUCKETS: dict[tuple[str, str], TokenBucket] = {}


def shared_bucket(api_url: str, username: str, per_minute: int) -> TokenBucket:
    key = (api_url, username)
    bucket = _BUCKETS.get(key)
    if bucket is None or bucket.capacity != per_minute:
        bucket = _BUCKETS[key] = TokenBucket(per_minute, 60.0)
    return bucket


def _num(opts: dict[str, Any], key: str, default: float, where: str) -> float:
    value = opts.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{where}: options.{key} must be a positive number, got {value!r}")
    return float(value)


def create_adapter(account: Any, ctx: AdapterContext) -> BrokerAdapter:
    """Entry point of the ``copytui.adapters`` group for broker ``projectx``."""
    where = f"account {account.name}"
    opts = dict(account.options)
    unknown = sorted(set(opts) - _OPTIONS)
    if unknown:
        raise ValueError(
            f"{where}: unknown ProjectX option(s) {', '.join(unknown)}; known: {', '.join(sorted(_OPTIONS))}"
        )
    if not account.username:
        raise ValueError(f"{where}: ProjectX needs username: the user name the API key belongs to")
    if not account.account_id:
        raise ValueError(f"{where}: set account_id to the ProjectX account id (a number) or the account's name")
    api_url, hub_url = endpoints(account)
    acct_id = int(account.account_id) if str(account.account_id).isdigit() else None
    try:
        overrides = parse_overrides(str(opts["contracts"])) if "contracts" in opts else {}
    except ContractError as exc:
        raise ValueError(f"{where}: {exc}") from None
    negotiate = opts.get("negotiate", False)
    if not isinstance(negotiate, bool):
        raise ValueError(f"{where}: options.negotiate must be true or false, got {negotiate!r}")
    return ProjectXAdapter(
        account.name,
        api_url=api_url,
        hub_url=hub_url,
        username=account.username,
        # read at each login, never kept; a shared context answers NAME:FIELD, a per-account one FIELD
        api_key=lambda: ctx.secret(f"{account.name}:api_key") or ctx.secret("api_key"),
        account_id=acct_id,
        account_name=None if acct_id is not None else str(account.account_id),
        negotiate=negotiate,
        contract_overrides=overrides,
        budget=shared_bucket(api_url, account.username, int(_num(opts, "requests_per_minute", 200, where))),
        timeout_s=_num(opts, "timeout_s", 5.0, where),
        order_timeout_s=_num(opts, "order_timeout_s", 5.0, where),
        order_max_wait_s=_num(opts, "order_max_wait_s", 0.5, where),
        token_lifetime_s=_num(opts, "session_hours", 24.0, where) * 3600.0,
        ping_interval_s=_num(opts, "ping_interval_s", 15.0, where),
        server_timeout_s=_num(opts, "server_timeout_s", 30.0, where),
        reconnect_delay_s=_num(opts, "reconnect_delay_s", 0.05, where),
        lookback_h=_num(opts, "lookback_h", 24.0, where),
    )
