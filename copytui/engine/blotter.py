"""The blotter: what the engine tells the desk and the command line.

Order-log rows, alerts (journaled too), the leader's recent events, and typed engine events for
listeners; and the desk's snapshot, built from the other rooms' public state. On the copy path it
only appends to bounded deques and calls listeners that record (invariant 7)."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from adapters.base import HealthState
from copytui.engine.follower import Follower
from copytui.engine.market import MarketView
from copytui.engine.pnl import PnlBook
from copytui.engine.stats import Alert, EngineSnapshot, FollowerView, LeaderView, LogRow
from copytui.instruments import format_price
from copytui.journal import Journal, percentile
from copytui.models import FollowerOrder, OrderStatus, Position, Signal, SignalKind

log = logging.getLogger("copytui.engine")


class AlertLevel(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class SignalCopied:
    """A leader event became a signal, journaled with its follower intents and sent to the lanes."""

    signal: Signal


@dataclass(frozen=True, slots=True)
class LeaderChanged:
    """The leader reported something that is not a signal (a position update)."""

    description: str


@dataclass(frozen=True, slots=True)
class PositionChanged:
    follower: str


@dataclass(frozen=True, slots=True)
class LogAdded:
    row: LogRow


@dataclass(frozen=True, slots=True)
class AlertRaised:
    alert: Alert


@dataclass(frozen=True, slots=True)
class Reconciled:
    drifts: dict[str, dict[str, int]]
    """follower -> symbol -> expected minus held, where they differ."""


EngineEvent = SignalCopied | LeaderChanged | PositionChanged | LogAdded | AlertRaised | Reconciled
Listener = Callable[[EngineEvent], None]


def describe_signal(sig: Signal) -> str:
    """One line for a signal: what the leader did."""
    side = sig.side.value if sig.side else ""
    if sig.kind is SignalKind.FILL:
        at = format_price(sig.symbol, sig.fill_price) if sig.fill_price is not None else "?"
        return f"fill {side} {sig.fill_qty} {sig.symbol} @ {at} -> pos {sig.leader_position:+d}"
    limit = sig.price if sig.price is not None else sig.stop_price
    kind = sig.order_type.value.replace("_", " ") if sig.order_type else ""
    at = f" @ {format_price(sig.symbol, limit)}" if limit is not None else ""
    if sig.trail is not None:
        at += f" trail {format_price(sig.symbol, sig.trail)}"
    return " ".join(w for w in (sig.kind.value, side, str(sig.qty), sig.symbol, kind) if w) + at


class Blotter:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.log_rows: deque[LogRow] = deque(maxlen=1000)
        self.alerts: deque[Alert] = deque(maxlen=200)
        self.leader_events: deque[str] = deque(maxlen=50)
        self.name_leaders = False
        """Several leaders: each leader event line starts with its leader's name."""
        self.version = 0
        """Bumped on every event: the desk takes a snapshot only when it moved."""
        self._seq = 0
        self._listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> None:
        """``listener(event)`` is called on the copy path: it must only record, never wait."""
        self._listeners.append(listener)

    def emit(self, event: EngineEvent) -> None:
        self.version += 1
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a desk bug must not stop the copying
                log.exception("listener failed on %s", type(event).__name__)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # ------------------------------------------------------------ the leader
    def signal(self, sig: Signal) -> None:
        what = describe_signal(sig)
        self.leader_events.append(f"{sig.leader}: {what}" if self.name_leaders else what)
        self.emit(SignalCopied(sig))

    def leader_said(self, what: str, leader: str = "") -> None:
        if self.name_leaders and leader:
            what = f"{leader}: {what}"
        self.leader_events.append(what)
        self.emit(LeaderChanged(what))

    # ------------------------------------------------------------ the log
    def order(
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
        self.emit(LogAdded(row))

    def operator(self, name: str, what: str) -> None:
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
        self.emit(LogAdded(row))

    def alert(self, level: AlertLevel | str, follower: str, kind: str, message: str) -> None:
        """Shown on the desk and journaled."""
        alert = Alert(self._next_seq(), time.time_ns(), str(level), follower, kind, message)
        self.alerts.append(alert)
        self.journal.alert(str(level), follower, kind, message)
        self.emit(AlertRaised(alert))


# ------------------------------------------------------------------ the desk's snapshot
def _figures(f: Follower) -> tuple[float, float, float, float, float, tuple[float, ...]]:
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


def follower_view(f: Follower, pnl: PnlBook) -> FollowerView:
    s = f.stats
    p50, p99, slip_avg, slip_p95, cash_avg, history = _figures(f)
    figures = pnl.figures(f.name)
    session = pnl.session_pnl(f.name)
    day = None if session is None or f.state.loss_baseline is None else session - f.state.loss_baseline
    limit = f.state.cfg.risk.daily_loss_limit
    return FollowerView(
        name=f.name,
        broker=f.adapter.broker,
        connection=f.adapter.health.state,
        copy_state=f.state.copy_state,
        rule=f.state.cfg.rule_text(),
        positions={sym: p.qty for sym, p in f.positions.items() if p.qty},
        # what the follower should hold for the leader events copied so far (drift stays the
        # reconciler's considered view, which waits for orders in flight)
        expected={k: v for k, v in f.state.expected().items() if v},
        drift={k: v for k, v in f.drift.items() if v},
        realized_pnl=figures.realized,
        unrealized_pnl=figures.unrealized,
        pnl_known=figures.known,
        broker_pnl=figures.broker,
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
        session_pnl=day,
        loss_limit=limit,
        loss_left=None if limit is None or day is None else limit + day,
        market_slippage_avg_ticks=_mean(s.market_slippage_ticks),
        market_slippage_avg_cash=_mean(s.market_slippage_cash),
        market_fills=len(s.market_slippage_ticks),
        brackets=_brackets(f),
        follows=f.state.follows,
        trailing="" if f.state.cfg.mode != "mirror" else "native" if f.state.caps.trailing_stops else "followed",
    )


def _brackets(f: Follower) -> str:
    """Who keeps a mirror follower's OCO pairs: its broker (``native``), its broker for pairs sent
    as one request (``native pairs``), or copytui (``emulated``)."""
    if f.state.cfg.mode != "mirror":
        return ""
    caps = f.adapter.capabilities
    return "native" if caps.brackets else "native pairs" if caps.oco_orders else "emulated"


def _mean(values: deque[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass(frozen=True, slots=True)
class LeaderFacts:
    name: str
    broker: str
    connection: HealthState
    copied_positions: dict[str, int]
    """From the leader events copied so far."""
    broker_positions: Iterable[Position]
    """As the leader's broker last reported them (its own P&L figures, 0 where it sends none)."""
    followers: tuple[str, ...] = ()
    """The followers that follow this leader."""


def leader_view(blotter: Blotter, leader: LeaderFacts) -> LeaderView:
    reported = list(leader.broker_positions)
    return LeaderView(
        name=leader.name,
        broker=leader.broker,
        connection=leader.connection,
        positions={s: p for s, p in leader.copied_positions.items() if p},
        realized_pnl=sum(p.realized_pnl or 0.0 for p in reported),
        unrealized_pnl=sum(p.unrealized_pnl or 0.0 for p in reported),
        events=tuple(blotter.leader_events),
        followers=leader.followers,
    )


def snapshot(
    blotter: Blotter,
    leaders: list[LeaderFacts],
    followers: Iterable[Follower],
    pnl: PnlBook,
    *,
    signals: int,
    duplicates: int,
    last_reconcile_wall_ns: int,
    market: MarketView | None = None,
) -> EngineSnapshot:
    views = tuple(leader_view(blotter, leader) for leader in leaders)
    return EngineSnapshot(
        version=blotter.version,
        leader=views[0],
        leaders=views,
        followers=tuple(follower_view(f, pnl) for f in followers),
        log=tuple(blotter.log_rows),
        alerts=tuple(blotter.alerts),
        signals=signals,
        duplicates_dropped=duplicates,
        last_reconcile_wall_ns=last_reconcile_wall_ns,
        market=market,
    )
