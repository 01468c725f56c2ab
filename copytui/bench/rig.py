"""A copier under test: the real runtime (engine, adapters, journal in a temp dir) with a paper
leader driven one market order at a time, and the copy times read back from the journal.

The leader's adapter stamps ``recv_ns`` when it reads each event; each follower adapter stamps
``sent_ns`` when the order is written. Both land in the journal's intents table, so the copy
path is measured exactly as it runs in production, with nothing added to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from adapters.paper.exchange import PaperExchange
from copytui.config import AccountConfig, Config, FollowerConfig, MarketDataConfig
from copytui.engine import Engine
from copytui.journal.timings import fanout_timings, last_signal_mark
from copytui.models import Side
from copytui.runtime import Runtime, build_runtime

LEADER = "leader"
SYMBOL = "ES"


@dataclass(frozen=True, slots=True)
class Sample:
    """One leader fill: leader event read -> last follower order written (and acknowledged)."""

    internal_ns: int
    e2e_ns: int | None
    orders: int
    sent: int
    to_journal_ns: int | None = None  # leader event read -> journal commit begins


class Rig:
    def __init__(self, rt: Runtime, followers: int) -> None:
        self.rt = rt
        self.followers = followers
        self.fired = 0

    @property
    def engine(self) -> Engine:
        return self.rt.engine

    def fire(self) -> None:
        leader_order(self.rt.exchange, self.fired)
        self.fired += 1

    def idle(self) -> bool:
        e = self.engine
        return e.signals >= self.fired and all(f.queue.empty() and f.busy == 0 for f in e.followers.values())

    async def settle(self, timeout_s: float = 10.0) -> float:
        """Wait until every fired leader event is copied and every order is answered; seconds waited."""
        t0 = time.perf_counter()
        await until(self.idle, timeout_s, what=f"copying {self.fired} leader events to {self.followers} followers")
        return time.perf_counter() - t0

    async def step(self, gap_s: float) -> None:
        """One paced sample: fire, wait for the copy to finish, let follower fills land."""
        self.fire()
        await self.settle()
        await asyncio.sleep(gap_s)

    def mark(self) -> int:
        """A position in the journal: samples() counts only leader fills after it."""
        return last_signal_mark(self.rt.journal)

    def samples(self, after: int) -> list[Sample]:
        return [
            Sample(t.last_sent_ns, t.last_ack_ns, t.orders, t.sent, t.to_journal_ns)
            for t in fanout_timings(self.rt.journal, after)
        ]


def leader_order(exchange: PaperExchange, n: int) -> None:
    """The ``n``-th leader market order: 1 ES, buy then sell, so each is one fill and one order per follower."""
    exchange.submit(LEADER, symbol=SYMBOL, side=Side.BUY if n % 2 == 0 else Side.SELL, qty=1)


async def until(pred: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.001) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark stalled: {what} took more than {timeout_s:g}s")
        await asyncio.sleep(poll_s)


def gap_for(followers: int) -> float:
    """Quiet time between paced samples so one event's follower fills do not overlap the next."""
    return 0.002 + 0.0001 * followers


@asynccontextmanager
async def open_rig(
    followers: list[FollowerConfig],
    secret: Callable[[str], str | None] | None = None,
    *,
    seed: int = 7,
    start: bool = True,
    market: MarketDataConfig | None = None,
) -> AsyncIterator[Rig]:
    """The runtime the CLI would build for this config, with a fresh journal in a temp dir."""
    # the bench fires bursts far above any trader's pace: the per-minute order guard stays off
    followers = [
        f.model_copy(update={"risk": f.risk.model_copy(update={"max_orders_per_minute": None})}) for f in followers
    ]
    with tempfile.TemporaryDirectory(prefix="copytui-bench-") as tmp:
        journal = Path(tmp) / "journal.sqlite3"
        config = Config(
            leader=AccountConfig(name=LEADER, broker="paper"),
            followers=followers,
            journal=str(journal),
            market_data=market,
        )
        rt = build_runtime(config, seed=seed, journal_path=journal, secret_lookup=secret, data_root=Path(tmp))
        rt.walk = False  # no random price steps: every sample sees the same market
        rig = Rig(rt, len(followers))
        try:
            if start:
                await rt.start()
            yield rig
        finally:
            # the desk may have stopped the runtime already; a second close must not hide the first error
            with contextlib.suppress(sqlite3.ProgrammingError):
                await rt.stop(flatten_leader=False)


async def paced(rig: Rig, samples: int, warmup: int) -> list[Sample]:
    """``warmup`` unmeasured leader events, then ``samples`` measured ones, one at a time."""
    gap = gap_for(rig.followers)
    for _ in range(warmup):
        await rig.step(gap)
    mark = rig.mark()
    for _ in range(samples):
        await rig.step(gap)
    return rig.samples(mark)


def follower_names(n: int) -> list[str]:
    return [f"f{i:03d}" for i in range(1, n + 1)]
