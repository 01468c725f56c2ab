"""Execution: a follower order from its lane to the broker and back. The one owner of an order's
status: every change of an ``IntentState``'s status is made here.

send (paced by rate limits, never blindly retried: invariant 4) -> ack -> fills -> final state,
each step journaled; the breaker counts failures; fills feed P&L and the slippage figures; a fill
of an OCO leg is passed on to whoever keeps the follower's OCO groups (``on_leg_fill``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from adapters.base import AmbiguousOutcome, AuthFailed, BrokerError, Disconnected, OrderRejected, RateLimited
from copytui.engine.blotter import AlertLevel, Blotter, PositionChanged
from copytui.engine.follower import Follower
from copytui.engine.intents import IntentState
from copytui.engine.lane import Pair
from copytui.engine.market import Market
from copytui.engine.pnl import PnlBook
from copytui.instruments import instrument
from copytui.journal import Journal
from copytui.models import (
    AccountEvent,
    EventKind,
    FollowerOrder,
    OrderAck,
    OrderAction,
    OrderInfo,
    OrderStatus,
    Position,
    Side,
)

log = logging.getLogger("copytui.engine")

# a follower order refused unsent by a rate limit waits out the broker's hint this often, this long
MAX_RATE_LIMIT_WAITS = 3
MAX_RATE_LIMIT_WAIT_S = 10.0

WAITING_ON_BROKER = (OrderStatus.PENDING, OrderStatus.SENT, OrderStatus.UNKNOWN)
"""Statuses a restart must resolve by asking the broker before anything is resent."""

# An enum member read through its class costs about 70 ns on 3.11: the send path reads these.
_PLACE = OrderAction.PLACE
_MODIFY = OrderAction.MODIFY

T = TypeVar("T")

LegFilled = Callable[[Follower, IntentState], None]
"""Told of every fill of a follower order that is a leg of an OCO group, once its intent counts it."""


class Execution:
    def __init__(
        self, journal: Journal, blotter: Blotter, pnl: PnlBook, order_timeout_s: float, market: Market
    ) -> None:
        self.journal = journal
        self.market = market
        self.blotter = blotter
        self.pnl = pnl
        self.order_timeout_s = order_timeout_s
        self.on_leg_fill: LegFilled | None = None
        """Set by the OCO emulation (copytui.engine.oco), which lives above this room."""

    # ------------------------------------------------------------ sending
    async def execute(self, f: Follower, order: FollowerOrder | Pair) -> None:
        """The lane's worker: send one order (or one OCO pair) and record its answer; never raises."""
        try:
            if isinstance(order, tuple):
                await self._execute_pair(f, *order)
            else:
                await self._execute(f, order)
        except Exception as exc:  # one bad order must not stop this follower's lane
            coid = order[0].client_order_id if isinstance(order, tuple) else order.client_order_id
            log.exception("executing %s failed", coid)
            self.journal.error(f"executor:{f.name}", f"{type(exc).__name__}: {exc}")

    async def _execute(self, f: Follower, order: FollowerOrder) -> None:
        adapter = f.adapter
        it = f.state.intents.get(order.client_order_id)
        action = order.action
        if action is _PLACE and order.target_client_order_id and it is not None:
            if (refused := self._replacement_refused(f, order)) is not None:
                self.finalize(f, it, OrderStatus.CANCELLED, refused)
                self.blotter.order(order, OrderStatus.CANCELLED, reason=refused)
                self.blotter.alert(AlertLevel.WARNING, f.name, "replacement not sent", f"{order.symbol}: {refused}")
                return
        if action is not _PLACE and order.target_client_order_id:
            target = f.state.intents.get(order.target_client_order_id)
            if target is not None and target.broker_order_id and not order.broker_order_id:
                order = order.model_copy(update={"broker_order_id": target.broker_order_id})
        send: Callable[[FollowerOrder], Awaitable[OrderAck]] = (
            adapter.place if action is _PLACE else adapter.modify if action is _MODIFY else adapter.cancel
        )
        try:
            ack = await self._send_paced(f, order, lambda: send(order))
        except (TimeoutError, AmbiguousOutcome) as exc:
            # invariant 4: we do not know whether the broker has it; ask it later, never resend blindly
            self._unknown(f, it, order, f"no answer: {exc or 'timeout'}")
            return
        except (Disconnected, RateLimited, AuthFailed, OrderRejected) as exc:
            self._answered(f, order, it, self._not_sent(f, order, exc), answered=False)
            return
        self._answered(f, order, it, ack)

    async def _execute_pair(self, f: Follower, first: FollowerOrder, second: FollowerOrder) -> None:
        """Both legs of one OCO group in one request (``Capabilities.oco_orders``). Where the broker
        took both, it keeps the pair; otherwise copytui keeps whatever leg works (see oco.py)."""
        state = f.state
        pair = (first, second)
        try:
            acks = await self._send_paced(f, first, lambda: f.adapter.place_oco(first, second))
        except (TimeoutError, AmbiguousOutcome) as exc:
            for order in pair:
                self._unknown(f, state.intents.get(order.client_order_id), order, f"no answer: {exc or 'timeout'}")
            return
        except (Disconnected, RateLimited, AuthFailed, OrderRejected) as exc:
            refused = self._not_sent(f, first, exc)  # one request, one alert
            for order in pair:
                ack = refused.model_copy(update={"client_order_id": order.client_order_id})
                self._answered(f, order, state.intents.get(order.client_order_id), ack, answered=False)
            return
        except BrokerError as exc:  # the adapter cannot place pairs after all: each leg alone, kept by copytui
            why = f"{f.adapter.broker}: {exc}; its legs go one by one, copytui keeps the pair"
            self.blotter.alert(AlertLevel.WARNING, f.name, "oco pair not sent", why)
            for order in pair:
                await self._execute(f, order)
            return
        for order, ack in zip(pair, acks, strict=True):
            self._answered(f, order, state.intents.get(order.client_order_id), ack)
        if first.oco_group is not None and all(a.status is not OrderStatus.REJECTED for a in acks):
            state.native_oco.add(first.oco_group)

    def _not_sent(self, f: Follower, order: FollowerOrder, exc: BrokerError) -> OrderAck:
        """Raised before the request was written: nothing reached the broker."""
        self.blotter.alert(AlertLevel.ERROR, f.name, type(exc).__name__, str(exc))
        self.breaker_failure(f, f"{type(exc).__name__}: {exc}", fatal=isinstance(exc, AuthFailed))
        return OrderAck(
            client_order_id=order.client_order_id,
            broker_order_id=None,
            status=OrderStatus.REJECTED,
            sent_ns=time.perf_counter_ns(),
            reason=f"not sent: {type(exc).__name__}: {exc}",
        )

    def _answered(
        self, f: Follower, order: FollowerOrder, it: IntentState | None, ack: OrderAck, answered: bool = True
    ) -> None:
        """Record the broker's answer to one order (``answered`` False: the refusal of a request never sent)."""
        if answered:
            if ack.status is OrderStatus.REJECTED:
                self.breaker_failure(f, f"rejected: {ack.reason}")
            elif f.state.breaker.success():
                self.blotter.alert(AlertLevel.INFO, f.name, "breaker closed", "probe order accepted: copying again")
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
                self.finalize(f, it, OrderStatus.REJECTED, ack.reason)
            elif not it.status.final:
                it.status = OrderStatus.CANCELLED if order.action is OrderAction.CANCEL else ack.status
        if order.action is OrderAction.CANCEL and order.target_client_order_id:
            target = f.state.intents.get(order.target_client_order_id)
            if ack.status is OrderStatus.REJECTED:
                f.state.cancelling.discard(order.target_client_order_id)  # still working: a later cancel may go
            elif target is not None:
                self.finalize(f, target, OrderStatus.CANCELLED, order.reason or "cancelled after the leader's cancel")
        status = ack.status if it is None or ack.status is OrderStatus.REJECTED else it.status
        self.blotter.order(order, status, latency_ms=latency, reason=ack.reason or order.reason or "")

    @staticmethod
    def _replacement_refused(f: Follower, order: FollowerOrder) -> str | None:
        """Why a cancel-and-replace's new order must not go (None: it may). Sent only when the
        original is cancelled and filled no more than when the replacement was decided: otherwise
        the follower would hold more than the rule says (invariant 3); the reconciler sees the rest."""
        filled_then = f.state.replacing.pop(order.client_order_id, None)
        original = f.state.intents.get(order.target_client_order_id or "")
        if original is None or filled_then is None:
            return "not sent: its original's state is unknown (restarted mid-replace)"
        if original.status is not OrderStatus.CANCELLED:
            return f"not sent: its original was not cancelled ({original.status.value})"
        if original.filled != filled_then:
            return f"not sent: its original filled {original.filled - filled_then} more while being replaced"
        return None

    def _unknown(self, f: Follower, it: IntentState | None, order: FollowerOrder, why: str) -> None:
        self.breaker_failure(f, f"no answer from {f.adapter.broker}")
        self.journal.mark_sent(order.client_order_id, time.perf_counter_ns())
        self.journal.set_status(order.client_order_id, OrderStatus.UNKNOWN, why)
        if it is not None:
            it.status = OrderStatus.UNKNOWN
        self.blotter.alert(
            AlertLevel.WARNING,
            f.name,
            "order outcome unknown",
            f"{order.client_order_id}: no answer from {f.adapter.broker}; will ask by client id",
        )
        self.blotter.order(order, OrderStatus.UNKNOWN, reason="no answer: asking the broker")

    async def _send_paced(self, f: Follower, order: FollowerOrder, request: Callable[[], Awaitable[T]]) -> T:
        """Send once; a RateLimited answer means the request was refused unsent, so waiting out the
        broker's hint and sending the same order (same client id) is not a retry of a sent order."""
        lane = f.queue
        for attempt in range(MAX_RATE_LIMIT_WAITS + 1):
            try:
                return await lane.send(request(), self.order_timeout_s)
            except RateLimited as exc:
                if attempt == MAX_RATE_LIMIT_WAITS or exc.retry_after_s > MAX_RATE_LIMIT_WAIT_S:
                    raise
                self.blotter.order(order, OrderStatus.PENDING, reason=f"rate limited: waiting {exc.retry_after_s:g}s")
                await lane.pause(exc.retry_after_s)
        raise AssertionError("unreachable")

    def breaker_failure(self, f: Follower, reason: str, fatal: bool = False) -> None:
        if f.state.breaker.failure(reason, fatal):
            self.journal.operator_action("breaker_open", f.name, reason)
            self.blotter.alert(
                AlertLevel.ERROR,
                f.name,
                "breaker open",
                f"nothing is sent until a probe succeeds in {f.state.breaker.cooldown_s:g}s: {reason}",
            )

    # ------------------------------------------------------------ status
    def finalize(self, f: Follower, it: IntentState, status: OrderStatus, reason: str | None) -> None:
        """Move an intent to rejected / cancelled once, giving its unfilled part back to the basis."""
        if it.status.final:
            return
        it.status = status
        if it.order.action is OrderAction.PLACE:
            f.state.release(it.order.client_order_id, it.order.qty - it.filled)
        if status is OrderStatus.REJECTED:
            f.stats.rejects += 1
        self.journal.set_status(it.order.client_order_id, status, reason)

    def flattened(self, f: Follower) -> None:
        """The operator flattened the follower at the broker: its working orders are gone."""
        for it in f.state.not_final():
            if it.order.action is OrderAction.PLACE:
                self.finalize(f, it, OrderStatus.CANCELLED, "flattened by operator")

    def resend(self, f: Follower, it: IntentState, why: str) -> None:
        """After a restart the broker had no record of the order: sending it now is its first send."""
        self.journal.set_status(it.order.client_order_id, OrderStatus.PENDING, why)
        it.status = OrderStatus.PENDING
        f.state.live[it.order.client_order_id] = it
        f.queue.put_nowait(it.order)

    def apply_info(self, f: Follower, it: IntentState, info: OrderInfo) -> None:
        """What the broker said of an order whose outcome was unknown (asked by client order id)."""
        it.broker_order_id = info.broker_order_id
        j = self.journal
        j.record_ack(it.order.client_order_id, info.status, info.broker_order_id, time.perf_counter_ns(), None)
        if info.filled_qty > it.filled and info.avg_fill_price is not None:
            missed = info.filled_qty - it.filled  # only what copytui had not seen filled
            it.filled = info.filled_qty
            self.pnl.fill(f.name, info.symbol, it.order.side, missed, info.avg_fill_price)
            j.record_fill(
                f.name,
                f"recovered-{info.broker_order_id}-{info.filled_qty}",
                it.order.client_order_id,
                info.symbol,
                it.order.side,
                missed,
                info.avg_fill_price,
                info.filled_qty,
                info.avg_fill_price,
                info.filled_qty >= it.order.qty,
                None,
                None,
                time.perf_counter_ns(),
            )
        if info.status in (OrderStatus.REJECTED, OrderStatus.CANCELLED):
            self.finalize(f, it, info.status, "found at the broker")
        else:
            it.status = info.status

    def never_arrived(self, f: Follower, it: IntentState) -> None:
        """The broker still has no record of an order whose outcome was unknown: it was not sent."""
        self.finalize(f, it, OrderStatus.CANCELLED, "broker has no record of it")

    # ------------------------------------------------------------ the follower's events
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
            self.blotter.emit(PositionChanged(f.name))
            return
        it = f.state.intents.get(ev.client_order_id or "")
        if it is None:
            if ev.kind is EventKind.FILL:  # not ours (manual trade, flatten order): P&L still counts it
                self.pnl.other_fill(f.name, ev)
            return
        if ev.kind is EventKind.FILL:
            self._on_fill(f, it, ev)
        elif ev.kind is EventKind.ORDER_REJECTED:
            self.finalize(f, it, OrderStatus.REJECTED, ev.reason)
            self.blotter.order(it.order, OrderStatus.REJECTED, reason=ev.reason or "")
        elif ev.kind is EventKind.ORDER_CANCELLED:
            self.finalize(f, it, OrderStatus.CANCELLED, ev.reason)
        elif ev.kind in (EventKind.ORDER_NEW, EventKind.ORDER_MODIFIED) and ev.order_id:
            it.broker_order_id = ev.order_id
            group = it.order.oco_group
            if group is not None and ev.kind is EventKind.ORDER_MODIFIED and ev.qty != it.order.qty:
                # the broker's own OCO shrank the leg (native brackets): its group counts what is left
                it.order = it.order.model_copy(update={"qty": ev.qty})
                f.state.recount_oco(group)

    def _on_fill(self, f: Follower, it: IntentState, ev: AccountEvent) -> None:
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
        mkt_ticks = mkt_cash = None
        mark = self.market.mark_of(it.order.signal_id)
        mkt_ref = mark.reference(it.order.side) if mark is not None else None
        if mkt_ref is not None:  # against the market of the moment the leader's event was read
            inst = instrument(ev.symbol)
            raw = inst.ticks_between(ev.fill_price, mkt_ref)
            mkt_ticks = raw if it.order.side is Side.BUY else -raw
            mkt_cash = mkt_ticks * inst.tick_value * ev.fill_qty
            f.stats.market_slippage_ticks.append(mkt_ticks)
            f.stats.market_slippage_cash.append(mkt_cash)
        f.stats.fills += 1
        self.pnl.fill(f.name, ev.symbol, it.order.side, ev.fill_qty, ev.fill_price)
        self.journal.record_fill(
            f.name,
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
            mkt_ticks,
            mkt_cash,
        )
        self.blotter.order(it.order, it.status, fill_price=ev.fill_price, slippage=ticks)
        if it.order.oco_group is not None and self.on_leg_fill is not None:
            self.on_leg_fill(f, it)
