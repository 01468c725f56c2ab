"""The engine: lifecycle and the operator's API over the rooms.

leader event -> copier (Signal -> route -> journal commit -> order lanes) -> execution (send,
ack, fills, final state) -> blotter (log, alerts, events, the desk's snapshot); the reconciler
checks positions against the leader's. This file starts and stops them and answers the desk's
keys (pause, resume, flatten, reconcile)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from functools import partial
from pathlib import Path

from adapters.base import BrokerAdapter, BrokerError
from adapters.kit.tasks import TaskGroup
from adapters.marketdata import MarketDataSource
from copytui.config import AccountConfig, FollowerConfig, ReconcileConfig
from copytui.engine.blotter import AlertLevel, Blotter, LeaderFacts, Listener, snapshot
from copytui.engine.copier import Copier
from copytui.engine.execution import Execution
from copytui.engine.follower import Follower
from copytui.engine.gcpace import GcPacer
from copytui.engine.intents import FollowerState
from copytui.engine.lane import OrderLane
from copytui.engine.leaders import LeaderSide, primary
from copytui.engine.lease import Leases
from copytui.engine.market import Market
from copytui.engine.oco import OcoEmulator, first_of_pair
from copytui.engine.pnl import PnlBook
from copytui.engine.reconciler import Reconciler
from copytui.engine.restore import restore
from copytui.engine.router import Router
from copytui.engine.signals import SignalBuilder
from copytui.engine.sizing import SizingRule
from copytui.engine.states import CopyState
from copytui.engine.stats import Alert, EngineSnapshot
from copytui.journal import Journal
from copytui.models import AccountEvent, Signal

log = logging.getLogger("copytui.engine")

# final intents kept in memory per follower (the journal keeps them all)
INTENTS_KEPT = 1000


class Engine:
    def __init__(
        self,
        *,
        leader_cfg: AccountConfig | None = None,
        leader: BrokerAdapter | None = None,
        leaders: list[tuple[AccountConfig, BrokerAdapter]] | None = None,
        followers: list[tuple[FollowerConfig, BrokerAdapter]],
        journal: Journal,
        reconcile_interval_s: float = 5.0,
        order_timeout_s: float = 10.0,
        flush_interval_s: float = 0.02,
        lease_dir: Path | None = None,
        reconcile: ReconcileConfig | None = None,
        market: MarketDataSource | None = None,
        market_symbols: tuple[str, ...] = (),
    ) -> None:
        """``leader_cfg`` and ``leader``: the one leader; or ``leaders``, several (each follower
        follows those its config names, every one by default). ``market``: an optional market-data
        source, connected in the background (copying never waits on it), subscribed to
        ``market_symbols``."""
        if leaders is None:
            if leader_cfg is None or leader is None:
                raise ValueError("an engine needs a leader (leader_cfg and leader) or leaders")
            leaders = [(leader_cfg, leader)]
        if not leaders:
            raise ValueError("an engine needs at least one leader")
        self.journal = journal
        self.order_timeout_s = order_timeout_s
        self.flush_interval_s = flush_interval_s
        self.followers: dict[str, Follower] = {}
        for cfg, adapter in followers:
            st = FollowerState(cfg=cfg, caps=adapter.capabilities, rule=SizingRule.from_config(cfg))
            self.followers[cfg.name] = Follower(state=st, adapter=adapter, router=Router(st))
        self.tasks = TaskGroup()
        self.gc = GcPacer()
        self.pnl = PnlBook()
        """Every follower's P&L from its own fills and the marks all accounts' fills give."""
        self.blotter = Blotter(journal)
        self.market = Market(market)
        self.market_symbols = market_symbols
        self.execution = Execution(journal, self.blotter, self.pnl, order_timeout_s, self.market)
        for name, f in self.followers.items():
            f.queue = OrderLane(name, partial(self.execution.execute, f), self.tasks, partial(first_of_pair, f))
        names = [lead.name for lead, _ in leaders]
        for f in self.followers.values():
            wanted = {w.leader for w in f.state.cfg.follows}
            follows = [n for n in names if n in wanted] if wanted else names
            if wanted and len(follows) != len(set(wanted)):
                raise ValueError(f"{f.name} follows {', '.join(wanted)}; the leaders are {', '.join(names)}")
            f.state.books = {n: {} for n in follows}  # each replaced below by its builder's own dict
            f.state.rules = {n: SizingRule.from_config(f.state.cfg, n) for n in follows}
            if len(follows) == 1:  # one leader: its rule is the rule (mirror mode reads it)
                f.state.rule = f.state.rules[follows[0]]
        self.sides: dict[str, LeaderSide] = {}
        """Every leader, in the config's order, with its copier, OCO pairing and followers."""
        for lead, adapter in leaders:
            mine = {n: f for n, f in self.followers.items() if lead.name in f.state.books}
            builder = SignalBuilder(lead.name, order_ids_restart=adapter.capabilities.order_ids_restart)
            copier = Copier(
                lead.name, builder, mine, journal, self.blotter, self.pnl, self._stop_runaway, self.market,
                everyone=self.followers,
            )  # fmt: skip
            oco = OcoEmulator(copier, self.blotter, journal, mine)
            self.sides[lead.name] = LeaderSide(lead, adapter, copier, oco, mine)
            for f in mine.values():
                f.state.books[lead.name] = builder.positions
                f.router.leader_orders = builder.orders  # a mirror follower follows this one leader
        self.blotter.name_leaders = len(self.sides) > 1
        first = next(iter(self.sides.values()))
        self.leader_cfg = first.cfg
        self.leader = first.adapter
        self.copier = first.copier
        """The first leader's (with one leader, the only one's)."""
        self.execution.on_leg_fill = lambda f, it: primary(f, self.sides).oco.leg_filled(f, it)
        self.reconciler = Reconciler(
            self.sides,
            self.followers,
            self.execution,
            self.blotter,
            journal,
            self.pnl,
            reconcile or ReconcileConfig(interval_s=max(1.0, reconcile_interval_s)),
            reconcile.interval_s if reconcile else reconcile_interval_s,
            self.stop_for_risk,
            self.drain,
        )
        self.started = False
        self.failed_to_start: str | None = None
        """The first account whose connect failed while starting (for the one-line error)."""
        self._drops_seen: dict[str, int] = {}
        self.stopping = False
        """Set once ``stop`` began: nothing is copied after it."""
        self.leases = Leases(journal.path, lease_dir)

    # ------------------------------------------------------------ what others read
    @property
    def builder(self) -> SignalBuilder:
        return self.copier.builder

    @property
    def signals(self) -> int:
        return sum(side.copier.signals for side in self.sides.values())

    @property
    def duplicates(self) -> int:
        return sum(side.copier.duplicates for side in self.sides.values())

    @property
    def copiers(self) -> list[Copier]:
        return [side.copier for side in self.sides.values()]

    @property
    def alerts(self) -> deque[Alert]:
        return self.blotter.alerts

    @property
    def version(self) -> int:
        return self.blotter.version

    @property
    def copy_states(self) -> dict[str, CopyState]:
        return {n: f.state.copy_state for n, f in self.followers.items()}

    def add_listener(self, listener: Listener) -> None:
        """``listener(event)`` is called on the copy path: it must only record, never wait."""
        self.blotter.add_listener(listener)

    def on_leader_event(self, ev: AccountEvent) -> None:
        """The hot path (see Copier.on_leader_event)."""
        self.copier.on_leader_event(ev)

    def process_signal(self, sig: Signal) -> None:
        self.copier.process_signal(sig)

    def raise_alert(self, level: AlertLevel | str, follower: str, kind: str, message: str) -> None:
        self.blotter.alert(level, follower, kind, message)

    def snapshot(self) -> EngineSnapshot:
        # the leaders' contracts: their quotes on the desk
        traded = sorted({s for side in self.sides.values() for s in side.builder.positions})
        leaders = [
            LeaderFacts(
                name=side.name,
                broker=side.adapter.broker,
                connection=side.adapter.health.state,
                copied_positions=side.builder.positions,
                broker_positions=side.positions.values(),
                followers=tuple(side.followers),
            )
            for side in self.sides.values()
        ]
        return snapshot(
            self.blotter,
            leaders,
            self.followers.values(),
            self.pnl,
            signals=self.signals,
            duplicates=self.duplicates,
            last_reconcile_wall_ns=self.reconciler.last_reconcile_wall_ns,
            market=self.market.view(traded),
        )

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.leases.take_journal()
        try:
            await asyncio.gather(
                *(self._connect(name, side.adapter) for name, side in self.sides.items()),
                *(self._connect(n, f.adapter) for n, f in self.followers.items()),
            )
            # after connect: the broker has said which account each login really is
            self.leases.take(
                [(n, f.adapter.account_key, f.adapter.process_local) for n, f in self.followers.items()],
                leaders=[(name, side.adapter.account_key) for name, side in self.sides.items()],
            )
        except BaseException:
            adapters = [*(side.adapter for side in self.sides.values()), *(f.adapter for f in self.followers.values())]
            await asyncio.gather(*(a.disconnect() for a in adapters), return_exceptions=True)
            self.leases.release()
            raise
        if self.market.source is not None:
            self.tasks.spawn(self._market_feed(self.market.source), "market-data")
        seen = restore(self.journal, [c.builder for c in self.copiers], self.followers.values(), self.market)
        for copier in self.copiers:
            copier.seen = seen  # signal ids carry their leader's name: one set serves all
        await self.reconciler.recover_unresolved()
        for f in self.followers.values():
            try:
                await self.reconciler.refresh_positions(f)
                self.reconciler.start_loss_limit(f)  # seeds our P&L; refuses a limit it cannot compute
            except BrokerError as exc:
                self.blotter.alert(AlertLevel.WARNING, f.name, "positions unavailable", str(exc))
        for name, f in self.followers.items():
            self.tasks.spawn(self._follower_stream(f), f"follower-stream-{name}")
        # Live leader events wait until the fills missed while copytui was down are copied, so the
        # followers see the leader's fills in the leader's order (invariant 11); a live event that
        # repeats a caught-up fill maps to the same signal id and is dropped.
        for name, side in self.sides.items():
            side.copier.held = []
            self.tasks.spawn(self._leader_stream(side), f"leader-stream-{name}")
        self.tasks.spawn(self._flusher(), "journal-flusher")
        self.tasks.spawn(self._housekeeping(), "housekeeping")
        try:
            await self.reconciler.catch_up_leader()
        finally:
            for copier in self.copiers:
                copier.release_held()
        self.tasks.spawn(self.reconciler.run(), "reconciler")
        self.started = True
        self.gc.start()  # from now on the collector runs between leader events only

    async def stop(self, settle: bool = True) -> None:
        if self.stopping:
            return
        self.stopping = True
        if settle and self.started:
            await self.drain(timeout_s=5.0)
            await self.reconciler.settle()
        await self.tasks.cancel_all()
        self.gc.stop()
        self.journal.flush()
        adapters = [*(side.adapter for side in self.sides.values()), *(f.adapter for f in self.followers.values())]
        await asyncio.gather(*(a.disconnect() for a in adapters), return_exceptions=True)
        self.leases.release()

    async def drain(self, timeout_s: float = 5.0) -> bool:
        """Wait until every follower's queue is empty and no order is on its way."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(f.idle() for f in self.followers.values()):
                self.journal.flush()
                return True
            await asyncio.sleep(0.01)
        return False

    async def _connect(self, name: str, adapter: BrokerAdapter) -> None:
        try:
            await adapter.connect()
        except BaseException:
            self.failed_to_start = self.failed_to_start or name
            raise

    @staticmethod
    async def _leader_stream(side: LeaderSide) -> None:
        linked_late = side.builder.linked_late
        async for ev in side.adapter.subscribe():
            side.copier.take(ev)
            if linked_late:  # the leader's broker paired orders already copied: pair their copies now
                linked_late.clear()
                for f in side.followers.values():
                    side.oco.regroup(f, live=True)

    async def _follower_stream(self, f: Follower) -> None:
        async for ev in f.adapter.subscribe():
            try:
                self.execution.on_follower_event(f, ev)
            except Exception as exc:  # bad input from a broker is journaled and skipped
                log.exception("follower event failed")
                self.journal.error(f"follower:{f.name}", f"{type(exc).__name__}: {exc}", ev.model_dump_json())

    async def _market_feed(self, source: MarketDataSource) -> None:
        """Connect the market-data source and keep the P&L marks on its live quotes. A source that
        cannot connect is an alert, never a reason not to copy."""
        try:
            await source.connect()
            await source.subscribe(self.market_symbols)
        except Exception as exc:
            self.blotter.alert(AlertLevel.ERROR, source.name, "market data", f"{type(exc).__name__}: {exc}")
            return
        try:
            while True:
                await asyncio.sleep(0.25)
                for symbol in self.market_symbols:
                    price = self.market.live_price(symbol)
                    if price is not None:
                        self.pnl.note_mark(symbol, price)
        finally:
            await source.disconnect()

    async def _flusher(self) -> None:
        # small transactions with a loop turn between them: a leader event never waits on a big batch
        while True:
            await asyncio.sleep(self.flush_interval_s)
            while self.journal.flush_some():
                await asyncio.sleep(0)
            self.gc.tick(
                time.monotonic() - max(c.last_leader_event_mono for c in self.copiers)
            )  # between events, like the flushing

    async def _housekeeping(self) -> None:
        """Off the copy path, a few times a second: orders waiting longer than ``order_timeout_s``
        for their answer are given up on (their outcome becomes unknown, and the broker is asked by
        client id), one timer for all orders; and each follower forgets its oldest final orders."""
        every = min(0.5, self.order_timeout_s / 4)
        while True:
            await asyncio.sleep(every)
            now = time.monotonic()
            for f in self.followers.values():
                if f.queue.busy:
                    f.queue.expire_overdue(now, self.order_timeout_s)
                if len(f.state.intents) > INTENTS_KEPT:
                    f.state.prune(INTENTS_KEPT // 2)
            self._report_drops()

    def _report_drops(self) -> None:
        """Anything an adapter refused at its edge since the last look: counted in the journal and
        alerted, once per batch (invariant 9: never only logged)."""
        accounts = [
            *((n, side.adapter) for n, side in self.sides.items()),
            *((n, f.adapter) for n, f in self.followers.items()),
        ]
        for name, adapter in accounts:
            health = adapter.health
            seen = self._drops_seen.get(name, 0)
            if health.dropped > seen:
                new = health.dropped - seen
                self._drops_seen[name] = health.dropped
                self.journal.count(f"dropped:{name}", new)
                self.journal.error(f"adapter:{name}", f"{new} dropped at the edge: {health.last_dropped}")
                self.blotter.alert(
                    AlertLevel.WARNING,
                    name,
                    "dropped at the edge",
                    f"{new} frame(s) refused, latest: {health.last_dropped}",
                )

    # ------------------------------------------------------------ the operator
    def _follower(self, name: str) -> Follower:
        try:
            return self.followers[name]
        except KeyError:
            raise KeyError(f"no follower named {name!r}; configured: {', '.join(self.followers)}") from None

    def pause(self, name: str) -> None:
        f = self._follower(name)
        f.state.paused = True
        self.journal.operator_action("pause", name)
        self.blotter.operator(name, "paused")

    def resume(self, name: str, sync: bool = True) -> None:
        """Resume copying; ``sync`` sends the follower to the leader's position now, otherwise
        the follower waits until the leader is next flat in each symbol it holds."""
        f = self._follower(name)
        f.state.paused = False
        self.journal.operator_action("resume", name, "sync now" if sync else "wait for leader flat")
        self.blotter.operator(name, "resumed" + (" (sync now)" if sync else " (waiting for flat)"))
        copier = primary(f, self.sides).copier
        for sym in {s: 0 for book in f.state.books.values() for s in book}:
            if sync:
                copier.sync(f, sym, copier.builder.positions.get(sym, 0))
            elif not f.state.leaders_flat(sym, 0):
                f.state.waiting_flat.add(sym)

    def toggle_pause(self, name: str, sync: bool = True) -> bool:
        f = self._follower(name)
        if f.state.paused:
            self.resume(name, sync)
        else:
            self.pause(name)
        return f.state.paused

    async def flatten(self, name: str) -> None:
        """Pause the follower, cancel its working orders and close its positions at the broker."""
        f = self._follower(name)
        if not f.state.paused:
            f.state.paused = True
        self.journal.operator_action("flatten", name)
        self.blotter.operator(name, "flatten: cancelling orders and closing positions")
        await self._wait_idle(f, 5.0)
        try:
            await f.adapter.flatten()
        except BrokerError as exc:
            self.blotter.alert(AlertLevel.ERROR, name, "flatten failed", f"flatten failed: {exc}")
            raise
        self.execution.flattened(f)
        f.state.basis = {sym: 0 for sym in f.state.basis}
        f.state.held_by_order.clear()
        f.state.mirrored.clear()
        f.state.waiting_flat.clear()
        self.blotter.operator(name, "flat and paused")
        await self.reconciler.refresh_positions(f)

    async def flatten_all(self) -> None:
        self.journal.operator_action("flatten_all", "*")
        results = await asyncio.gather(*(self.flatten(n) for n in self.followers), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    async def reconcile_now(self) -> None:
        self.journal.operator_action("reconcile", "*")
        self.blotter.operator("*", "reconcile now")
        drifts = await self.reconciler.reconcile_once(manual=True)
        n = sum(len(d) for d in drifts.values())
        self.blotter.operator(
            "*", f"reconciled: {n} drifting position(s)" if n else "reconciled: every follower in line"
        )

    async def _wait_idle(self, f: Follower, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not f.idle() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def stop_for_risk(self, name: str, why: str) -> None:
        """A risk guard stopped the follower: flatten it and copy nothing more this session."""
        f = self._follower(name)
        if f.state.stopped_by_risk:
            return
        f.state.stopped_by_risk = why
        self.journal.operator_action("risk_stop", name, why)
        self.blotter.alert(AlertLevel.ERROR, name, "risk limit", f"{why}: flattening and disabling")
        await self.flatten(name)

    def _stop_runaway(self, f: Follower, why: str) -> None:
        """Invariant 10's runtime guard: stop the follower at once (nothing more is routed to it),
        open its breaker, then flatten it, with an alert naming the cause."""
        name = f.name
        f.state.stopped_by_risk = why
        f.state.breaker.failure(why, True)
        self.journal.operator_action("risk_stop", name, why)
        self.blotter.alert(AlertLevel.ERROR, name, "feedback loop", f"{why}: flattening and stopping this follower")
        self.tasks.spawn(self._flatten_quietly(name), f"runaway-flatten-{name}")

    async def _flatten_quietly(self, name: str) -> None:
        with contextlib.suppress(BrokerError):  # flatten() raised its own alert
            await self.flatten(name)


__all__ = ["Engine", "Follower"]
