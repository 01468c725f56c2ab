"""``host: embedded``: a Tradovate simulator started in this process over the shared paper exchange,
so the demo (and any dry run) drives the real Tradovate adapter over real loopback sockets.

One simulator per paper exchange and event loop, started by the first adapter that connects and
stopped when the last one disconnects. Only the factory imports this module, and only for an
embedded account: the live adapter never loads the simulator.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from typing import Any

from adapters.base import AdapterContext
from adapters.simkit import Faults, PaperExchange
from adapters.tradovate.settings import Settings
from adapters.tradovate.simulator import TradovateSimulator


@dataclass
class _Running:
    sim: TradovateSimulator
    loop: asyncio.AbstractEventLoop
    refs: int = 0


_RUNNING: weakref.WeakKeyDictionary[PaperExchange, _Running] = weakref.WeakKeyDictionary()
_LOCK: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


class EmbeddedSim:
    """One adapter's handle on the shared in-process simulator (an ``EmbeddedServer`` of the client)."""

    def __init__(self, exchange: PaperExchange, account: str, username: str) -> None:
        self.exchange = exchange
        self.account = account
        self.username = username
        self.held = False

    async def acquire(self) -> tuple[str, str]:
        loop = asyncio.get_running_loop()
        lock = _LOCK.setdefault(loop, asyncio.Lock())
        async with lock:
            running = _RUNNING.get(self.exchange)
            if running is None or running.loop is not loop:
                sim = TradovateSimulator(self.exchange)
                await sim.start("127.0.0.1", 0)
                running = _RUNNING[self.exchange] = _Running(sim, loop)
            running.sim.add_account(self.account, username=self.username)
            if not self.held:
                running.refs += 1
                self.held = True
            return running.sim.url, running.sim.ws_url

    async def release(self) -> None:
        if not self.held:
            return
        self.held = False
        running = _RUNNING.get(self.exchange)
        if running is None:
            return
        running.refs -= 1
        if running.refs <= 0:
            _RUNNING.pop(self.exchange, None)
            await running.sim.stop()


def embedded_sim(account: Any, settings: Settings, ctx: AdapterContext) -> EmbeddedSim:
    """The handle of one ``host: embedded`` account, its paper account opened on ``ctx.paper_exchange``
    (made here when the runtime has none) with the account's ``faults``."""
    if ctx.paper_exchange is None:
        ctx.paper_exchange = PaperExchange()
    exchange: PaperExchange = ctx.paper_exchange
    faults = Faults(**account.faults.model_dump()) if getattr(account, "faults", None) else None
    exchange.account(settings.label, faults=faults)
    return EmbeddedSim(exchange, settings.label, settings.username)


def simulator_for(exchange: PaperExchange) -> TradovateSimulator | None:
    """The embedded simulator serving ``exchange`` (tests and the desk use it for fault switches)."""
    running = _RUNNING.get(exchange)
    return running.sim if running else None
