"""ProjectX test helpers: a simulator on a loopback port, adapters made by the real factory from
an account config, and a collector of the adapter's event stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from adapters.base import AdapterContext
from adapters.paper.exchange import PaperExchange
from adapters.projectx import ProjectXAdapter, create_adapter
from adapters.projectx.simulator import ProjectXSimulator
from copytui.config import AccountConfig
from copytui.models import AccountEvent, EventKind, FollowerOrder, OrderAction, OrderType, Side

API_KEY = "px-test-key-0123456789"
USER = "trader1"


def account_config(
    sim: ProjectXSimulator, name: str = "px1", account_id: str = "1001", **options: Any
) -> AccountConfig:
    return AccountConfig(
        name=name,
        broker="projectx",
        environment="sim",
        host="127.0.0.1",
        port=sim.port,
        username=USER,
        account_id=account_id,
        options={"reconnect_delay_s": 0.02, "timeout_s": 2.0, **options},
    )


def secrets_for(*names: str) -> Callable[[str], str | None]:
    """A secret lookup: per account (``api_key``, as AdapterContext.secret) or global (``NAME:api_key``)."""
    keys = {"api_key", *(f"{n}:api_key" for n in names)}
    return lambda key: API_KEY if key in keys else None


def make_adapter(
    sim: ProjectXSimulator, name: str = "px1", account_id: str = "1001", **options: Any
) -> ProjectXAdapter:
    adapter = create_adapter(account_config(sim, name, account_id, **options), AdapterContext(secret=secrets_for(name)))
    assert isinstance(adapter, ProjectXAdapter)
    return adapter


async def until(cond: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll a condition that no event announces (connection health), every 10 ms."""
    try:
        async with asyncio.timeout(timeout):
            while not cond():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"{what} did not happen within {timeout}s") from None


class Collector:
    """Reads an adapter's subscribe() stream in a held task; waits for conditions on it."""

    def __init__(self, adapter: ProjectXAdapter) -> None:
        self.adapter = adapter
        self.events: list[AccountEvent] = []
        self._changed = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._read(), name=f"collect-{adapter.account}")

    async def _read(self) -> None:
        async for ev in self.adapter.subscribe():
            self.events.append(ev)
            self._changed.set()

    async def wait(self, cond: Callable[[list[AccountEvent]], bool], timeout: float = 5.0) -> list[AccountEvent]:
        async with asyncio.timeout(timeout):
            while not cond(self.events):
                self._changed.clear()
                await self._changed.wait()
        return self.events

    def kinds(self, kind: EventKind, coid: str | None = None) -> list[AccountEvent]:
        return [e for e in self.events if e.kind is kind and (coid is None or e.client_order_id == coid)]

    def filled(self, coid: str) -> int:
        """The cumulative quantity the stream reported for a client order id (max over its fills)."""
        return max((e.cum_qty for e in self.kinds(EventKind.FILL, coid)), default=0)


def order(
    coid: str,
    symbol: str = "MES",
    side: Side = Side.BUY,
    qty: int = 1,
    order_type: OrderType = OrderType.MARKET,
    price: float | None = None,
    stop_price: float | None = None,
    action: OrderAction = OrderAction.PLACE,
    target: str | None = None,
    broker_order_id: str | None = None,
    follower: str = "px1",
) -> FollowerOrder:
    return FollowerOrder(
        follower=follower,
        signal_id=f"sig-{coid}",
        client_order_id=coid,
        action=action,
        symbol=symbol,
        side=side,
        qty=qty,
        order_type=order_type,
        price=price,
        stop_price=stop_price,
        target_client_order_id=target,
        broker_order_id=broker_order_id,
    )


@contextlib.asynccontextmanager
async def px_session(
    seed: int = 3, sim_kw: dict[str, Any] | None = None, **options: Any
) -> AsyncIterator[tuple[PaperExchange, ProjectXSimulator, ProjectXAdapter, Collector]]:
    """A simulator with users {trader1: API_KEY}, one connected adapter on account 1001, its collector."""
    exchange = PaperExchange(seed=seed)
    sim = ProjectXSimulator(exchange, users={USER: API_KEY}, **(sim_kw or {}))
    await sim.start()
    adapter = make_adapter(sim, **options)
    try:
        await adapter.connect()
        collector = Collector(adapter)
        try:
            yield exchange, sim, adapter, collector
        finally:
            await adapter.disconnect()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(collector.task, 2.0)
    finally:
        await sim.stop()
