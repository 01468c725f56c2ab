"""dxFeed test helpers: the dxLink simulator on a loopback port over a paper exchange, sources made
by the real factory from an options mapping, and a bare dxLink client written from the protocol
notes (a stand-in for any other client) for checking the simulator's refusals."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from adapters.dxfeed import DxLinkSource, create_source
from adapters.dxfeed.simulator import DxLinkSimulator
from adapters.paper.exchange import PaperExchange

TOKEN = "dx-test-token-5d0c91"  # the test feed's token, checked never to leak


@contextlib.asynccontextmanager
async def running_sim(seed: int = 5, **kw: Any) -> AsyncIterator[DxLinkSimulator]:
    sim = DxLinkSimulator(PaperExchange(seed=seed), token=TOKEN, **kw)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


def make_source(url: str, token: str | None = TOKEN, **options: Any) -> DxLinkSource:
    opts = {"url": url, "reconnect_delay_s": 0.5, "connect_timeout_s": 5.0} | options
    return create_source("dx", opts, {"token": token}.get)


@contextlib.asynccontextmanager
async def connected(sim: DxLinkSimulator, *symbols: str, **options: Any) -> AsyncIterator[DxLinkSource]:
    source = make_source(sim.url, **options)
    await source.connect()
    try:
        if symbols:
            await source.subscribe(symbols)
        yield source
    finally:
        await source.disconnect()


async def wait_until(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Poll ``check`` until it is truthy; fail saying ``what`` did not happen (a hang guard, not a speed check)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def messages_of(sim: DxLinkSimulator, kind: str, connection: int | None = None) -> list[dict[str, Any]]:
    return [m for n, m in sim.received if m["type"] == kind and (connection is None or n == connection)]


class RawClient:
    """A dxLink client with no logic of its own: it sends what a test says and reads what comes."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, sim: DxLinkSimulator) -> AsyncIterator[RawClient]:
        async with connect(sim.url, ping_interval=None) as ws:
            yield cls(ws)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        return message

    async def until(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        """The next message of ``kind``, skipping others (KEEPALIVE, SETUP...)."""
        while True:
            message = await self.recv(timeout)
            if message["type"] == kind:
                return message

    async def authorize(self, token: str = TOKEN, keepalive: float = 60) -> None:
        await self.send({"type": "SETUP", "channel": 0, "keepaliveTimeout": keepalive,
                         "acceptKeepaliveTimeout": 60, "version": "0.1-test/1"})  # fmt: skip
        assert (await self.until("AUTH_STATE"))["state"] == "UNAUTHORIZED"
        await self.send({"type": "AUTH", "channel": 0, "token": token})

    async def collect_until(self, kind: str, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Every message up to and including the next one of ``kind``."""
        seen = [await self.recv(timeout)]
        while seen[-1]["type"] != kind:
            seen.append(await self.recv(timeout))
        return seen

    async def closed(self, timeout: float = 5.0) -> bool:
        """True once the server closed the socket (messages before the close are skipped)."""
        with contextlib.suppress(Exception):
            while True:
                await asyncio.wait_for(self.ws.recv(), timeout)
        return self.ws.close_code is not None or self.ws.state.name == "CLOSED"
