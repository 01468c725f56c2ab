"""Invariant 11 after a reconnect, over real sockets: a fill made while the ProjectX user hub was
away (read back by the resync's Trade/search) reaches the stream before a live fill that the new
hub connection delivers while that search is still running."""

from __future__ import annotations

import asyncio

from copytui.models import EventKind
from tests.adapters.px_support import order, px_session, until


async def test_after_a_reconnect_missed_fills_come_before_live_ones() -> None:
    async with px_session() as (_x, sim, a, c):
        sim.trade_search_stall_s = 0.8  # a slow gateway: the resync's read takes a while
        assert sim.drop_hub() == 1
        await a.place(order("missed"))  # filled while the hub is away: only Trade/search can tell
        await until(lambda: sim.hub.connects >= 2, what="the hub connection coming back")
        await asyncio.sleep(0.2)  # subscribed again; the resync's Trade/search is stalled
        await a.place(order("live"))  # its events come over the new hub connection at once
        await c.wait(lambda _: c.filled("missed") == 1 and c.filled("live") == 1, timeout=10)
        fills = [e.client_order_id for e in c.kinds(EventKind.FILL)]
        assert fills == ["missed", "live"]  # each once, in the broker's order
