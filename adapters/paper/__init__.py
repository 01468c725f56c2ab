"""The paper exchange and its in-process adapter."""

from __future__ import annotations

from typing import Any

from adapters.base import AdapterContext, BrokerAdapter
from adapters.paper.adapter import PaperAdapter
from adapters.paper.exchange import Faults, PaperExchange

__all__ = ["Faults", "PaperAdapter", "PaperExchange", "create_adapter"]


def create_adapter(account: Any, ctx: AdapterContext) -> BrokerAdapter:
    """Entry point of the ``copytui.adapters`` group for broker ``paper``."""
    if ctx.paper_exchange is None:
        ctx.paper_exchange = PaperExchange()
    exchange: PaperExchange = ctx.paper_exchange
    faults = Faults(**account.faults.model_dump()) if getattr(account, "faults", None) else None
    acct_id = account.account_id or account.name
    exchange.account(acct_id, faults=faults)
    return PaperAdapter(exchange, acct_id)
