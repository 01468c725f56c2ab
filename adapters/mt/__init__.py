"""MetaTrader 4 / 5 through a bridge: copytui listens, the copytui EA in the terminal dials it.

Account config (the bridge token lives in the keyring, never here)::

    - name: mt1
      broker: mt
      account_id: "5001234"          # the terminal's login
      host: 127.0.0.1                # where copytui listens for the terminal (the EA's BridgeHost)
      port: 5555                     # the EA's BridgePort; accounts on one address share a listener
      options: {symbols: "ES=US500:0.1, NQ=USTEC:0.1"}

The options are :class:`adapters.mt.options.MtOptions`: ``symbols`` (copytui symbol = terminal
symbol : lots per contract), ``server`` (the trade server the terminal must be on),
``connect_timeout_s`` (60), ``request_timeout_s`` and ``order_timeout_s`` (10), ``reconnect_wait_s``
(3), ``heartbeat_s`` (5), ``deviation_points`` (20), ``requote_retries`` (2), ``lookback_h`` (72).
The protocol is in :mod:`adapters.mt.protocol`; the EA's source in ``adapters/mt/mql/``.
"""

from __future__ import annotations

from typing import Any

from adapters.base import AdapterContext
from adapters.mt.client import MtAdapter
from adapters.mt.options import MtOptions, bridge_of, parse_options

__all__ = ["MtAdapter", "MtOptions", "create_adapter"]


def create_adapter(account: Any, ctx: AdapterContext) -> MtAdapter:
    """Entry point of the ``copytui.adapters`` group for broker ``mt``."""
    options = parse_options(account)
    bridge = bridge_of(account)
    # read at each connect, never kept longer than the session needs; a shared context answers NAME:FIELD
    return MtAdapter(
        account.name,
        bridge,
        lambda: ctx.secret(f"{account.name}:token") or ctx.secret("token"),
        options,
    )
