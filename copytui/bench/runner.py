"""One benchmark run: every scenario in one process, one after another, into one result."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from copytui.bench import baseline, brokers, desk, floor, market, scenarios
from copytui.bench.stats import current_rss_mb, peak_rss_mb, ratio

SCENARIOS = ("floor", "overhead", "e2e", "burst", "journal", "baseline", "desk", "market")
BROKER_LATENCY_MS = 50.0


@dataclass(frozen=True)
class Plan:
    """How much of each scenario to run. ``quick`` is the same code on small counts, for CI."""

    followers: tuple[int, ...]
    adapters: tuple[str, ...] = ("paper",)
    only: tuple[str, ...] = SCENARIOS
    quick: bool = False
    seed: int = 7
    samples: int = 300
    warmup: int = 20
    e2e_followers: int = 20
    e2e_samples: int = 200
    burst_followers: int = 20
    burst_events: int = 1000
    burst_s: float = 1.0
    journal_signals: int = 2000
    naive_e2e_samples: int = 5
    desk_samples: int = 1000  # per side: a p99 is then the 10th slowest, not the 3rd
    desk_rounds: int = 4
    market_samples: int = 1000  # per side, as the desk's: with 300 a p99 was the 3rd slowest and swung 0.9-1.5
    market_rounds: int = 4

    @classmethod
    def make(
        cls,
        *,
        quick: bool = False,
        followers: tuple[int, ...] | None = None,
        adapters: tuple[str, ...] = ("paper",),
        only: tuple[str, ...] | None = None,
        samples: int | None = None,
        seed: int = 7,
    ) -> Plan:
        if quick:
            return cls(
                followers=followers or (1, 5),
                adapters=adapters,
                only=only or SCENARIOS,
                quick=True,
                seed=seed,
                samples=samples or 30,
                warmup=5,
                e2e_followers=5,
                e2e_samples=10,
                burst_followers=5,
                burst_events=100,
                burst_s=0.1,
                journal_signals=200,
                naive_e2e_samples=2,
                desk_samples=samples or 30,
                desk_rounds=2,
                market_samples=samples or 30,
                market_rounds=2,
            )
        return cls(
            followers=followers or (1, 20, 100),
            adapters=adapters,
            only=only or SCENARIOS,
            seed=seed,
            samples=samples or 300,
            e2e_samples=samples or 200,
            desk_samples=samples or 1000,
            market_samples=samples or 1000,
        )

    @property
    def reference_followers(self) -> int:
        """The follower count the desk and the naive copier are compared at: the one nearest 20."""
        return min(self.followers, key=lambda n: (abs(n - 20), n))


@dataclass
class Result:
    plan: Plan
    scenarios: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    journal: dict[str, Any] | None = None
    rss_mb: float | None = None
    rss_followers: int | None = None
    rss_start_mb: float = 0.0
    tui_p99_ratio: float | None = None
    market_p99_ratio: float | None = None
    market_p50_ratio: float | None = None
    baseline_ratio: float | None = None
    baseline_p50_ratio: float | None = None
    load_start: tuple[float, ...] = field(default_factory=lambda: _load())
    load_end: tuple[float, ...] = ()

    def find(self, name: str, adapter: str = "paper", followers: int | None = None) -> dict[str, Any] | None:
        for s in self.scenarios:
            if s["name"] == name and s["adapter"] == adapter and (followers is None or s["followers"] == followers):
                return s
        return None

    @property
    def sane(self) -> bool:
        """Correctness, not speed: nothing lost and every sampled order sent."""
        return all(not s.get("lost") and not s["incomplete"] for s in self.scenarios)

    def to_json(self) -> dict[str, Any]:
        from copytui.bench.report import ratios, targets

        p = self.plan
        return {
            "version": 1,
            "quick": p.quick,
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": sys.platform,
                "loadavg_1m_start": self.load_start[0] if self.load_start else None,
                "loadavg_1m_end": self.load_end[0] if self.load_end else None,
            },
            "scenarios": self.scenarios,
            "tui_p99_ratio": self.tui_p99_ratio,
            "market_p50_ratio": self.market_p50_ratio,
            "market_p99_ratio": self.market_p99_ratio,
            "journal_rows_per_s": self.journal["rows_per_s"] if self.journal else None,
            "journal": self.journal,
            "rss_mb": self.rss_mb,
            "rss_followers": self.rss_followers,
            "rss_start_mb": self.rss_start_mb,
            "baseline_ratio": self.baseline_ratio,
            "baseline_p50_ratio": self.baseline_p50_ratio,
            "definitions": DEFINITIONS,
            "ratios": ratios(self),
            "targets": targets(self),
            "notes": self.notes,
        }


DEFINITIONS = {
    "internal_ms": "per leader fill: leader event read (recv_ns) -> last follower order written (max sent_ns)",
    "floor": "the wire's floor: a leader frame read -> as many pre-built order frames written to as many loopback"
    " sockets, no copier logic (adapter 'wire')",
    "ratios": "each adapter's internal p50 / p99 over paper's and over the floor's, same follower count, same run",
    "e2e_ms": "per leader fill: leader event read -> last follower acknowledgement read (max ack_ns)",
    "to_journal_ms": "the part of internal_ms before the journal commit begins: signal built, routed per follower",
    "lost": "leader fills for which some follower has no order in the journal",
    "drain_s": "last leader event sent -> every follower queue empty and every order answered",
    "tui_p99_ratio": "internal p99 with the desk running / without, same follower count, interleaved runs",
    "market_p50_ratio": "internal p50 with a market-data source (dxLink simulator) / without, interleaved runs",
    "market_p99_ratio": "internal p99 with a market-data source / without, interleaved runs",
    "baseline_ratio": "copytui internal p99 / naive copier internal p99 (paper, no broker latency, same followers)",
    "journal_rows_per_s": "signal + intent rows journaled per second (20 intents per signal, each also updated"
    " once as sent and acknowledged), flushes included",
    "rss_mb": "peak resident memory of the process (VmHWM) after the largest follower count ran",
}


async def run(plan: Plan, progress: Callable[[str], None] = lambda _msg: None) -> Result:
    res = Result(plan=plan, rss_start_mb=peak_rss_mb())
    only = set(plan.only)
    if "floor" in only:
        for n in sorted(plan.followers):
            progress(f"floor: {n} pre-built order frames to {n} loopback sockets, {plan.samples} times")
            measured = await floor.samples(n, plan.samples, plan.warmup)
            res.scenarios.append(scenarios.row("floor", "wire", n, measured))
    if "overhead" in only:
        for name in plan.adapters:
            broker = brokers.find(name)
            if broker.skipped:
                res.notes.append(broker.skipped)
                continue
            for n in sorted(plan.followers):
                progress(f"overhead: {name}, {n} followers, {plan.samples} leader events")
                try:
                    res.scenarios.append(await scenarios.overhead(broker, n, plan.samples, plan.warmup, plan.seed))
                except Exception as exc:  # a broker's simulator or adapter failing must not hide the other numbers
                    if broker.hook is None:
                        raise
                    res.notes.append(f"{name} at {n} followers failed: {type(exc).__name__}: {exc}")
                    break
                if name == "paper" and n == max(plan.followers):
                    res.rss_mb, res.rss_followers = peak_rss_mb(), n
    if "e2e" in only:
        n = plan.e2e_followers
        progress(f"e2e: {n} followers, broker latency {BROKER_LATENCY_MS:g} ms, {plan.e2e_samples} leader events")
        res.scenarios.append(await scenarios.end_to_end(n, BROKER_LATENCY_MS, plan.e2e_samples, plan.warmup, plan.seed))
    if "burst" in only:
        n = plan.burst_followers
        progress(f"burst: {plan.burst_events} leader events in {plan.burst_s:g}s, {n} followers")
        res.scenarios.append(await scenarios.burst(n, plan.burst_events, plan.burst_s, plan.warmup, plan.seed))
    if "journal" in only:
        progress(f"journal: {plan.journal_signals} signals of 20 intents")
        res.journal = scenarios.journal_throughput(plan.journal_signals)
    if "baseline" in only:
        n = plan.reference_followers
        progress(f"baseline: naive copier, {n} followers")
        naive = await baseline.naive(n, plan.samples, plan.warmup, plan.seed)
        res.scenarios.append(naive)
        progress(f"baseline: naive copier, {n} followers, broker latency {BROKER_LATENCY_MS:g} ms")
        res.scenarios.append(
            await baseline.naive(n, plan.naive_e2e_samples, 1, plan.seed, latency_ms=BROKER_LATENCY_MS)
        )
        ours = res.find("overhead", followers=n)
        if ours is None:
            res.notes.append(f"baseline_ratio needs the overhead scenario at {n} followers; it did not run")
        elif ours["internal_ms"] and naive["internal_ms"]:
            res.baseline_ratio = ratio(ours["internal_ms"]["p99"], naive["internal_ms"]["p99"])
            res.baseline_p50_ratio = ratio(ours["internal_ms"]["p50"], naive["internal_ms"]["p50"])
    if "desk" in only:
        await _desk(plan, res, progress)
    if "market" in only:
        n = plan.reference_followers
        progress(f"market: {n} followers, with and without a market-data source (dxLink on loopback)")
        off, on = await market.with_and_without(n, plan.market_samples, plan.warmup, plan.seed, plan.market_rounds)
        res.scenarios += [off, on]
        if off["internal_ms"] and on["internal_ms"]:
            res.market_p50_ratio = ratio(on["internal_ms"]["p50"], off["internal_ms"]["p50"])
            res.market_p99_ratio = ratio(on["internal_ms"]["p99"], off["internal_ms"]["p99"])
    if res.rss_mb is None:
        res.rss_mb = peak_rss_mb()
        res.notes.append("rss_mb is the run's peak: the paper overhead scenario did not run")
    res.load_end = _load()
    if "overhead" in only and "paper" in plan.adapters:
        res.notes.append("paper followers: the in-process paper exchange matches their orders on the same event loop")
    rss_now = current_rss_mb()
    if rss_now is not None:
        progress(f"done; resident memory now {rss_now:g} MB")
    return res


def _load() -> tuple[float, ...]:
    """The machine's load averages: other work on a shared machine shows up in the tails."""
    try:
        return tuple(round(x, 2) for x in os.getloadavg())
    except OSError:
        return ()


async def _desk(plan: Plan, res: Result, progress: Callable[[str], None]) -> None:
    app_cls, why = desk.find_desk()
    if app_cls is None:
        res.notes.append(why or "desk unavailable")
        return
    n = plan.reference_followers
    progress(f"desk: {n} followers, with and without the desk, {plan.desk_samples} leader events each")
    try:
        off, on = await desk.with_and_without(app_cls, n, plan.desk_samples, plan.warmup, plan.seed, plan.desk_rounds)
    except Exception as exc:  # the desk is someone else's code: report it, keep the other numbers
        res.notes.append(f"desk scenario failed: {type(exc).__name__}: {exc}")
        return
    res.scenarios += [off, on]
    if off["internal_ms"] and on["internal_ms"]:
        res.tui_p99_ratio = ratio(on["internal_ms"]["p99"], off["internal_ms"]["p99"])
