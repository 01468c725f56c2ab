"""The copier: leader event -> Signal -> route per follower -> journal commit -> order lanes.

The only maker of signals: the leader's own (through the SignalBuilder) and the synthetic ones
(an operator's sync, the reconciler's corrections, the mirror policy's cancels and market rests).
Synchronous from the event to the lanes: the hot path (invariant 1: nothing leaves before the
journal has the signal and its intents). Changes copytui makes to a follower's working orders on
its own (the OCO emulation, an orphan's cancel) are journaled here too, with their reason."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from copytui.engine import ids
from copytui.engine.blotter import AlertLevel, Blotter
from copytui.engine.follower import Follower
from copytui.engine.intents import IntentState
from copytui.engine.market import Market
from copytui.engine.pnl import PnlBook
from copytui.engine.signals import LeaderOrder, SignalBuilder
from copytui.instruments import UnknownSymbol
from copytui.journal import Journal
from copytui.models import AccountEvent, EventKind, FollowerOrder, MarketMark, OrderStatus, Side, Signal, SignalKind

log = logging.getLogger("copytui.engine")

_SKIPPED = OrderStatus.SKIPPED  # a module name: an enum member read through its class costs ~70 ns on 3.11

RunawayStop = Callable[[Follower, str], None]
"""Invariant 10's guard tripped for this follower, for this reason: stop it now."""


class Copier:
    def __init__(
        self,
        leader: str,
        builder: SignalBuilder,
        followers: dict[str, Follower],
        journal: Journal,
        blotter: Blotter,
        pnl: PnlBook,
        stop_runaway: RunawayStop,
        market: Market,
        everyone: dict[str, Follower] | None = None,
    ) -> None:
        """``followers``: those that follow this leader (its signals are routed to them);
        ``everyone``: every follower of the engine (a leader order that is one of theirs is an echo)."""
        self.leader = leader
        self.market = market
        self.builder = builder
        self.followers = followers
        self.everyone = followers if everyone is None else everyone
        self.journal = journal
        self.blotter = blotter
        self.pnl = pnl
        self.stop_runaway = stop_runaway
        self.seen: set[str] = set()
        self.signals = 0
        self.duplicates = 0
        self.last_leader_event_mono = 0.0
        self.last_signal_mono = 0.0
        self.held: list[AccountEvent] | None = None
        """While not None, live leader events wait here (the start's catch-up is running)."""

    # ------------------------------------------------------------ the leader's events
    def take(self, ev: AccountEvent) -> None:
        """A live leader event from the stream: copied now, or held while catching up."""
        if self.held is not None:
            self.held.append(ev)  # catching up on missed fills: these come after
            return
        self.safely(ev)

    def release_held(self) -> None:
        held, self.held = self.held or [], None
        for ev in held:
            self.safely(ev)

    def safely(self, ev: AccountEvent) -> None:
        try:
            self.on_leader_event(ev)
        except Exception as exc:  # one bad event is journaled and skipped; the stream goes on
            log.exception("leader event failed")
            self.journal.error("leader", f"{type(exc).__name__}: {exc}", ev.model_dump_json())
            self.blotter.alert(AlertLevel.ERROR, self.leader, "bad leader event", f"{type(exc).__name__}: {exc}")

    def on_leader_event(self, ev: AccountEvent) -> None:
        """The hot path. Synchronous from the event to the executors' queues."""
        self.last_leader_event_mono = time.monotonic()
        self.pnl.mark_from(ev)  # the leader's fill prices the contract for every follower's P&L
        if ev.kind is EventKind.POSITION:
            self.blotter.leader_said(f"position {ev.symbol} {ev.position:+d}", self.leader)
            return
        try:
            sig = self.builder.build(ev)
        except (UnknownSymbol, ValueError) as exc:
            self.journal.error("leader", str(exc), ev.model_dump_json())
            self.blotter.alert(AlertLevel.ERROR, self.leader, "bad leader event", str(exc))
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
            self.journal.error("leader", f"echo of {echoed.name}'s order {ev.client_order_id}")
            self.stop_runaway(echoed, f"feedback loop: its order {ev.client_order_id} came back as a leader order")
            return
        self.process_signal(sig, self.market.take(sig.id, sig.symbol), ev.cursor)

    def _echo_of(self, client_order_id: str) -> Follower | None:
        for f in self.everyone.values():
            if client_order_id in f.state.intents:
                return f
        return None

    def process_signal(self, sig: Signal, mark: MarketMark | None = None, cursor: str | None = None) -> None:
        """Route ``sig`` to every follower, journal it with its intents (and ``mark``, the market of
        the moment its event was read) in one commit, and queue the orders."""
        orders: list[FollowerOrder] = []
        for f in self.followers.values():
            try:
                orders.extend(f.router.route(sig))
            except (UnknownSymbol, ValueError) as exc:
                self.journal.error(f"router:{f.name}", str(exc), sig.model_dump_json())
                self.blotter.alert(AlertLevel.ERROR, f.name, "cannot route", str(exc))
            if f.state.feedback_trip and not f.state.stopped_by_risk:
                self.stop_runaway(f, f.state.feedback_trip)
        if not self.journal.commit_signal(sig, orders, mark, cursor):
            self.duplicates += 1
            return
        self.seen.add(sig.id)
        self.signals += 1
        self.last_signal_mono = self.last_leader_event_mono
        for order in orders:
            f = self.followers[order.follower]
            f.state.add_intent(order)
            if order.status is _SKIPPED:
                self.blotter.order(order, OrderStatus.SKIPPED, reason=order.reason or "")
                if order.reason and order.reason.startswith("risk:"):
                    self.blotter.alert(
                        AlertLevel.WARNING, order.follower, "risk refusal", f"{sig.symbol}: {order.reason}"
                    )
                continue
            f.queue.put_nowait(order)
        self.blotter.signal(sig)

    # ------------------------------------------------------------ synthetic signals
    def _synthetic(
        self,
        sid: str,
        kind: SignalKind,
        symbol: str,
        side: Side,
        *,
        leader_order_id: str | None = None,
        leader_position: int = 0,
    ) -> Signal:
        # no recv_ns: not a leader event, so not in the copy-latency figures
        return Signal(
            id=sid,
            leader=self.leader,
            kind=kind,
            leader_order_id=leader_order_id,
            symbol=symbol,
            side=side,
            leader_position=leader_position,
            wall_ns=time.time_ns(),
        )

    def sync(self, f: Follower, leader_symbol: str, leader_pos: int) -> None:
        """Send the follower to the leader's position in one symbol now (resume with sync)."""
        delta = f.state.target(leader_symbol, leader_pos, self.leader) - f.state.held_for_sync(leader_symbol)
        if delta == 0:
            return
        sig = self._synthetic(
            ids.sync_signal_id(self.leader, f.name),
            SignalKind.OPERATOR,
            leader_symbol,
            Side.for_delta(delta),
            leader_position=leader_pos,
        )
        self._send_extra(f, sig, delta)

    def correct(self, f: Follower, leader_symbol: str, follower_symbol: str, qty: int) -> None:
        """The reconciler's bounded auto-correction of a drift."""
        sig = self._synthetic(
            ids.correction_signal_id(self.leader, f.name, follower_symbol),
            SignalKind.CORRECTION,
            leader_symbol,
            Side.for_delta(qty),
            leader_position=self.builder.positions.get(leader_symbol, 0),
        )
        self._send_extra(f, sig, qty)

    def mirror_rest_at_market(self, f: Follower, lo: LeaderOrder, missing: int) -> None:
        """A mirrored copy was cancelled unfilled after its leader order filled: the rest at market."""
        sig = self._synthetic(
            ids.mirror_market_signal_id(self.leader, lo.order_id, f.name, lo.cum_qty),
            SignalKind.CORRECTION,
            lo.symbol,
            lo.side,
            leader_order_id=lo.order_id,
            leader_position=self.builder.positions.get(lo.symbol, 0),
        )
        self._send_extra(f, sig, lo.side.sign * missing)

    def _send_extra(self, f: Follower, sig: Signal, delta: int) -> None:
        """Journal and send an order that no leader fill asked for (sync, correction)."""
        if f.state.stopped_by_risk:  # stopped for the session: nothing more goes to it, corrections included
            self.blotter.operator(f.name, f"not sent ({sig.kind.value}): stopped: {f.state.stopped_by_risk}")
            return
        orders = f.router.market(sig, delta)
        if not self.journal.commit_signal(sig, orders):
            return
        for order in orders:
            f.state.add_intent(order)
            f.queue.put_nowait(order)

    def mirror_cancel(self, f: Follower, it: IntentState, leader_order_id: str) -> None:
        """Journal and send the cancel of one follower order (the reconciler's mirror policy)."""
        o = it.order
        sig = self._synthetic(
            ids.mirror_cancel_signal_id(self.leader, leader_order_id, f.name),
            SignalKind.CORRECTION,
            o.leader_symbol or o.symbol,
            o.side,
            leader_order_id=leader_order_id,
        )
        cancel = f.router.cancel_copy(sig, it)
        if not self.journal.commit_signal(sig, [cancel]):
            return
        f.state.add_intent(cancel)
        f.queue.put_nowait(cancel)

    def change_working(self, f: Follower, it: IntentState, qty: int, reason: str, key: str, marker: str) -> bool:
        """Journal and send a change copytui itself makes to one of a follower's working orders:
        ``qty`` 0 cancels it, otherwise it keeps ``qty`` (fills included) at its leader order's
        prices. ``reason`` goes with each order to the journal and the log; (``key``, ``marker``)
        make the signal id, so the same change is never journaled twice. False when it was."""
        o = it.order
        lo = self.builder.orders.get(o.leader_order_id or "")
        symbol = o.leader_symbol or o.symbol
        sig = Signal(
            id=ids.signal_id(self.leader, key, "working-order", marker),
            leader=self.leader,
            kind=SignalKind.CORRECTION,
            leader_order_id=o.leader_order_id,
            symbol=symbol,
            side=o.side,
            order_type=o.order_type,
            qty=qty,
            price=lo.price if lo else o.price,
            stop_price=lo.stop_price if lo else o.stop_price,
            leader_position=self.builder.positions.get(symbol, 0),
            oco_group=lo.oco_group if lo else None,
            wall_ns=time.time_ns(),
        )
        routed = [f.router.cancel_copy(sig, it)] if qty == 0 else f.router.change_copy(sig, it, qty)
        orders = [order.model_copy(update={"reason": reason}) for order in routed]
        if not self.journal.commit_signal(sig, orders):
            return False
        for order in orders:
            f.state.add_intent(order)
            f.queue.put_nowait(order)
        return True
