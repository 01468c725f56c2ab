"""Rithmic (R|Protocol over WebSocket and protobuf): the adapter and its loopback simulator.

Account config (the password lives in the keyring: ``copytui accounts add NAME --broker rithmic``)::

    - name: apex1
      broker: rithmic
      environment: live             # live | demo (Rithmic's test gateway) | sim
      username: APEX-12345          # the Rithmic user id your firm gave you
      account_id: APEX-12345-01     # the account under that user (optional when it has one)
      options: {system_name: Apex, gateway: "wss://HOST:443"}

The options are :class:`adapters.rithmic.options.RithmicOptions`: ``system_name``, ``gateway``,
``app_name``, ``app_version``, ``ca_file``, ``contracts`` ("ES=ESZ5, ..." instead of the ticker
plant's front month), ``trade_route``, ``timeout_s``, ``order_timeout_s``, ``reconnect_delay_s``,
``forced_logout_wait_s``, ``lookback_h``, ``native_oco`` (a mirrored bracket's legs linked at
Rithmic: see :mod:`adapters.rithmic.oco_links`). Every account of one user at one gateway and system
shares one Rithmic session (see :mod:`adapters.rithmic.session`).
"""

from __future__ import annotations

from typing import Any

from adapters.base import AdapterContext, BrokerAdapter
from adapters.rithmic.client import RithmicAdapter
from adapters.rithmic.options import RithmicOptions, gateway_of, parse_options
from adapters.rithmic.plant import Login
from adapters.rithmic.session import ssl_context

__all__ = ["RithmicAdapter", "RithmicOptions", "create_adapter"]


def create_adapter(account: Any, ctx: AdapterContext) -> BrokerAdapter:
    """Entry point of the ``copytui.adapters`` group for broker ``rithmic``."""
    where = f"account {account.name}"
    opts = parse_options(account)
    if not account.username:
        raise ValueError(f"{where}: Rithmic needs username: the Rithmic user id (as R|Trader's login asks it)")
    url, system = gateway_of(account, opts)
    login = Login(
        url=url,
        user=account.username,
        # read at each login, never kept; a shared context answers NAME:FIELD, a per-account one FIELD
        password=lambda: ctx.secret(f"{account.name}:password") or ctx.secret("password"),
        system_name=system,
        app_name=opts.app_name,
        app_version=opts.app_version,
        ssl_context=ssl_context(opts.ca_file) if url.startswith("wss://") else None,
        timeout_s=opts.timeout_s,
    )
    return RithmicAdapter(account.name, login=login, account_id=account.account_id or None, options=opts)
