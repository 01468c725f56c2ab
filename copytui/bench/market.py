"""Scenario 7: the copy path with a market-data source attached and without, interleaved runs at
the same follower count. Copying must not wait on market data: each leader event looks its quote
up in a dict (``Market.take``) and the feed runs beside the copy path on the same loop.

The source is the real dxLink client against our dxLink simulator on loopback, its quotes live."""

from __future__ import annotations

import secrets
from typing import Any

from adapters.dxfeed.simulator import DxLinkSimulator
from copytui.bench.brokers import Broker, follower_accounts
from copytui.bench.rig import SYMBOL, Sample, follower_names, open_rig, paced, until
from copytui.bench.scenarios import row
from copytui.config import MarketDataConfig

PAPER = Broker("paper")


async def _run(followers: int, samples: int, warmup: int, seed: int, with_market: bool) -> list[Sample]:
    token = secrets.token_urlsafe(16)
    async with (
        DxLinkSimulator(token=token, seed=seed) as sim,
        follower_accounts(PAPER, follower_names(followers)) as (configs, secret),
    ):
        market = MarketDataConfig(name="md", source="dxfeed", options={"url": sim.url}, symbols=[SYMBOL])

        def lookup(key: str) -> str | None:
            return token if key == "md:token" else secret(key) if secret else None

        async with open_rig(configs, lookup, seed=seed, market=market if with_market else None) as rig:
            source = rig.engine.market.source
            if source is not None:
                await until(lambda: source.quote(SYMBOL) is not None, 15.0, what="the first quote", poll_s=0.01)
            return await paced(rig, samples, warmup)


async def with_and_without(
    followers: int, samples: int, warmup: int, seed: int, rounds: int = 2
) -> tuple[dict[str, Any], dict[str, Any]]:
    off: list[Sample] = []
    on: list[Sample] = []
    per_run = max(1, samples // rounds)
    for _ in range(rounds):
        off += await _run(followers, per_run, warmup, seed, with_market=False)
        on += await _run(followers, per_run, warmup, seed, with_market=True)
    return row("market_off", "paper", followers, off), row("market_on", "paper", followers, on)
