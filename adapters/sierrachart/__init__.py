"""Sierra Chart: the adapter over its DTC protocol server (JSON encoding), and a simulator that speaks it.

Account config (the password, when the DTC server asks for one, lives in the keyring)::

    - name: sc1
      broker: sierrachart
      host: 127.0.0.1            # the machine Sierra Chart runs on (default 127.0.0.1)
      port: 11099                # SC Server Settings >> DTC Protocol Server >> Listening Port
      account_id: Sim1           # the trade account; optional when the server has only one
      username: trader           # only when the DTC server asks for a login
      options: {contracts: "ES=ESZ25_FUT_CME, MES=MESZ25_FUT_CME"}

The options are :class:`adapters.sierrachart.options.SierraChartOptions`.
"""

from __future__ import annotations

from typing import Any

from adapters.base import AdapterContext
from adapters.sierrachart.client import SierraChartAdapter
from adapters.sierrachart.options import DEFAULT_PORT, SierraChartOptions, parse_options

__all__ = ["SierraChartAdapter", "SierraChartOptions", "create_adapter"]


def create_adapter(account: Any, ctx: AdapterContext) -> SierraChartAdapter:
    """Entry point of the ``copytui.adapters`` group for broker ``sierrachart``."""
    opts = parse_options(account)
    name = account.name
    return SierraChartAdapter(
        name,
        host=account.host or "127.0.0.1",
        port=account.port or DEFAULT_PORT,
        trade_account=str(account.account_id) if account.account_id else None,
        username=account.username,
        # read at each logon, never kept; a shared context answers NAME:FIELD, a per-account one FIELD
        password=lambda: ctx.secret(f"{name}:password") or ctx.secret("password"),
        options=opts,
        data_dir=ctx.data_dir,
    )
