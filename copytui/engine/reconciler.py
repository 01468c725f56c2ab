"""Positions are the truth (invariant 5): recovery on start, leader gap recovery, reconciliation.

Every pass compares each follower's expected position (the leader's broker-reported position
through the follower's rules) with the follower's broker-reported position, names the cause of
any drift, raises an alert when it persists, and, when the follower opted in, sends a bounded
correction order that is journaled like any other. A stop or limit of copytui's left working at a
flat follower while the leader is flat and has no order it mirrors is an orphan: alerted, and
cancelled where the follower opted in.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

from adapters.base import BrokerError
from copytui.config import ReconcileConfig
from copytui.engine.blotter import AlertLevel, Blotter, Reconciled
from copytui.engine.execution import WAITING_ON_BROKER, Execution
from copytui.engine.follower import Follower
from copytui.engine.intents import IntentState
from copytui.engine.leaders import LeaderSide, primary
from copytui.engine.losslimit import LossLimits
from copytui.engine.pnl import PnlBook
from copytui.journal import Journal
from copytui.models import AccountEvent, OrderAction, OrderInfo, OrderStatus, Position

T = TypeVar("T")

log = logging.getLogger("copytui.engine.reconciler")

CORRECTION_COOLDOWN_S = 2.0
CORRECTIONS_PER_HOUR = 30


async def _read(what: str, call: Callable[[], Awaitable[T]], attempts: int = 3) -> T:
    """Reads are retried with backoff (invariant 4); writes never are."""
    delay = 0.1
    for i in range(attempts):
        try:
            return await call()
        except BrokerError as exc:
            if i == attempts - 1:
                raise
            log.warning("%s failed (%s), retrying in %.1fs", what, exc, delay)
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


class Reconciler:
    def __init__(
        self,
        leaders: dict[str, LeaderSide],
        followers: dict[str, Follower],
        execution: Execution,
        blotter: Blotter,
        journal: Journal,
        pnl: PnlBook,
        cfg: ReconcileConfig,
        interval_s: float,
        stop_for_risk: Callable[[str, str], Awaitable[None]],
        drain: Callable[[float], Awaitable[bool]],
    ) -> None:
        self.leaders = leaders
        self.followers = followers
        self.execution = execution
        self.blotter = blotter
        self.journal = journal
        self.pnl = pnl
        self.cfg = cfg
        self.interval_s = interval_s
        self.stop_for_risk = stop_for_risk
        self.drain = drain
        self.loss = LossLimits(journal, blotter, pnl, stop_for_risk)
        self.last_reconcile_wall_ns = 0
        self._signals_seen = 0
        self._persist: dict[tuple[str, str], object] = {}
        self._alerted: dict[tuple[str, str], tuple[int, str]] = {}
        self._corrections: dict[str, deque[float]] = {}  # per follower: the hourly budget
        self._last_correction: dict[tuple[str, str], float] = {}  # per follower and symbol: the cooldown
        self._unknown_misses: dict[str, int] = {}
        self._mirror_phase: dict[tuple[str, str], tuple[str, float]] = {}
        self.passes = 0
        self.last_pass_mono = 0.0

    @staticmethod
    def _orders_of(side: LeaderSide) -> Callable[[], Awaitable[list[OrderInfo]]]:
        """Reads ``side``'s working orders from its broker, retried as reads are."""
        return partial(_read, f"{side.name} open orders", side.adapter.open_orders)

    @property
    def leader_positions(self) -> dict[str, Position]:
        """The first leader's positions as its broker last reported them."""
        return next(iter(self.leaders.values())).positions

    def _reconnects(self) -> int:
        leaders = sum(side.adapter.health.reconnects for side in self.leaders.values())
        return leaders + sum(f.adapter.health.reconnects for f in self.followers.values())

    def _signals(self) -> int:
        return sum(side.copier.signals for side in self.leaders.values())

    async def run(self, tick_s: float = 0.25) -> None:
        """Passes on a timer, after a fan-out settles, and after any reconnect (once quiet)."""
        cfg, copiers = self.cfg, [side.copier for side in self.leaders.values()]
        next_pass = time.monotonic() + self.interval_s
        seen_reconnects = self._reconnects()
        while True:
            await asyncio.sleep(tick_s)
            now = time.monotonic()
            self._mirror_timeouts(now)
            reason = ""
            reconnects = self._reconnects()
            last_event = max(c.last_leader_event_mono for c in copiers)
            if reconnects != seen_reconnects and now - last_event >= cfg.reconnect_quiet_s:
                seen_reconnects, reason = reconnects, "reconnect"
            elif (
                cfg.after_fanout
                and self._signals() != self._signals_seen
                and now - max(c.last_signal_mono for c in copiers) >= 0.2
                and now - self.last_pass_mono >= cfg.min_gap_s
                and not any(self._in_flight(f) for f in self.followers.values())
            ):
                reason = "fan-out settled"
            elif now >= next_pass:
                reason = "interval"
            if not reason:
                continue
            self._signals_seen = self._signals()
            next_pass = now + self.interval_s
            try:
                await self.reconcile_once()
            except BrokerError as exc:
                self.blotter.alert(
                    AlertLevel.WARNING, "*", "reconcile failed", f"reconciliation pass ({reason}) failed: {exc}"
                )

    def _mirror_timeouts(self, now: float) -> None:
        """Mirror mode: a leader order filled while the follower's copy still works."""
        for f in self.followers.values():
            cfg = f.state.cfg
            if cfg.mode != "mirror" or cfg.mirror_unfilled == "leave":
                continue
            copier = primary(f, self.leaders).copier
            for loid, coid in list(f.state.mirrored.items()):
                lo = copier.builder.orders.get(loid)
                it = f.state.intents.get(coid)
                if lo is None or it is None or not lo.done or lo.cum_qty == 0:
                    continue
                key = (f.state.name, loid)
                phase = self._mirror_phase.get(key)
                if phase is None:
                    if not it.status.final:
                        self._mirror_phase[key] = ("waiting", now)
                    continue
                state, since = phase
                if state == "waiting" and not it.status.final and now - since >= cfg.mirror_unfilled_after_s:
                    self._mirror_phase[key] = ("cancelling", now)
                    self.blotter.alert(
                        AlertLevel.WARNING,
                        f.state.name,
                        "mirror copy unfilled",
                        f"leader order {loid} filled {cfg.mirror_unfilled_after_s:g}s ago; cancelling the copy"
                        + (" and sending the rest at market" if cfg.mirror_unfilled == "market" else ""),
                    )
                    copier.mirror_cancel(f, it, loid)
                elif state in ("waiting", "cancelling") and it.status.final:
                    del f.state.mirrored[loid]
                    self._mirror_phase[key] = ("done", now)
                    if state == "cancelling" and cfg.mirror_unfilled == "market":
                        _, factor = f.state.map_symbol(lo.symbol)
                        missing = f.state.rule.qty(lo.cum_qty, factor) - it.filled
                        if missing > 0:
                            copier.mirror_rest_at_market(f, lo, missing)

    # ----------------------------------------------------------- recovery
    async def recover_unresolved(self) -> None:
        """Intents without a final state are resolved by asking the broker before anything is resent;
        the copies of the leader's OCO legs are paired again."""
        for side in self.leaders.values():
            await side.oco.pair_again(self._orders_of(side))
        for f in self.followers.values():
            for it in list(f.state.intents.values()):
                if it.status in (OrderStatus.WORKING, OrderStatus.PARTIALLY_FILLED):
                    await self._refresh_working(f, it)
                    continue
                if it.status not in WAITING_ON_BROKER:
                    continue
                coid = it.order.client_order_id
                try:
                    info = await _read("find_order", partial(f.adapter.find_order, coid))
                except BrokerError as exc:
                    self.blotter.alert(
                        AlertLevel.ERROR,
                        f.state.name,
                        "recovery blocked",
                        f"cannot ask {f.adapter.broker} about {coid}: {exc}; not resending",
                    )
                    continue
                if info is not None:
                    self.execution.apply_info(f, it, info)
                    self.journal.operator_action(
                        "recovered", f.state.name, f"{coid}: found at the broker, {info.status}"
                    )
                    continue
                # the broker never saw it: sending it now is the first send, not a retry
                self.journal.operator_action("recovered", f.state.name, f"{coid}: unknown to the broker, sending")
                self.execution.resend(f, it, "resent after restart: broker had no record")

    async def _refresh_working(self, f: Follower, it: IntentState) -> None:
        """An order journaled as working may have filled or ended while copytui was down (its report
        lost with the process): ask, and take what the broker says. Never resent."""
        coid = it.order.client_order_id
        try:
            info = await _read("find_order", partial(f.adapter.find_order, coid))
        except BrokerError:
            return  # the reconciler's positions still tell; nothing is sent on a guess
        group = it.order.oco_group
        if info is not None and info.oco_group is not None and group is not None:
            f.state.native_oco.add(group)  # its broker holds the leg in an OCO of its own: it keeps the pair
        if info is None or (info.status == it.status and info.filled_qty <= it.filled):
            return
        self.execution.apply_info(f, it, info)
        self.journal.operator_action(
            "recovered", f.state.name, f"{coid}: {info.status} at the broker, {info.filled_qty} filled"
        )

    async def catch_up_leader(self) -> None:
        """Replay each leader's fills since its journaled cursor through the idempotent path. Several
        leaders' missed fills are replayed merged by time, each leader's in its own order, so a
        follower of several passes through the sums of their positions as they happened."""
        fetched: list[tuple[LeaderSide, str | None, str | None, list[AccountEvent]]] = []
        for side in self.leaders.values():
            cursor = self.journal.get_cursor(side.name)
            try:
                events, new_cursor = await _read("fills_since", partial(side.adapter.fills_since, cursor))
            except BrokerError as exc:
                self.blotter.alert(
                    AlertLevel.ERROR, side.name, "gap recovery failed", f"cannot fetch leader fills: {exc}"
                )
                continue
            fetched.append((side, cursor, new_cursor, events if cursor is not None else []))
        streams = [[(ev.wall_ns, side, ev) for ev in events] for side, _, _, events in fetched]
        for _, side, ev in heapq.merge(*streams, key=lambda item: item[0]):
            side.copier.on_leader_event(ev)
        for side, cursor, new_cursor, _ in fetched:
            if new_cursor != cursor:
                self.journal.set_cursor(side.name, new_cursor)

    # ------------------------------------------------------ reconciliation
    async def refresh_positions(self, f: Follower) -> None:
        positions = await _read("positions", f.adapter.positions)
        f.positions = {p.symbol: p for p in positions}

    def _in_flight(self, f: Follower) -> bool:
        if not f.idle():
            return True
        return any(
            it.order.action is OrderAction.PLACE and it.status in (OrderStatus.PENDING, OrderStatus.SENT)
            for it in f.state.not_final()
        )

    async def reconcile_once(self, manual: bool = False) -> dict[str, dict[str, int]]:
        self.passes += 1
        self.last_pass_mono = time.monotonic()
        await self.catch_up_leader()
        # Expected positions follow the leader events copytui has processed; each leader broker's
        # own view only tells whether events were missed (a fill just made is not yet drift).
        broker_leader: dict[str, dict[str, int]] = {}
        for side in self.leaders.values():
            reported = await _read(f"{side.name} positions", side.adapter.positions)
            side.positions = {p.symbol: p for p in reported}
            broker_leader[side.name] = {p.symbol: p.qty for p in reported}
            self._leader_gap(side.name, broker_leader[side.name], dict(side.builder.positions))
        rows: list[tuple[str, str, int, int]] = []
        drifts: dict[str, dict[str, int]] = {}
        for f in self.followers.values():
            try:
                await self.refresh_positions(f)
                open_orders = await _read("open orders", f.adapter.open_orders)
            except BrokerError as exc:
                self.blotter.alert(
                    AlertLevel.WARNING, f.state.name, "reconcile failed", f"cannot read positions: {exc}"
                )
                continue
            await self._resolve_unknown(f)
            await self._check_loss(f)
            expected = f.state.expected(s for name in f.state.follows for s in broker_leader.get(name, ()))
            actual = {s: p.qty for s, p in f.positions.items()}
            coming = f.state.on_its_way()
            f.expected = expected
            f.drift = {}
            in_flight = self._in_flight(f)
            for sym in sorted(set(expected) | set(actual)):
                # market orders on their way (sent, not yet filled) are what closes the gap, not drift
                drift = expected.get(sym, 0) - actual.get(sym, 0) - coming.get(sym, 0)
                rows.append((f.state.name, sym, expected.get(sym, 0), actual.get(sym, 0)))
                if drift:
                    f.drift[sym] = drift
                    drifts.setdefault(f.state.name, {})[sym] = drift
                self._judge(f, sym, drift, open_orders, in_flight, manual)
            self._orphans(f, open_orders)
            if not in_flight and len(f.state.follows) <= 1:  # a bracket is one leader's
                side = primary(f, self.leaders)
                await side.oco.orphan_stops(f, open_orders, broker_leader[side.name], self._orders_of(side), manual)
        self.journal.record_reconciliation(rows)
        self.last_reconcile_wall_ns = time.time_ns()
        self.blotter.emit(Reconciled(drifts))
        return drifts

    def start_loss_limit(self, f: Follower) -> None:
        self.loss.start(f)

    async def _check_loss(self, f: Follower) -> None:
        if await self.loss.check(f, settled=not self._in_flight(f)):
            await self.refresh_positions(f)  # flattened by the limit: read what it holds now

    async def _resolve_unknown(self, f: Follower) -> None:
        for it in f.state.not_final():
            if it.status is not OrderStatus.UNKNOWN:
                continue
            coid = it.order.client_order_id
            info = await _read("find_order", partial(f.adapter.find_order, coid))
            if info is not None:
                self.execution.apply_info(f, it, info)
                self._unknown_misses.pop(coid, None)
                continue
            misses = self._unknown_misses.get(coid, 0) + 1
            self._unknown_misses[coid] = misses
            if misses >= 3:
                self.execution.never_arrived(f, it)
                self.blotter.alert(
                    AlertLevel.WARNING,
                    f.state.name,
                    "order never arrived",
                    f"{coid} is unknown to {f.adapter.broker}: counted as not sent",
                )

    def _cause(self, f: Follower, sym: str, drift: int, actual_has: bool, working: bool) -> tuple[AlertLevel, str]:
        if not f.state.cfg.enabled:
            return AlertLevel.INFO, "follower disabled"
        if f.state.paused:
            return AlertLevel.INFO, "follower paused"
        if f.state.waiting_flat:
            return AlertLevel.INFO, "waiting for the leader to be flat"
        if working:
            return AlertLevel.INFO, "working order not filled yet"
        if not actual_has:
            return AlertLevel.WARNING, "missing position"
        return AlertLevel.WARNING, "wrong size"

    def _leader_gap(self, name: str, broker: dict[str, int], copied: dict[str, int]) -> None:
        """A leader's broker position and its copied events disagree on two passes running: say so."""
        gaps = {s: (broker.get(s, 0), copied.get(s, 0)) for s in set(broker) | set(copied)
                if broker.get(s, 0) != copied.get(s, 0)}  # fmt: skip
        tag = f"*leader:{name}*"
        for sym, (b, c) in gaps.items():
            key = (tag, sym)
            if self._persist.get(key) == (b, c):
                if self._alerted.get(key) != (b - c, "gap"):
                    self._alerted[key] = (b - c, "gap")
                    self.blotter.alert(AlertLevel.ERROR, name, "leader gap",
                                       f"leader holds {b:+d} {sym} at the broker but copytui copied {c:+d}: "
                                       "events were missed and gap recovery could not fetch them")  # fmt: skip
            self._persist[key] = (b, c)
        for key in [k for k in self._persist if k[0] == tag and k[1] not in gaps]:
            del self._persist[key]
            self._alerted.pop(key, None)

    def _judge(
        self, f: Follower, sym: str, drift: int, open_orders: list[OrderInfo], in_flight: bool, manual: bool
    ) -> None:
        key = (f.state.name, sym)
        if drift == 0:
            self._persist.pop(key, None)
            if key in self._alerted:
                del self._alerted[key]
                self.blotter.alert(AlertLevel.INFO, f.state.name, "drift cleared", f"{sym} back in line")
            return
        if in_flight:
            return
        working = any(o.symbol == sym for o in open_orders)
        actual_has = bool(f.positions.get(sym) and f.positions[sym].qty)
        level, cause = self._cause(f, sym, drift, actual_has, working)
        # the same drift on two passes running, unless the trader asked (r)
        seen_before = self._persist.get(key) == drift
        self._persist[key] = drift
        if not seen_before and not manual:
            return
        if level is AlertLevel.INFO and cause == "working order not filled yet":
            return  # visible in the grid; not worth an alert
        # a paused follower drifts with every leader trade: one alert per cause, not per size
        mark = (0 if level is AlertLevel.INFO else drift, cause)
        if self._alerted.get(key) != mark:
            self._alerted[key] = mark
            self.blotter.alert(
                level,
                f.state.name,
                "drift",
                f"{sym} expected {f.expected.get(sym, 0):+d}, broker {drift * -1 + f.expected.get(sym, 0):+d}: {cause}",
            )
        if level is AlertLevel.WARNING and f.state.cfg.auto_correct:
            self._correct(f, sym, drift)

    def _correct(self, f: Follower, sym: str, drift: int) -> None:
        now = time.monotonic()
        history = self._corrections.setdefault(f.state.name, deque())
        while history and now - history[0] > 3600:
            history.popleft()
        last = self._last_correction.get((f.state.name, sym), -CORRECTION_COOLDOWN_S)
        if now - last < CORRECTION_COOLDOWN_S:
            return
        if len(history) >= CORRECTIONS_PER_HOUR:
            self.blotter.alert(
                AlertLevel.ERROR,
                f.state.name,
                "correction limit",
                f"{CORRECTIONS_PER_HOUR} corrections this hour: not correcting {sym} again",
            )
            return
        history.append(now)
        self._last_correction[(f.state.name, sym)] = now
        qty = max(-f.state.cfg.max_correction_qty, min(f.state.cfg.max_correction_qty, drift))
        leader_symbol = next((ls for ls in f.state.cfg.symbol_map if f.state.cfg.symbol_map[ls].symbol == sym), sym)
        self.journal.operator_action("auto_correct", f.state.name, f"{sym} {qty:+d}")
        self.blotter.alert(AlertLevel.WARNING, f.state.name, "auto-correct", f"sending {qty:+d} {sym} to remove drift")
        primary(f, self.leaders).copier.correct(f, leader_symbol, sym, qty)
        self._persist.pop((f.state.name, sym), None)

    def _orphans(self, f: Follower, open_orders: list[OrderInfo]) -> None:
        for o in open_orders:
            it = f.state.intents.get(o.client_order_id or "")
            if it is None or it.status.final:
                key = (f.state.name, f"orphan:{o.broker_order_id}")
                if key not in self._alerted:
                    self._alerted[key] = (0, "orphan")
                    self.blotter.alert(
                        AlertLevel.WARNING,
                        f.state.name,
                        "orphan working order",
                        f"{o.side} {o.qty} {o.symbol} {o.order_type} ({o.broker_order_id}) "
                        "is working at the broker but not expected by copytui",
                    )

    async def settle(self, passes: int = 6) -> dict[str, dict[str, int]]:
        """Reconcile until no correctable drift is left and no order is on its way (used when
        stopping: a pass may itself copy leader fills it catches up on)."""
        drifts: dict[str, dict[str, int]] = {}
        for _ in range(passes):
            try:
                drifts = await self.reconcile_once()
            except BrokerError:
                return drifts
            if not drifts and not any(self._in_flight(f) for f in self.followers.values()):
                return drifts
            await self.drain(3.0)
            await asyncio.sleep(0.15)
        return drifts
