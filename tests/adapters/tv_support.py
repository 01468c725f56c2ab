"""Tradovate test helpers: a simulator on a loopback port over a paper exchange, adapters made by the
real factory from an account config, and secrets standing in for the keyring."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from adapters.base import AdapterContext
from adapters.paper.exchange import PaperExchange
from adapters.tradovate import TradovateAdapter, create_adapter
from adapters.tradovate.simulator import TradovateSimulator
from copytui.config import AccountConfig, FollowerConfig

PASSWORD = "tv-test-password-7f3a"  # noqa: S105 - a test login's password, checked never to leak
SEC = "tv-test-sec-19c2"


def secrets_for(*names: str) -> Callable[[str], str | None]:
    table = {f"{n}:password": PASSWORD for n in names} | {f"{n}:sec": SEC for n in names}
    return table.get


def account_config(sim: TradovateSimulator, name: str, account: str, cls: type = AccountConfig, **kw: Any) -> Any:
    options = {"reconnectWaitS": 3.0, "requestTimeoutS": 2.0, **kw.pop("options", {})}
    user = next(u for u in sim.users.values() if sim.account_by_name[account].id in u.accounts)
    return cls(
        name=name,
        broker="tradovate",
        environment="sim",
        host="127.0.0.1",
        port=sim.port,
        username=user.name,
        account_id=account,
        options=options,
        **kw,
    )


def make_adapter(sim: TradovateSimulator, name: str, account: str, **options: Any) -> TradovateAdapter:
    adapter = create_adapter(
        account_config(sim, name, account, options=options), AdapterContext(secret=secrets_for(name))
    )
    assert isinstance(adapter, TradovateAdapter)
    return adapter


def follower_config(sim: TradovateSimulator, name: str, account: str, **kw: Any) -> FollowerConfig:
    return account_config(sim, name, account, cls=FollowerConfig, **kw)


@contextlib.asynccontextmanager
async def running_sim(
    *accounts: str, seed: int = 5, exchange: PaperExchange | None = None, **kw: Any
) -> AsyncIterator[TradovateSimulator]:
    sim = TradovateSimulator(exchange or PaperExchange(seed=seed), **kw)
    for i, acct in enumerate(accounts, start=1):
        sim.add_account(acct, username=f"trader{i}", password=PASSWORD)
    await sim.start("127.0.0.1", 0)
    try:
        yield sim
    finally:
        await sim.stop()
