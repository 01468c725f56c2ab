"""The copy engine: a plain asyncio service with a small public API.

leader event -> Signal -> router per follower -> journal commit -> one order lane per follower
(every idle follower's order written in the same pass, each follower's orders in sequence) ->
adapter -> acks and fills -> journal -> snapshot for the desk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path

from adapters.base import (
    AmbiguousOutcome,
    AuthFailed,
    BrokerAdapter,
    BrokerError,
    Disconnected,
    OrderRejected,
    RateLimited,
)
from adapters.kit.tasks import TaskGroup
from copytui.config import AccountConfig, FollowerConfig, ReconcileConfig
from copytui.engine.gcpace import GcPacer
from copytui.engine.lane import OrderLane
from copytui.engine.lease import Leases
from copytui.engine.pnl import PnlBook
from copytui.engine.router import CopyState, FollowerState, IntentState, Router
from copytui.engine.signals import SignalBuilder, signal_id
from copytui.engine.sizing import SizingRule
from copytui.engine.stats import (
    Alert,
    EngineSnapshot,
    FollowerStats,
    FollowerView,
    LeaderView,
    LogRow,
    percentile,
)
from copytui.instruments import UnknownSymbol, format_price, instrument
from copytui.journal import LIVE_STATUSES, Journal
from copytui.models import (
    AccountEvent,
    EventKind,
    FollowerOrder,
    OrderAck,
    OrderAction,
    OrderStatus,
    OrderType,
    Position,
    Side,
    Signal,
    SignalKind,
)

log = logging.getLogger("copytui.engine")

Listener = Callable[[str, object], None]

# a follower order refused unsent by a rate limit waits out the broker's hint this often, this long
MAX_RATE_LIMIT_WAITS = 3
MAX_RATE_LIMIT_WAIT_S = 10.0

# final intents kept in memory per follower (the journal keeps them all)
INTENTS_KEPT = 1000


@dataclass
class Follower:
    state: FollowerState
    adapter: BrokerAdapter
    router: Router
    queue: OrderLane = field(init=False)  # set by the engine: this follower's orders, one at a time
    stats: FollowerStats = field(default_factory=FollowerStats)
    positions: dict[str, Position] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)
    drift: dict[str, int] = field(default_factory=dict)
    figures: tuple[float, float, float, float, float, tuple[float, ...]] = (0.0, 0.0, 0.0, 0.0, 0.0, ())
    figures_key: tuple[int, int, int] = (-1, -1, -1)

    @property
    def busy(self) -> int:
        """1 while one of this follower's orders is on its way."""
        return self.queue.busy


class Engine:
    def __init__(
        self,
        *,
        leader_cfg: AccountConfig,
        leader: BrokerAdapter,
        followers: list[tuple[FollowerConfig, BrokerAdapter]],
        journal: Journal,
        reconcile_interval_s: float = 5.0,
        order_timeout_s: float = 10.0,
        flush_interval_s: float = 0.02,
        lease_dir: Path | None = None,
        reconcile: ReconcileConfig | None = None,
    ) -> None:
        self.leader_cfg = leader_cfg
        self.leader = leader
        self.journal = journal
        self.reconcile_cfg = reconcile or ReconcileConfig(interval_s=max(1.0, reconcile_interval_s))
        self.reconcile_interval_s = reconcile.interval_s if reconcile else reconcile_interval_s
        self.last_leader_event_mono = 0.0
        self.last_signal_mono = 0.0
        self.order_timeout_s = order_timeout_s
        self.flush_interval_s = flush_interval_s
        self.builder = SignalBuilder(leader_cfg.name, order_ids_restart=leader.capabilities.order_ids_restart)
        self.followers: dict[str, Follower] = {}
        for cfg, adapter in followers:
            st = FollowerState(cfg=cfg, caps=adapter.capabilities, rule=SizingRule.from_config(cfg))
            self.followers[cfg.name] = Follower(state=st, adapter=adapter, router=Router(st))
        self.tasks = TaskGroup()
        self.gc = GcPacer()
        for name, f in self.followers.items():
            f.queue = OrderLane(name, partial(self._execute_logged, f), self.tasks)
        self.seen: set[str] = set()
        self.signals = 0
        self.duplicates = 0
        self.leader_positions: dict[str, Position] = {}
        self.leader_events: deque[str] = deque(maxlen=50)
        self.log_rows: deque[LogRow] = deque(maxlen=1000)
        self.alerts: deque[Alert] = deque(maxlen=200)
        self.version = 0
        self._seq = 0
        self._listeners: list[Listener] = []
        self.last_reconcile_wall_ns = 0
        self.started = False
        self.failed_to_start: str | None = None
        """The first account whose connect failed while starting (for the one-line error)."""
        self._held_leader_events: list[AccountEvent] | None = None
        self._drops_seen: dict[str, int] = {}
        self._stopping = False
        from copytui.engine.reconciler import Reconciler  # noqa: PLC0415 - the two refer to each other

        self.reconciler = Reconciler(self)
        self.leases = Leases(journal.path, lease_dir)

    # ------------------------------------------------------------------ API
    def add_listener(self, listener: Listener) -> None:
        """``listener(kind, payload)`` is called on the copy path: it must only record, never wait."""
        self._listeners.append(listener)

    def _emit(self, kind: str, payload: object) -> None:
        self.version += 1
        for listener in self._listeners:
            try:
                listener(kind, payload)
            except Exception:  # a desk bug must not stop the copying
                log.exception("listener failed on %s", kind)

    async def start(self) -> None:
        self.leases.take_journal()
        try:
            await asyncio.gather(
                self._connect(self.leader_cfg.name, self.leader),
                *(self._connect(n, f.adapter) for n, f in self.followers.items()),
            )
            # after connect: the broker has said which account each login really is
            self.leases.take(
                [(n, f.adapter.account_key, f.adapter.process_local) for n, f in self.followers.items()],
                leader=(self.leader_cfg.name, self.leader.account_key),
            )
        except BaseException:
            adapters = [self.leader, *(f.adapter for f in self.followers.values())]
            await asyncio.gather(*(a.disconnect() for a in adapters), return_exceptions=True)
            self.leases.release()
            raise
        self._restore()
        await self.reconciler.recover_unresolved()
        for f in self.followers.values():
            try:
                await self.reconciler.refresh_positions(f)
                self.reconciler.start_loss_limit(f)  # seeds our P&L; refuses a limit it cannot compute
            except BrokerError as exc:
                self.raise_alert("warning", f.state.name, "positions unavailable", str(exc))
        for name, f in self.followers.items():
            self.tasks.spawn(self._follower_stream(f), f"follower-stream-{name}")
        # Live leader events wait until the fills missed while copytui was down are copied, so the
        # followers see the leader's fills in the leader's order (invariant 11); a live event that
        # repeats a caught-up fill maps to the same signal id and is dropped.
        self._held_leader_events = []
        self.tasks.spawn(self._leader_stream(), "leader-stream")
        self.tasks.spawn(self._flusher(), "journal-flusher")
        self.tasks.spawn(self._housekeeping(), "housekeeping")
        try:
            await self.reconciler.catch_up_leader()
        finally:
            held, self._held_leader_events = self._held_leader_events, None
            for ev in held:
                self._leader_event_safely(ev)
        self.tasks.spawn(self.reconciler.run(), "reconciler")
        self.started = True
        self.gc.start()  # from now on the collector runs between leader events only

    async def stop(self, settle: bool = True) -> None:
        if self._stopping:
            return
        self._stopping = True
        if settle and self.started:
            await self.drain(timeout_s=5.0)
            await self.reconciler.settle()
        await self.tasks.cancel_all()
        self.gc.stop()
        self.journal.flush()
        adapters = [self.leader, *(f.adapter for f in self.followers.values())]
        await asyncio.gather(*(a.disconnect() for a in adapters), return_exceptions=True)
        self.leases.release()

    async def drain(self, timeout_s: float = 5.0) -> bool:
        """Wait until every follower's queue is empty and no order is on its way."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(f.queue.empty() and f.busy == 0 for f in self.followers.values()):
                self.journal.flush()
                return True
            await asyncio.sleep(0.01)
        return False

    def pause(self, name: str) -> None:
        f = self._follower(name)
        f.state.paused = True
        self.journal.operator_action("pause", name)
        self._log_operator(name, "paused")

    def resume(self, name: str, sync: bool = True) -> None:
        """Resume copying; ``sync`` sends the follower to the leader's position now, otherwise
        the follower waits until the leader is next flat in each symbol it holds."""
        f = self._follower(name)
        f.state.paused = False
        self.journal.operator_action("resume", name, "sync now" if sync else "wait for leader flat")
        self._log_operator(name, "resumed" + (" (sync now)" if sync else " (waiting for flat)"))
        for sym, pos in self.builder.positions.items():
            if sync:
                self._sync_symbol(f, sym, pos)
            elif pos != 0:
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
        self._log_operator(name, "flatten: cancelling orders and closing positions")
        await self._wait_idle(f, 5.0)
        try:
            await f.adapter.flatten()
        except BrokerError as exc:
            self.raise_alert("error", name, "flatten failed", f"flatten failed: {exc}")
            raise
        for it in f.state.intents.values():
            if not it.status.final and it.order.action is OrderAction.PLACE:
                self._finalize(f, it, OrderStatus.CANCELLED, "flattened by operator")
        f.state.basis = {sym: 0 for sym in f.state.basis}
        f.state.held_by_order.clear()
        f.state.mirrored.clear()
        f.state.waiting_flat.clear()
        self._log_operator(name, "flat and paused")
        await self.reconciler.refresh_positions(f)

    async def flatten_all(self) -> None:
        self.journal.operator_action("flatten_all", "*")
        results = await asyncio.gather(*(self.flatten(n) for n in self.followers), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    async def reconcile_now(self) -> None:
        self.journal.operator_action("reconcile", "*")
        self._log_operator("*", "reconcile now")
        drifts = await self.reconciler.reconcile_once(manual=True)
        n = sum(len(d) for d in drifts.values())
        self._log_operator("*", f"reconciled: {n} drifting position(s)" if n else "reconciled: every follower in line")

    def snapshot(self) -> EngineSnapshot:
        return EngineSnapshot(
            version=self.version,
            leader=LeaderView(
                name=self.leader_cfg.name,
                broker=self.leader.broker,
                connection=self.leader.health.state,
                positions={s: p for s, p in self.builder.positions.items() if p},
                # the leader's broker's own figures, 0 where it sends none
                realized_pnl=sum(p.realized_pnl or 0.0 for p in self.leader_positions.values()),
                unrealized_pnl=sum(p.unrealized_pnl or 0.0 for p in self.leader_positions.values()),
                events=tuple(self.leader_events),
            ),
            followers=tuple(self._view(f) for f in self.followers.values()),
            log=tuple(self.log_rows),
            alerts=tuple(self.alerts),
            signals=self.signals,
            duplicates_dropped=self.duplicates,
            last_reconcile_wall_ns=self.last_reconcile_wall_ns,
        )

    def _figures(self, f: Follower) -> tuple[float, float, float, float, float, tuple[float, ...]]:
        """Latency and slippage figures, recomputed only when a new order or fill came in: a
        snapshot is taken between leader events and must stay cheap."""
        s = f.stats
        key = (s.orders, s.fills, len(s.latency_ms))
        if f.figures_key != key:
            lat = list(s.latency_ms)
            slip = list(s.slippage_ticks)
            f.figures = (
                percentile(lat, 0.5),
                percentile(lat, 0.99),
                sum(slip) / len(slip) if slip else 0.0,
                percentile(slip, 0.95),
                sum(s.slippage_cash) / len(s.slippage_cash) if s.slippage_cash else 0.0,
                tuple(lat[-40:]),
            )
            f.figures_key = key
        return f.figures

    def _view(self, f: Follower) -> FollowerView:
        s = f.stats
        p50, p99, slip_avg, slip_p95, cash_avg, history = self._figures(f)
        pnl = self.pnl.figures(f.state.name)
        return FollowerView(
            name=f.state.name,
            broker=f.adapter.broker,
            connection=f.adapter.health.state,
            copy_state=f.state.copy_state,
            rule=f.state.cfg.rule_text(),
            positions={sym: p.qty for sym, p in f.positions.items() if p.qty},
            expected={k: v for k, v in self._expected_now(f).items() if v},
            drift={k: v for k, v in f.drift.items() if v},
            realized_pnl=pnl.realized,
            unrealized_pnl=pnl.unrealized,
            pnl_known=pnl.known,
            broker_pnl=pnl.broker,
            last_latency_ms=s.last_latency_ms,
            orders=s.orders,
            rejects=s.rejects,
            fills=s.fills,
            latency_p50=p50,
            latency_p99=p99,
            slippage_avg_ticks=slip_avg,
            slippage_p95_ticks=slip_p95,
            slippage_avg_cash=cash_avg,
            latency_history=history,
        )

    def _expected_now(self, f: Follower) -> dict[str, int]:
        """What the follower should hold for the leader events copied so far (drift stays the
        reconciler's considered view, which waits for orders in flight)."""
        out: dict[str, int] = {}
        for lsym, lpos in self.builder.positions.items():
            fsym, _ = f.state.map_symbol(lsym)
            out[fsym] = out.get(fsym, 0) + f.state.target(lsym, lpos)
        return out

    def _follower(self, name: str) -> Follower:
        try:
            return self.followers[name]
        except KeyError:
            raise KeyError(f"no follower named {name!r}; configured: {', '.join(self.followers)}") from None

    # ------------------------------------------------------------ restore
    def _restore(self) -> None:
        j = self.journal
        self.seen = j.seen_signal_ids()
        self.builder.restore(j.signals_for_leader(self.leader_cfg.name))
        for f in self.followers.values():
            for row in j.follower_intents(f.state.name):
                order = FollowerOrder(
                    follower=row["follower"],
                    signal_id=row["signal_id"],
                    client_order_id=row["client_order_id"],
                    action=OrderAction(row["action"]),
                    symbol=row["symbol"],
                    side=Side(row["side"]),
                    qty=row["qty"],
                    order_type=OrderType(row["order_type"]),
                    price=row["price"],
                    stop_price=row["stop_price"],
                    leader_symbol=row["leader_symbol"] or row["symbol"],
                    leader_order_id=row["leader_order_id"],
                    target_client_order_id=row["target_client_order_id"],
                    broker_order_id=row["broker_order_id"],
                    reference_price=row["reference_price"],
                    status=OrderStatus(row["status"]),
                )
                status = OrderStatus(row["status"])
                f.state.intents[order.client_order_id] = IntentState(
                    order, status, row["filled_qty"] or 0, row["avg_fill_price"], row["broker_order_id"]
                )
                if order.action is not OrderAction.PLACE or status is OrderStatus.SKIPPED:
                    continue
                counted = order.qty if status in LIVE_STATUSES else (row["filled_qty"] or 0)
                ls = order.leader_symbol
                f.state.basis[ls] = f.state.basis.get(ls, 0) + order.side.sign * counted
                if order.leader_order_id:
                    f.state.held_by_order[order.leader_order_id] = (
                        f.state.held_by_order.get(order.leader_order_id, 0) + counted
                    )
                    if order.order_type is not OrderType.MARKET and not status.final:
                        f.state.mirrored[order.leader_order_id] = order.client_order_id

    # -------------------------------------------------------------- leader
    async def _connect(self, name: str, adapter: BrokerAdapter) -> None:
        try:
            await adapter.connect()
        except BaseException:
            self.failed_to_start = self.failed_to_start or name
            raise

    async def _leader_stream(self) -> None:
        async for ev in self.leader.subscribe():
            if self._held_leader_events is not None:
                self._held_leader_events.append(ev)  # catching up on missed fills: these come after
                continue
            self._leader_event_safely(ev)

    def _leader_event_safely(self, ev: AccountEvent) -> None:
        try:
            self.on_leader_event(ev)
        except Exception as exc:  # one bad event is journaled and skipped; the stream goes on
            log.exception("leader event failed")
            self.journal.error("leader", f"{type(exc).__name__}: {exc}", ev.model_dump_json())
            self.raise_alert("error", self.leader_cfg.name, "bad leader event", f"{type(exc).__name__}: {exc}")

    def on_leader_event(self, ev: AccountEvent) -> None:
        """The hot path. Synchronous from the event to the executors' queues."""
        self.last_leader_event_mono = time.monotonic()
        self.pnl.mark_from(ev)  # the leader's fill prices the contract for every follower's P&L
        if ev.kind is EventKind.POSITION:
            self.leader_events.append(f"position {ev.symbol} {ev.position:+d}")
            self._emit("leader", ev)
            return
        try:
            sig = self.builder.build(ev)
        except (UnknownSymbol, ValueError) as exc:
            self.journal.error("leader", str(exc), ev.model_dump_json())
            self.raise_alert("error", self.leader_cfg.name, "bad leader event", str(exc))
            return
        if sig is None:
            return
        if sig.id in self.seen:
            self.duplicates += 1
            self.journal.count("duplicates_dropped")
            return
        if ev.client_order_id is not None and (echoed := self._echo_of(ev.client_order_id)) is not None:
            # copytui's own follower order came back as a leader order: copying it would feed a loop
            self.journal.count("echoes_dropped")
            self.journal.error("leader", f"echo of {echoed.state.name}'s order {ev.client_order_id}")
            self._stop_runaway(echoed, f"feedback loop: its order {ev.client_order_id} came back as a leader order")
            return
        self.process_signal(sig)

    def _echo_of(self, client_order_id: str) -> Follower | None:
        for f in self.followers.values():
            if client_order_id in f.state.intents:
                return f
        return None

    def _stop_runaway(self, f: Follower, why: str) -> None:
        """Invariant 10's runtime guard: stop the follower at once (nothing more is routed to it),
        open its breaker, then flatten it, with an alert naming the cause."""
        name = f.state.name
        f.state.stopped_by_risk = why
        f.state.breaker.failure(why, True)
        self.journal.operator_action("risk_stop", name, why)
        self.raise_alert("error", name, "feedback loop", f"{why}: flattening and stopping this follower")
        self.tasks.spawn(self._flatten_quietly(name), f"runaway-flatten-{name}")

    async def _flatten_quietly(self, name: str) -> None:
        with contextlib.suppress(BrokerError):  # flatten() raised its own alert
            await self.flatten(name)

    def process_signal(self, sig: Signal) -> None:
        orders: list[FollowerOrder] = []
        for f in self.followers.values():
            try:
                orders.extend(f.router.route(sig))
            except (UnknownSymbol, ValueError) as exc:
                self.journal.error(f"router:{f.state.name}", str(exc), sig.model_dump_json())
                self.raise_alert("error", f.state.name, "cannot route", str(exc))
            if f.state.feedback_trip and not f.state.stopped_by_risk:
                self._stop_runaway(f, f.state.feedback_trip)
        if not self.journal.commit_signal(sig, orders):
            self.duplicates += 1
            return
        self.seen.add(sig.id)
        self.signals += 1
        self.last_signal_mono = self.last_leader_event_mono
        self.reconciler.settle_pending = True
        self.leader_events.append(self._describe(sig))
        for order in orders:
            f = self.followers[order.follower]
            f.state.add_intent(order)
            if order.status is OrderStatus.SKIPPED:
                self._log(order, OrderStatus.SKIPPED, reason=order.reason or "")
                if order.reason and order.reason.startswith("risk:"):
                    self.raise_alert("warning", order.follower, "risk refusal", f"{sig.symbol}: {order.reason}")
                continue
            f.queue.put_nowait(order)
        self._emit("signal", sig)

    @staticmethod
    def _describe(sig: Signal) -> str:
        side = sig.side.value if sig.side else ""
        if sig.kind is SignalKind.FILL:
            at = format_price(sig.symbol, sig.fill_price) if sig.fill_price is not None else "?"
            return f"fill {side} {sig.fill_qty} {sig.symbol} @ {at} -> pos {sig.leader_position:+d}"
        price = sig.price if sig.price is not None else sig.stop_price
        at = f" @ {format_price(sig.symbol, price)}" if price is not None else ""
        return f"{sig.kind.value} {side} {sig.qty} {sig.symbol} {sig.order_type or ''}{at}"

    def _sync_symbol(self, f: Follower, leader_symbol: str, leader_pos: int) -> None:
        target = f.state.target(leader_symbol, leader_pos)
        delta = target - f.state.basis.get(leader_symbol, 0)
        if delta == 0:
            return
        sig = Signal(
            id=signal_id(self.leader_cfg.name, f"sync-{f.state.name}", "operator", time.time_ns()),
            leader=self.leader_cfg.name,
            kind=SignalKind.OPERATOR,
            symbol=leader_symbol,
            side=Side.for_delta(delta),
            leader_position=leader_pos,
            wall_ns=time.time_ns(),
            # no recv_ns: not a leader event, so not in the copy-latency figures
        )
        self.submit_extra(f, sig, delta)

    def submit_extra(self, f: Follower, sig: Signal, delta: int) -> None:
        """Journal and send an order that no leader fill asked for (sync, correction)."""
        if f.state.stopped_by_risk:  # stopped for the session: nothing more goes to it, corrections included
            self._log_operator(f.state.name, f"not sent ({sig.kind.value}): stopped: {f.state.stopped_by_risk}")
            return
        orders = f.router._market(sig, delta)
        if not self.journal.commit_signal(sig, orders):
            return
        for order in orders:
            f.state.add_intent(order)
            f.queue.put_nowait(order)

    def submit_cancel(self, f: Follower, it: IntentState, leader_order_id: str) -> None:
        """Journal and send the cancel of one follower order (the reconciler's mirror policy)."""
        o = it.order
        sig = Signal(
            id=signal_id(self.leader_cfg.name, leader_order_id, f"mirror-cancel-{f.state.name}", 0),
            leader=self.leader_cfg.name,
            kind=SignalKind.CORRECTION,
            leader_order_id=leader_order_id,
            symbol=o.leader_symbol or o.symbol,
            side=o.side,
            wall_ns=time.time_ns(),
            # no recv_ns: not a leader event, so not in the copy-latency figures
        )
        cancel = FollowerOrder(
            follower=f.state.name,
            signal_id=sig.id,
            client_order_id=f.router._coid(sig),
            action=OrderAction.CANCEL,
            symbol=o.symbol,
            side=o.side,
            qty=0,
            leader_symbol=o.leader_symbol,
            leader_order_id=leader_order_id,
            target_client_order_id=o.client_order_id,
            broker_order_id=it.broker_order_id,
            recv_ns=sig.recv_ns,
        )
        if not self.journal.commit_signal(sig, [cancel]):
            return
        f.state.add_intent(cancel)
        f.queue.put_nowait(cancel)

    # ------------------------------------------------------------ executors
    async def _wait_idle(self, f: Follower, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while (not f.queue.empty() or f.busy) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def _execute_logged(self, f: Follower, order: FollowerOrder) -> None:
        try:
            await self._execute(f, order)
        except Exception as exc:  # one bad order must not stop this follower's lane
            log.exception("executing %s failed", order.client_order_id)
            self.journal.error(f"executor:{f.state.name}", f"{type(exc).__name__}: {exc}")

    async def _execute(self, f: Follower, order: FollowerOrder) -> None:
        adapter = f.adapter
        it = f.state.intents.get(order.client_order_id)
        if order.action is not OrderAction.PLACE and order.target_client_order_id:
            target = f.state.intents.get(order.target_client_order_id)
            if target is not None and target.broker_order_id and not order.broker_order_id:
                order = order.model_copy(update={"broker_order_id": target.broker_order_id})
        call = {
            OrderAction.PLACE: adapter.place,
            OrderAction.MODIFY: adapter.modify,
            OrderAction.CANCEL: adapter.cancel,
        }
        try:
            ack = await self._send_paced(f, order, call[order.action])
        except (TimeoutError, AmbiguousOutcome) as exc:
            # invariant 4: we do not know whether the broker has it; ask it later, never resend blindly
            self._breaker_failure(f, f"no answer from {adapter.broker}")
            self.journal.mark_sent(order.client_order_id, time.perf_counter_ns())
            self.journal.set_status(order.client_order_id, OrderStatus.UNKNOWN, f"no answer: {exc or 'timeout'}")
            if it is not None:
                it.status = OrderStatus.UNKNOWN
            self.raise_alert(
                "warning",
                f.state.name,
                "order outcome unknown",
                f"{order.client_order_id}: no answer from {adapter.broker}; will ask by client id",
            )
            self._log(order, OrderStatus.UNKNOWN, reason="no answer: asking the broker")
            return
        except (Disconnected, RateLimited, AuthFailed, OrderRejected) as exc:
            # raised before the request was written: nothing reached the broker
            ack = OrderAck(
                client_order_id=order.client_order_id,
                broker_order_id=None,
                status=OrderStatus.REJECTED,
                sent_ns=time.perf_counter_ns(),
                reason=f"not sent: {type(exc).__name__}: {exc}",
            )
            self.raise_alert("error", f.state.name, type(exc).__name__, str(exc))
            self._breaker_failure(f, f"{type(exc).__name__}: {exc}", fatal=isinstance(exc, AuthFailed))
        else:
            if ack.status is OrderStatus.REJECTED:
                self._breaker_failure(f, f"rejected: {ack.reason}")
            elif f.state.breaker.success():
                self.raise_alert("info", f.state.name, "breaker closed", "probe order accepted: copying again")
        self.journal.record_sent_ack(order.client_order_id, ack)
        latency = (ack.sent_ns - order.recv_ns) / 1e6 if order.recv_ns else None
        if order.action is OrderAction.PLACE:
            f.stats.orders += 1
            if latency is not None:
                f.stats.last_latency_ms = latency
                f.stats.latency_ms.append(latency)
        if it is not None:
            if ack.broker_order_id:
                it.broker_order_id = ack.broker_order_id
            if ack.status is OrderStatus.REJECTED:
                self._finalize(f, it, OrderStatus.REJECTED, ack.reason)
            elif not it.status.final:
                it.status = OrderStatus.CANCELLED if order.action is OrderAction.CANCEL else ack.status
        if (
            order.action is OrderAction.CANCEL
            and ack.status is not OrderStatus.REJECTED
            and order.target_client_order_id
        ):
            target = f.state.intents.get(order.target_client_order_id)
            if target is not None:
                self._finalize(f, target, OrderStatus.CANCELLED, "cancelled after the leader's cancel")
        status = ack.status if it is None or ack.status is OrderStatus.REJECTED else it.status
        self._log(order, status, latency_ms=latency, reason=ack.reason or "")

    async def _send_paced(self, f: Follower, order: FollowerOrder, send) -> OrderAck:  # type: ignore[no-untyped-def]
        """Send once; a RateLimited answer means the request was refused unsent, so waiting out the
        broker's hint and sending the same order (same client id) is not a retry of a sent order."""
        lane = f.queue
        for attempt in range(MAX_RATE_LIMIT_WAITS + 1):
            lane.rearm()
            try:
                return await send(order)  # type: ignore[no-any-return]
            except RateLimited as exc:
                if attempt == MAX_RATE_LIMIT_WAITS or exc.retry_after_s > MAX_RATE_LIMIT_WAIT_S:
                    raise
                self._log(order, OrderStatus.PENDING, reason=f"rate limited: waiting {exc.retry_after_s:g}s")
                lane.rearm(exc.retry_after_s)
                await asyncio.sleep(exc.retry_after_s)
            except asyncio.CancelledError:
                if lane.take_expiry():  # the watchdog: no answer in time
                    raise TimeoutError(f"no answer within {self.order_timeout_s:g}s") from None
                raise
        raise AssertionError("unreachable")

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
        accounts = [(self.leader_cfg.name, self.leader), *((n, f.adapter) for n, f in self.followers.items())]
        for name, adapter in accounts:
            health = adapter.health
            seen = self._drops_seen.get(name, 0)
            if health.dropped > seen:
                new = health.dropped - seen
                self._drops_seen[name] = health.dropped
                self.journal.count(f"dropped:{name}", new)
                self.journal.error(f"adapter:{name}", f"{new} dropped at the edge: {health.last_dropped}")
                self.raise_alert(
                    "warning", name, "dropped at the edge", f"{new} frame(s) refused, latest: {health.last_dropped}"
                )

    def _breaker_failure(self, f: Follower, reason: str, fatal: bool = False) -> None:
        if f.state.breaker.failure(reason, fatal):
            self.journal.operator_action("breaker_open", f.state.name, reason)
            self.raise_alert(
                "error",
                f.state.name,
                "breaker open",
                f"nothing is sent until a probe succeeds in {f.state.breaker.cooldown_s:g}s: {reason}",
            )

    async def stop_for_risk(self, name: str, why: str) -> None:
        """A risk guard stopped the follower: flatten it and copy nothing more this session."""
        f = self._follower(name)
        if f.state.stopped_by_risk:
            return
        f.state.stopped_by_risk = why
        self.journal.operator_action("risk_stop", name, why)
        self.raise_alert("error", name, "risk limit", f"{why}: flattening and disabling")
        await self.flatten(name)

    def _finalize(self, f: Follower, it: IntentState, status: OrderStatus, reason: str | None) -> None:
        """Move an intent to rejected / cancelled once, giving its unfilled part back to the basis."""
        if it.status.final:
            return
        it.status = status
        if it.order.action is OrderAction.PLACE:
            f.state.release(it.order.client_order_id, it.order.qty - it.filled)
        if status is OrderStatus.REJECTED:
            f.stats.rejects += 1
        self.journal.set_status(it.order.client_order_id, status, reason)

    # ------------------------------------------------------ follower events
    async def _follower_stream(self, f: Follower) -> None:
        async for ev in f.adapter.subscribe():
            try:
                self.on_follower_event(f, ev)
            except Exception as exc:  # bad input from a broker is journaled and skipped
                log.exception("follower event failed")
                self.journal.error(f"follower:{f.state.name}", f"{type(exc).__name__}: {exc}", ev.model_dump_json())

    def on_follower_event(self, f: Follower, ev: AccountEvent) -> None:
        if ev.kind is EventKind.POSITION:
            assert ev.symbol is not None and ev.position is not None
            old = f.positions.get(ev.symbol)
            f.positions[ev.symbol] = Position(
                account=ev.account,
                symbol=ev.symbol,
                qty=ev.position,
                avg_price=ev.avg_price or 0.0,
                realized_pnl=old.realized_pnl if old else None,  # None: the broker sent no figure
                unrealized_pnl=old.unrealized_pnl if old else None,
            )
            self._emit("position", f.state.name)
            return
        it = f.state.intents.get(ev.client_order_id or "")
        if it is None:
            if ev.kind is EventKind.FILL:  # not ours (manual trade, flatten order): P&L still counts it
                self.pnl.other_fill(f.state.name, ev)
            return
        if ev.kind is EventKind.FILL:
            self._on_follower_fill(f, it, ev)
        elif ev.kind is EventKind.ORDER_REJECTED:
            self._finalize(f, it, OrderStatus.REJECTED, ev.reason)
            self._log(it.order, OrderStatus.REJECTED, reason=ev.reason or "")
        elif ev.kind is EventKind.ORDER_CANCELLED:
            self._finalize(f, it, OrderStatus.CANCELLED, ev.reason)
        elif ev.kind in (EventKind.ORDER_NEW, EventKind.ORDER_MODIFIED) and ev.order_id:
            it.broker_order_id = ev.order_id

    @cached_property
    def pnl(self) -> PnlBook:
        """Every follower's P&L from its own fills and the marks all accounts' fills give."""
        return PnlBook()

    def _on_follower_fill(self, f: Follower, it: IntentState, ev: AccountEvent) -> None:
        if ev.cum_qty <= it.filled:
            return  # duplicate or stale fill report
        assert ev.fill_price is not None and ev.symbol is not None
        it.filled = ev.cum_qty
        done = it.filled >= it.order.qty
        if done:
            it.status = OrderStatus.FILLED
        elif not it.status.final:
            it.status = OrderStatus.PARTIALLY_FILLED
        ticks = cash = None
        ref = it.order.reference_price
        if ref is not None:
            inst = instrument(ev.symbol)
            raw = inst.ticks_between(ev.fill_price, ref)
            ticks = raw if it.order.side is Side.BUY else -raw
            cash = ticks * inst.tick_value * ev.fill_qty
            f.stats.slippage_ticks.append(ticks)
            f.stats.slippage_cash.append(cash)
        f.stats.fills += 1
        self.pnl.fill(f.state.name, ev.symbol, it.order.side, ev.fill_qty, ev.fill_price)
        self.journal.record_fill(
            f.state.name,
            ev.fill_id or f"{ev.order_id}-{ev.cum_qty}",
            it.order.client_order_id,
            ev.symbol,
            it.order.side,
            ev.fill_qty,
            ev.fill_price,
            ev.cum_qty,
            ev.avg_price or ev.fill_price,
            done,
            ticks,
            cash,
            time.perf_counter_ns(),
        )
        self._log(it.order, it.status, fill_price=ev.fill_price, slippage=ticks)

    # ---------------------------------------------------------- bookkeeping
    async def _flusher(self) -> None:
        # small transactions with a loop turn between them: a leader event never waits on a big batch
        while True:
            await asyncio.sleep(self.flush_interval_s)
            while self.journal.flush_some():
                await asyncio.sleep(0)
            self.gc.tick(time.monotonic() - self.last_leader_event_mono)  # between events, like the flushing

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _log(
        self,
        order: FollowerOrder,
        status: OrderStatus,
        *,
        latency_ms: float | None = None,
        fill_price: float | None = None,
        slippage: float | None = None,
        reason: str = "",
    ) -> None:
        row = LogRow(
            seq=self._next_seq(),
            wall_ns=time.time_ns(),
            signal_id=order.signal_id,
            follower=order.follower,
            symbol=order.symbol,
            side=order.side.value,
            qty=order.qty,
            status=status.value,
            action=order.action.value,
            client_order_id=order.client_order_id,
            latency_ms=latency_ms,
            fill_price=fill_price,
            slippage_ticks=slippage,
            reason=reason,
        )
        self.log_rows.append(row)
        self._emit("log", row)

    def _log_operator(self, name: str, what: str) -> None:
        row = LogRow(
            seq=self._next_seq(),
            wall_ns=time.time_ns(),
            signal_id="operator",
            follower=name,
            symbol="",
            side="",
            qty=0,
            status="operator",
            action="operator",
            reason=what,
        )
        self.log_rows.append(row)
        self._emit("log", row)

    def raise_alert(self, level: str, follower: str, kind: str, message: str) -> None:
        alert = Alert(self._next_seq(), time.time_ns(), level, follower, kind, message)
        self.alerts.append(alert)
        self.journal.alert(level, follower, kind, message)
        self._emit("alert", alert)

    @property
    def copy_states(self) -> dict[str, str]:
        return {n: f.state.copy_state for n, f in self.followers.items()}


__all__ = ["CopyState", "Engine", "Follower"]
