"""What every standalone simulator does after it printed how to reach it: walk the paper prices
every ``tick_s`` until Ctrl-C (or SIGTERM), then stop the walk."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from adapters.paper.exchange import PaperExchange


async def walk_until_stopped(exchange: PaperExchange, tick_s: float, name: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)

    async def walk() -> None:
        while True:
            await asyncio.sleep(tick_s)
            exchange.step()

    walker = loop.create_task(walk(), name=f"{name}-price-walk")
    try:
        await stop.wait()
    finally:
        walker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await walker
