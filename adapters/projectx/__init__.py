"""ProjectX Gateway (TopstepX and other prop firms): the adapter and its loopback simulator.

Account config (secrets never here: the API key lives in the keyring)::

    - name: topstep1
      broker: projectx
      environment: demo          # demo | live | sim
      username: jane             # the ProjectX user the API key belongs to
      account_id: "465"          # the numeric account id, or the account's name
      options: {firm: topstepx}  # live: which firm's gateway; or api_url / hub_url

The options are :class:`adapters.projectx.options.ProjectXOptions`: ``api_url``, ``hub_url``,
``firm`` (topstepx), ``negotiate`` (SignalR negotiate before the WebSocket; the gateway's own
example skips it), ``contracts`` ("MES=CON.F.US.MES.H25, ..." instead of asking Contract/search),
``requests_per_minute`` (200), ``order_timeout_s`` (5), ``order_max_wait_s`` (0.5: how long an
order may wait for the request budget), ``timeout_s``, ``ping_interval_s``, ``server_timeout_s``,
``session_hours`` (24: the session's life when it cannot be read from the token),
``reconnect_delay_s``, ``lookback_h``.
"""

from __future__ import annotations

from typing import Any

from adapters.base import AdapterContext, BrokerAdapter
from adapters.projectx.client import ProjectXAdapter
from adapters.projectx.options import ProjectXOptions, endpoints, parse_options
from adapters.projectx.ratelimit import TokenBucket

__all__ = ["ProjectXAdapter", "ProjectXOptions", "create_adapter", "endpoints"]

# The gateway counts requests per user, and prop traders often run several accounts under one
# login: every adapter of one user on one gateway draws from the same bucket.
_BUCKETS: dict[tuple[str, str], TokenBucket] = {}


def shared_bucket(api_url: str, username: str, per_minute: int) -> TokenBucket:
    key = (api_url, username)
    bucket = _BUCKETS.get(key)
    if bucket is None or bucket.capacity != per_minute:
        bucket = _BUCKETS[key] = TokenBucket(per_minute, 60.0)
    return bucket


def create_adapter(account: Any, ctx: AdapterContext) -> BrokerAdapter:
    """Entry point of the ``copytui.adapters`` group for broker ``projectx``."""
    where = f"account {account.name}"
    opts = parse_options(account)
    if not account.username:
        raise ValueError(f"{where}: ProjectX needs username: the user name the API key belongs to")
    if not account.account_id:
        raise ValueError(f"{where}: set account_id to the ProjectX account id (a number) or the account's name")
    api_url, hub_url = endpoints(account, opts)
    acct_id = int(account.account_id) if str(account.account_id).isdigit() else None
    return ProjectXAdapter(
        account.name,
        api_url=api_url,
        hub_url=hub_url,
        username=account.username,
        # read at each login, never kept; a shared context answers NAME:FIELD, a per-account one FIELD
        api_key=lambda: ctx.secret(f"{account.name}:api_key") or ctx.secret("api_key"),
        account_id=acct_id,
        account_name=None if acct_id is not None else str(account.account_id),
        options=opts,
        budget=shared_bucket(api_url, account.username, opts.requests_per_minute),
    )
