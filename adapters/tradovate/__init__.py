"""Tradovate: the adapter over its REST + WebSocket API, and a simulator that speaks the same protocol.

Entry point of the ``copytui.adapters`` group for broker ``tradovate``. Config and secrets are
described in :mod:`adapters.tradovate.settings`; the README has the section "Tradovate".
"""

from __future__ import annotations

from typing import Any

from adapters.base import AdapterContext
from adapters.tradovate.client import TradovateAdapter
from adapters.tradovate.settings import ConfigProblem, Settings, settings_from

__all__ = ["ConfigProblem", "Settings", "TradovateAdapter", "create_adapter"]


def create_adapter(account: Any, ctx: AdapterContext) -> TradovateAdapter:
    """Build the adapter for one account. ``host: embedded`` starts an in-process simulator over
    the shared paper exchange on first connect (the demo's way to run the real adapter)."""
    settings = settings_from(account, ctx.secret)
    if not settings.embedded:
        return TradovateAdapter(settings)
    # imported here, not above: a live adapter never loads the simulator or the paper exchange
    from adapters.tradovate.embedded import embedded_sim

    return TradovateAdapter(settings, embedded=embedded_sim(account, settings, ctx))
