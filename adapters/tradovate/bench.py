"""Which transport carries Tradovate orders: the cost of writing one order to each of N followers.

``python -m adapters.tradovate.bench [--followers 20] [--rounds 200]`` starts ``copytui sim
tradovate`` in its own process (so the server does not share this event loop), connects N
follower accounts and, per round, places one market order on every follower at once. It reports
the time from the round's start to the last order written to its socket (OrderAck.sent_ns), p50 and
p99, for: the paper adapter (no wire, the floor), the Tradovate adapter over its WebSocket, the
Tradovate adapter over REST (aiohttp), and a bare httpx REST client doing the same requests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx

from adapters.base import AdapterContext, BrokerAdapter
from adapters.paper import PaperAdapter, PaperExchange
from adapters.tradovate import create_adapter
from copytui.config import AccountConfig
from copytui.models import FollowerOrder, OrderAction, Side

Round = Callable[[int], Awaitable[int]]


def _order(account: str, n: int, tag: str) -> FollowerOrder:
    return FollowerOrder(
        follower=account,
        signal_id=f"bench-{n}",
        client_order_id=f"{tag}{n}x{account}"[-32:],
        action=OrderAction.PLACE,
        symbol="ES",
        side=Side.BUY if n % 2 else Side.SELL,
        qty=1,
    )


@contextlib.asynccontextmanager
async def simulator(accounts: int) -> AsyncIterator[int]:
    """``copytui sim tradovate`` in its own process; yields its port."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "copytui.cli",
        "sim",
        "tradovate",
        "--port",
        "0",
        "--accounts",
        str(accounts),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        m = re.search(r":(\d+)/v1", line)
        if not m:
            raise RuntimeError(f"the simulator did not start: {line!r}")
        yield int(m[1])
    finally:
        proc.terminate()
        await proc.wait()


def _round(adapters: list[BrokerAdapter], tag: str) -> Round:
    """One leader event's worth of orders: all followers at once; the time to the last one written.
    Client ids carry ``tag``: variants share the simulator's accounts, and an adapter refuses to send
    a client id the broker already has (whichever session sent it)."""

    async def run(n: int) -> int:
        t0 = time.perf_counter_ns()
        acks = await asyncio.gather(*(a.place(_order(a.account, n, tag)) for a in adapters))
        if any(a.reason for a in acks):
            raise RuntimeError(f"an order was not placed: {[a.reason for a in acks if a.reason][0]}")
        return max(a.sent_ns for a in acks) - t0

    return run


@contextlib.asynccontextmanager
async def tradovate(port: int, followers: int, transport: str) -> AsyncIterator[Round]:
    adapters = [
        create_adapter(
            AccountConfig(
                name=f"f{i}",
                broker="tradovate",
                environment="sim",
                host="127.0.0.1",
                port=port,
                username=f"trader{i}",
                account_id=f"DEMO{i:04d}",
                options={"order_transport": transport},
            ),
            AdapterContext(),
        )
        for i in range(1, followers + 1)
    ]
    await asyncio.gather(*(a.connect() for a in adapters))
    try:
        yield _round(list(adapters), transport)
    finally:
        await asyncio.gather(*(a.disconnect() for a in adapters))


@contextlib.asynccontextmanager
async def paper(followers: int) -> AsyncIterator[Round]:
    x = PaperExchange(seed=1)
    adapters: list[BrokerAdapter] = [PaperAdapter(x, f"f{i}") for i in range(1, followers + 1)]
    for a in adapters:
        await a.connect()
    yield _round(adapters, "p")


@contextlib.asynccontextmanager
async def bare_httpx(port: int, followers: int) -> AsyncIterator[Round]:
    """The same REST request with httpx, written-time from its trace hook."""
    base = f"http://127.0.0.1:{port}/v1"
    clients, bodies = [], []
    for i in range(1, followers + 1):
        c = httpx.AsyncClient(base_url=base)
        tok = (await c.post("/auth/accesstokenrequest", json={"name": f"trader{i}", "password": "demo"})).json()
        c.headers["Authorization"] = f"Bearer {tok['accessToken']}"
        [acct] = (await c.get("/account/list")).json()
        contract = (await c.get("/contract/suggest", params={"t": "ES", "l": 1})).json()[0]["name"]
        clients.append(c)
        bodies.append(
            {
                "accountSpec": acct["name"],
                "accountId": acct["id"],
                "symbol": contract,
                "orderQty": 1,
                "orderType": "Market",
                "isAutomated": True,
            }
        )

    async def one(c: httpx.AsyncClient, body: dict[str, object], n: int) -> int:
        sent = [0]

        async def trace(event: str, _info: object) -> None:
            if event == "http11.send_request_body.complete":
                sent[0] = time.perf_counter_ns()

        body = {**body, "action": "Buy" if n % 2 else "Sell", "clOrdId": f"h{n}x{body['accountId']}"}
        await c.post("/order/placeorder", json=body, extensions={"trace": trace})
        return sent[0]

    async def run(n: int) -> int:
        t0 = time.perf_counter_ns()
        sent = await asyncio.gather(*(one(c, b, n) for c, b in zip(clients, bodies, strict=True)))
        return max(sent) - t0

    try:
        yield run
    finally:
        for c in clients:
            await c.aclose()


async def main(followers: int, rounds: int, warmup: int = 20) -> None:
    names = [
        "paper adapter (in-process, no wire)",
        "tradovate adapter, WebSocket",
        "tradovate adapter, REST (aiohttp)",
        "bare REST client (httpx)",
    ]
    spans: dict[str, list[float]] = {n: [] for n in names}
    async with contextlib.AsyncExitStack() as stack:
        port = await stack.enter_async_context(simulator(followers))
        runs = [
            await stack.enter_async_context(paper(followers)),
            await stack.enter_async_context(tradovate(port, followers, "ws")),
            await stack.enter_async_context(tradovate(port, followers, "rest")),
            await stack.enter_async_context(bare_httpx(port, followers)),
        ]
        # interleaved, so that the machine's noise falls on every variant alike
        for n in range(warmup + rounds):
            for name, run in zip(names, runs, strict=True):
                span = await run(n)
                if n >= warmup:
                    spans[name].append(span / 1e6)
                await asyncio.sleep(0.01)  # acks and fills drain between rounds, as between leader events
    print(f"{followers} followers, {rounds} rounds: round start -> last order written to its socket")
    for name in names:
        v = sorted(spans[name])
        p50, p99 = statistics.median(v), v[min(len(v) - 1, int(len(v) * 0.99))]
        print(f"  {name:<38} p50 {p50:7.3f} ms  p99 {p99:7.3f} ms  per follower {p50 * 1000 / followers:6.1f} us")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--followers", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=200)
    ns = ap.parse_args()
    asyncio.run(main(ns.followers, ns.rounds))
