"""MetaTrader test helpers: stand-in terminals dialing a bridge port on 127.0.0.1, adapters made by
the real factory from an account config, and tokens standing in for the keyring."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from adapters.base import AdapterContext
from adapters.mt import MtAdapter, create_adapter
from adapters.mt.simulator import MtSimulator, free_port
from adapters.paper.exchange import PaperExchange
from copytui.config import AccountConfig
from copytui.models import FollowerOrder, OrderAction, Side

TOKEN = "mt-test-token-5b1e09c4"  # a test terminal's bridge token, checked never to leak
CFD_MAP = "ES=US500:0.1, NQ=USTEC:0.1"


def tokens_for(*names: str, token: str = TOKEN) -> Callable[[str], str | None]:
    return {f"{n}:token": token for n in names}.get


def account_config(port: int, name: str, login: int, cls: type = AccountConfig, **kw: Any) -> Any:
    options = {"connect_timeout_s": 15.0, "request_timeout_s": 5.0, "order_timeout_s": 5.0, **kw.pop("options", {})}
    return cls(name=name, broker="mt", host="127.0.0.1", port=port, account_id=str(login), options=options, **kw)


def make_adapter(port: int, name: str, login: int, token: str = TOKEN, **options: Any) -> MtAdapter:
    adapter = create_adapter(
        account_config(port, name, login, options=options), AdapterContext(secret=tokens_for(name, token=token))
    )
    assert isinstance(adapter, MtAdapter)
    return adapter


@contextlib.asynccontextmanager
async def running(
    port: int | None = None, exchange: PaperExchange | None = None, **kw: Any
) -> AsyncIterator[MtSimulator]:
    """Stand-ins added by the caller (``sim.add_terminal``) dial ``port`` (a free one by default)."""
    sim = MtSimulator(port or free_port(), exchange or PaperExchange(seed=5), **kw)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


def order(coid: str, side: Side = Side.BUY, qty: int = 1, symbol: str = "ES", **kw: Any) -> FollowerOrder:
    return FollowerOrder(
        follower="mt", signal_id=f"s-{coid}", client_order_id=coid, action=OrderAction.PLACE, symbol=symbol,
        side=side, qty=qty, **kw,
    )  # fmt: skip


async def until(what: str, cond: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``cond`` (sync or async) until truthy; a deadline, never a timing assertion."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if isinstance(got, Awaitable):
            got = await got
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        await asyncio.sleep(0.01)
