"""Scenario 7: the naive copier copytui is compared with, measured in the same process.

What a first copier looks like: read the leader's fill, then send each follower its order in
turn, awaiting each ``place()``; no journal, no queues, no router. It uses the same paper
adapters and the same timestamps (leader ``recv_ns``, follower ``sent_ns``), so the two numbers
differ only by what copytui does on top.
"""

from __future__ import annotations

import asyncio
from typing import Any

from adapters.kit.tasks import TaskGroup
from adapters.paper import Faults, PaperAdapter, PaperExchange
from copytui.bench.rig import LEADER, Sample, follower_names, gap_for, leader_order, until
from copytui.bench.scenarios import row
from copytui.models import EventKind, FollowerOrder, OrderAction


class NaiveCopier:
    def __init__(self, leader: PaperAdapter, followers: list[PaperAdapter]) -> None:
        self.leader = leader
        self.followers = followers
        self.samples: list[Sample] = []

    async def run(self) -> None:
        async for ev in self.leader.subscribe():
            if ev.kind is not EventKind.FILL or ev.side is None or ev.symbol is None:
                continue
            sent = ack = 0
            for i, adapter in enumerate(self.followers):
                result = await adapter.place(
                    FollowerOrder(
                        follower=adapter.account,
                        signal_id=ev.fill_id or "",
                        client_order_id=f"nv{len(self.samples):07d}{i:04d}",
                        action=OrderAction.PLACE,
                        symbol=ev.symbol,
                        side=ev.side,
                        qty=ev.fill_qty,
                        recv_ns=ev.recv_ns,
                    )
                )
                sent, ack = result.sent_ns, result.ack_ns  # one after another: the last is the latest
            n = len(self.followers)
            self.samples.append(Sample(sent - ev.recv_ns, ack - ev.recv_ns if ack else None, n, n))


async def naive(followers: int, samples: int, warmup: int, seed: int, latency_ms: float = 0.0) -> dict[str, Any]:
    exchange = PaperExchange(seed=seed)
    exchange.account(LEADER)
    names = follower_names(followers)
    for name in names:
        exchange.account(name, faults=Faults(latency_ms=latency_ms))
    leader = PaperAdapter(exchange, LEADER)
    adapters = [PaperAdapter(exchange, name) for name in names]
    for a in (leader, *adapters):
        await a.connect()
    copier = NaiveCopier(leader, adapters)
    tasks = TaskGroup()
    tasks.spawn(copier.run(), "bench-naive-copier")
    gap = gap_for(followers)
    try:
        for n in range(warmup + samples):
            leader_order(exchange, n)
            await until(lambda n=n: len(copier.samples) > n, 30.0, what="the naive copier")
            await asyncio.sleep(gap)
    finally:
        await tasks.cancel_all()
        for a in (leader, *adapters):
            await a.disconnect()
    name = "baseline_e2e" if latency_ms else "baseline"
    extra = {"broker_latency_ms": latency_ms} if latency_ms else {}
    return row(name, "paper", followers, copier.samples[warmup:], **extra)
