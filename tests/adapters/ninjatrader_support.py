"""NinjaTrader test helpers: a stand-in on a temp folder over a paper exchange, adapters made by
the real factory from an account config, a collector of an adapter's events, and a "trader" who
writes instruction files the way a hand on NinjaTrader's chart (no ORDER ID) or another ATI client
(its own ORDER IDs) would."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from adapters.base import AdapterContext
from adapters.ninjatrader import NinjaTraderAdapter, create_adapter
from adapters.ninjatrader.simulator import NinjaTraderStandIn
from adapters.paper.exchange import PaperExchange
from copytui.config import AccountConfig
from copytui.models import AccountEvent, EventKind, FollowerOrder, OrderAction, OrderType, Side

_files = itertools.count(1)


def account_config(folder: str | Path, name: str = "nt1", account: str = "Sim101", **options: Any) -> AccountConfig:
    return AccountConfig(
        name=name,
        broker="ninjatrader",
        environment="sim",
        account_id=account,
        options={"folder": str(folder), "settle_s": 0.2, "pickup_timeout_s": 3.0, **options},
    )


def make_adapter(
    folder: str | Path, name: str = "nt1", account: str = "Sim101", data_dir: str = "", **options: Any
) -> NinjaTraderAdapter:
    adapter = create_adapter(account_config(folder, name, account, **options), AdapterContext(data_dir=data_dir))
    assert isinstance(adapter, NinjaTraderAdapter)
    return adapter


async def until(cond: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll a condition no event announces, every 10 ms, up to ``timeout``."""
    try:
        async with asyncio.timeout(timeout):
            while not cond():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"{what} did not happen within {timeout}s") from None


class Collector:
    """Reads an adapter's subscribe() stream in a held task."""

    def __init__(self, adapter: NinjaTraderAdapter) -> None:
        self.events: list[AccountEvent] = []
        self.task = asyncio.get_running_loop().create_task(self._read(adapter), name=f"collect-{adapter.account}")

    async def _read(self, adapter: NinjaTraderAdapter) -> None:
        async for ev in adapter.subscribe():
            self.events.append(ev)

    def kinds(self, kind: EventKind, coid: str | None = None) -> list[AccountEvent]:
        return [e for e in self.events if e.kind is kind and (coid is None or e.client_order_id == coid)]

    def fills(self) -> list[AccountEvent]:
        return self.kinds(EventKind.FILL)

    def net(self, symbol: str = "ES") -> int:
        return sum(e.fill_qty * (1 if e.side is Side.BUY else -1) for e in self.fills() if e.symbol == symbol)


def order(
    coid: str,
    symbol: str = "ES",
    side: Side = Side.BUY,
    qty: int = 1,
    order_type: OrderType = OrderType.MARKET,
    price: float | None = None,
    stop_price: float | None = None,
    **kw: Any,
) -> FollowerOrder:
    return FollowerOrder(
        follower="nt1",
        signal_id=f"sig-{coid}",
        client_order_id=coid,
        action=kw.pop("action", OrderAction.PLACE),
        symbol=symbol,
        side=side,
        qty=qty,
        order_type=order_type,
        price=price,
        stop_price=stop_price,
        **kw,
    )


def write_oif(folder: str | Path, *lines: str) -> Path:
    """An instruction file written straight into incoming/, as another ATI client writes one."""
    path = Path(folder) / "incoming" / f"oif{os.getpid()}t{next(_files)}.txt"
    tmp = Path(folder) / f"{path.name}.part"
    tmp.write_text("".join(line + "\r\n" for line in lines), encoding="ascii")
    os.replace(tmp, path)
    return path


def hand_trade(folder: str | Path, account: str, instrument: str, side: str, qty: int, order_id: str = "") -> Path:
    """A market order without ORDER ID (a trade by hand: no state file) or with one (another ATI client)."""
    return write_oif(folder, f"PLACE;{account};{instrument};{side};{qty};MARKET;0;0;DAY;;{order_id};;")


@contextlib.asynccontextmanager
async def nt_session(
    folder: str | Path,
    seed: int = 3,
    accounts: tuple[str, ...] = ("Sim101",),
    data_dir: str = "",
    sim_kw: dict[str, Any] | None = None,
    **options: Any,
) -> AsyncIterator[tuple[PaperExchange, NinjaTraderStandIn, NinjaTraderAdapter, Collector]]:
    """A stand-in in ``folder``, one connected adapter on its first account, and its collector."""
    exchange = PaperExchange(seed=seed)
    sim = NinjaTraderStandIn(str(folder), exchange, accounts=accounts, **(sim_kw or {}))
    await sim.start()
    adapter = make_adapter(folder, account=accounts[0], data_dir=data_dir, **options)
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
