"""The measured scenarios: copy overhead, end to end with broker latency, a burst, the journal."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from adapters.base import fit_client_id
from adapters.kit.tasks import TaskGroup
from adapters.paper import PaperAdapter
from copytui.bench.brokers import Broker, follower_accounts
from copytui.bench.rig import LEADER, SYMBOL, Rig, Sample, follower_names, open_rig, paced
from copytui.bench.stats import summarize_ms
from copytui.engine.ids import signal_id
from copytui.journal import Journal
from copytui.journal.timings import followers_per_signal
from copytui.models import FollowerOrder, OrderAck, OrderAction, OrderStatus, OrderType, Side, Signal, SignalKind

PAPER = Broker("paper")


def row(name: str, adapter: str, followers: int, samples: list[Sample], **extra: Any) -> dict[str, Any]:
    """One scenario as the JSON reports it. A sample counts only when every follower's order went out."""
    complete = [s for s in samples if s.orders == followers and s.sent == s.orders]
    out: dict[str, Any] = {
        "name": name,
        "adapter": adapter,
        "followers": followers,
        "samples": len(samples),
        "incomplete": len(samples) - len(complete),
        "internal_ms": summarize_ms([s.internal_ns for s in complete]),
    }
    e2e = [s.e2e_ns for s in complete if s.e2e_ns is not None]
    if e2e:
        out["e2e_ms"] = summarize_ms(e2e)
    to_journal = [s.to_journal_ns for s in complete if s.to_journal_ns is not None]
    if to_journal:
        out["to_journal_ms"] = summarize_ms(to_journal)
    out.update(extra)
    return out


async def overhead(broker: Broker, followers: int, samples: int, warmup: int, seed: int) -> dict[str, Any]:
    """Scenario 1: leader event read -> last follower order written, one leader event at a time."""
    async with (
        follower_accounts(broker, follower_names(followers)) as (configs, secret),
        open_rig(configs, secret, seed=seed) as rig,
    ):
        measured = await paced(rig, samples, warmup)
    return row("overhead", broker.name, followers, measured)


async def end_to_end(followers: int, latency_ms: float, samples: int, warmup: int, seed: int) -> dict[str, Any]:
    """Scenario 2: as 1, on paper followers whose broker answers after ``latency_ms`` (half each way)."""
    async with (
        follower_accounts(PAPER, follower_names(followers), latency_ms=latency_ms) as (configs, secret),
        open_rig(configs, secret, seed=seed) as rig,
    ):
        measured = await paced(rig, samples, warmup)
    return row("e2e", "paper", followers, measured, broker_latency_ms=latency_ms)


async def burst(followers: int, events: int, over_s: float, warmup: int, seed: int) -> dict[str, Any]:
    """Scenario 3: ``events`` leader fills spread evenly over ``over_s`` seconds, not waiting for copies."""
    async with (
        follower_accounts(PAPER, follower_names(followers)) as (configs, secret),
        open_rig(configs, secret, seed=seed) as rig,
    ):
        await paced(rig, 0, warmup)
        mark = rig.mark()
        fills_before = len(rig.rt.exchange.accounts[LEADER].fills)
        depth = {"queue": 0, "backlog": 0}

        async def watch_queues() -> None:
            while True:
                depth["queue"] = max(depth["queue"], *(f.queue.qsize() for f in rig.engine.followers.values()))
                depth["backlog"] = max(depth["backlog"], rig.fired - rig.engine.signals)
                await asyncio.sleep(0.001)

        tasks = TaskGroup()
        tasks.spawn(watch_queues(), "bench-queue-watch")
        try:
            t0 = time.perf_counter()
            for i in range(events):
                delay = t0 + i * over_s / events - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                rig.fire()
            sent_s = time.perf_counter() - t0
            drain_s = await rig.settle(timeout_s=120.0)
        finally:
            await tasks.cancel_all()
        measured = rig.samples(mark)
        lost = lost_fills(rig, fills_before)
    return row(
        "burst",
        "paper",
        followers,
        measured,
        events=events,
        sent_s=round(sent_s, 3),
        lost=lost,
        drain_s=round(drain_s, 3),
        max_queue=depth["queue"],
        max_leader_backlog=depth["backlog"],
    )


def lost_fills(rig: Rig, fills_before: int) -> int:
    """Leader fills for which some follower has no order in the journal."""
    fills = rig.rt.exchange.accounts[LEADER].fills[fills_before:]
    journaled = followers_per_signal(rig.rt.journal)
    ids = [signal_id(LEADER, f.event.order_id or "", "fill", f.event.cum_qty) for f in fills]
    return sum(1 for sid in ids if journaled.get(sid, 0) < rig.followers)


def journal_throughput(signals: int, per_signal: int = 20, flush_every: int = 5) -> dict[str, Any]:
    """Scenario 5: the journal alone, driven as the engine drives it: each signal with its intents
    committed before any order leaves, each order's sent-and-acknowledged update buffered, and the
    buffer flushed (intent rows written, updates applied) every few signals, as the flusher does."""
    batch = [_signal_with_orders(i, per_signal) for i in range(signals)]
    acks = [[_ack(o) for o in orders] for _, orders in batch]
    commits: list[int] = []
    flushes: list[int] = []
    with tempfile.TemporaryDirectory(prefix="copytui-bench-") as tmp:
        journal = Journal(Path(tmp) / "journal.sqlite3")
        try:
            t0 = time.perf_counter()
            for i, ((sig, orders), signal_acks) in enumerate(zip(batch, acks, strict=True), 1):
                t = time.perf_counter_ns()
                journal.commit_signal(sig, orders)
                commits.append(time.perf_counter_ns() - t)
                for ack in signal_acks:
                    journal.record_sent_ack(ack.client_order_id, ack)
                if i % flush_every == 0 or i == signals:
                    t = time.perf_counter_ns()
                    journal.flush()
                    flushes.append(time.perf_counter_ns() - t)
            elapsed = time.perf_counter() - t0
        finally:
            journal.close()
    return {
        "signals": signals,
        "intents_per_signal": per_signal,
        "rows_per_s": round(signals * (1 + per_signal) / elapsed),
        "signals_per_s": round(signals / elapsed),
        "commit_ms": summarize_ms(commits),
        "flush_ms": summarize_ms(flushes),
        "flush_every_signals": flush_every,
    }


def _ack(order: FollowerOrder) -> OrderAck:
    now = time.perf_counter_ns()
    return OrderAck(
        client_order_id=order.client_order_id,
        broker_order_id=f"B{order.client_order_id}",
        status=OrderStatus.WORKING,
        sent_ns=now,
        ack_ns=now,
    )


def _signal_with_orders(i: int, followers: int) -> tuple[Signal, list[FollowerOrder]]:
    side = Side.BUY if i % 2 == 0 else Side.SELL
    now = time.perf_counter_ns()
    sig = Signal(
        id=signal_id(LEADER, f"P{i}", "fill", 1),
        leader=LEADER,
        kind=SignalKind.FILL,
        leader_order_id=f"P{i}",
        symbol=SYMBOL,
        side=side,
        order_type=OrderType.MARKET,
        qty=1,
        fill_qty=1,
        cum_qty=1,
        fill_price=5000.25,
        leader_position=1 if side is Side.BUY else 0,
        wall_ns=time.time_ns(),
        recv_ns=now,
    )
    orders = [
        FollowerOrder(
            follower=name,
            signal_id=sig.id,
            client_order_id=fit_client_id(f"{sig.id}|{name}|0", PaperAdapter.capabilities),  # hashed, as routed
            action=OrderAction.PLACE,
            symbol=SYMBOL,
            side=side,
            qty=1,
            leader_symbol=SYMBOL,
            leader_order_id=sig.leader_order_id,
            reference_price=sig.fill_price,
            recv_ns=now,
        )
        for name in follower_names(followers)
    ]
    return sig, orders
