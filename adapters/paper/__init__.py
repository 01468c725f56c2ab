"""The paper exchange and its in-process adapter."""

from __future__ import annotations

from typing import Any

from adapters.base import AdapterContext, BrokerAdapter
from adapters.kit.options import read_options
from adapters.paper.adapter import PaperAdapter
from adapters.paper.exchange import Faults, PaperExchange
from adapters.paper.options import PaperOptions

__all__ = ["Faults", "PaperAdapter", "PaperExchange", "create_adapter", "shared_exchange"]


def shared_exchange(ctx: AdapterContext) -> PaperExchange:
    """The process's one paper exchange, made on first use: the paper accounts and the simulators
    a process starts all trade in the same market."""
    if ctx.paper_exchange is None:
        ctx.paper_exchange = PaperExchange()
    exchange = ctx.paper_exchange
    if not isinstance(exchange, PaperExchange):
        raise TypeError(f"AdapterContext.paper_exchange holds a {type(exchange).__name__}, not a PaperExchange")
    return exchange


def create_adapter(account: Any, ctx: AdapterContext) -> BrokerAdapter:
    """Entry point of the ``copytui.adapters`` group for broker ``paper``."""
    exchange = shared_exchange(ctx)
    faults = Faults(**account.faults.model_dump()) if getattr(account, "faults", None) else None
    options = read_options(PaperOptions, account, "paper")
    acct_id = account.account_id or account.name
    exchange.account(acct_id, faults=faults)
    return PaperAdapter(exchange, acct_id, native_oco=options.native_oco)
