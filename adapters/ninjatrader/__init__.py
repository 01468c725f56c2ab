"""NinjaTrader 8 through ATI's order instruction files: the adapter and a NinjaTrader stand-in.

Account config (no secret: ATI has no login; whoever can write the folder can trade)::

    - name: nt1
      broker: ninjatrader
      account_id: Sim101                 # the NinjaTrader account's name, as its Accounts tab shows it
      options: {folder: /mnt/nt8}        # NinjaTrader 8's documents folder (incoming/, outgoing/)

The options are :class:`adapters.ninjatrader.options.NinjaTraderOptions`: ``folder`` (required),
``instruments`` ("ES=ES 12-26, ..." instead of the roll rule), ``connection`` (the connection
whose file tells health), ``stop_market_type`` (STOPMARKET or STOP), ``flatten_everything``,
``pickup_timeout_s``, ``settle_s``, ``watch`` (auto, inotify, poll), ``poll_interval_s``.
"""

from __future__ import annotations

import re
from typing import Any

from adapters.base import AdapterContext, BrokerAdapter
from adapters.ninjatrader.client import NinjaTraderAdapter
from adapters.ninjatrader.options import NinjaTraderOptions, parse_options

__all__ = ["NinjaTraderAdapter", "NinjaTraderOptions", "create_adapter"]

_ACCOUNT = re.compile(r"^[^;\r\n]{1,100}$")


def create_adapter(account: Any, ctx: AdapterContext) -> BrokerAdapter:
    """Entry point of the ``copytui.adapters`` group for broker ``ninjatrader``."""
    where = f"account {account.name}"
    opts = parse_options(account)
    if not account.account_id:
        raise ValueError(f"{where}: set account_id to the NinjaTrader account's name (e.g. Sim101)")
    if not _ACCOUNT.match(str(account.account_id)):
        raise ValueError(f"{where}: account_id {account.account_id!r} cannot go into an ATI line (no ';')")
    if account.host or account.port:
        raise ValueError(
            f"{where}: NinjaTrader is reached through its folder, not a host and port: "
            "remove host/port and set options.folder"
        )
    return NinjaTraderAdapter(account.name, nt_account=str(account.account_id), options=opts, data_dir=ctx.data_dir)
