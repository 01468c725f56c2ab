"""What the desk and the CLI read from the engine: small snapshots, cheap to take.

The copy path only appends to bounded deques and bumps counters; readers copy what they need
at their own pace (invariant 7).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from adapters.base import HealthState
from copytui.engine.market import MarketView
from copytui.engine.states import CopyState


@dataclass(slots=True)
class LogRow:
    """One line of the order log."""

    seq: int
    wall_ns: int
    signal_id: str
    follower: str
    symbol: str
    side: str
    qty: int
    status: str
    action: str = "place"
    client_order_id: str = ""
    latency_ms: float | None = None
    fill_price: float | None = None
    slippage_ticks: float | None = None
    reason: str = ""


@dataclass(slots=True)
class Alert:
    seq: int
    wall_ns: int
    level: str
    follower: str
    kind: str
    message: str


@dataclass
class FollowerStats:
    orders: int = 0
    rejects: int = 0
    fills: int = 0
    last_latency_ms: float | None = None
    latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=500))
    slippage_ticks: deque[float] = field(default_factory=lambda: deque(maxlen=500))
    slippage_cash: deque[float] = field(default_factory=lambda: deque(maxlen=500))
    market_slippage_ticks: deque[float] = field(default_factory=lambda: deque(maxlen=500))
    """Against the market of the moment the leader's event was read (fills with a live quote only)."""
    market_slippage_cash: deque[float] = field(default_factory=lambda: deque(maxlen=500))


@dataclass(frozen=True, slots=True)
class FollowerView:
    name: str
    broker: str
    connection: HealthState
    copy_state: CopyState
    rule: str
    positions: dict[str, int]
    expected: dict[str, int]
    drift: dict[str, int]
    realized_pnl: float
    unrealized_pnl: float
    last_latency_ms: float | None
    orders: int
    rejects: int
    fills: int
    latency_p50: float
    latency_p99: float
    slippage_avg_ticks: float
    slippage_p95_ticks: float
    slippage_avg_cash: float
    latency_history: tuple[float, ...]
    pnl_known: bool = True
    """False when a position's average price or mark is unknown: the P&L figures leave it out."""
    broker_pnl: float | None = None
    """The broker's own P&L since start (realised plus unrealised), None when the broker sends none."""
    session_pnl: float | None = None
    """copytui's P&L since this session started (None when a position's price is unknown)."""
    loss_limit: float | None = None
    """The follower's daily loss limit (risk.daily_loss_limit), None when it has none."""
    loss_left: float | None = None
    """How much more it may lose today before the limit stops it (None: no limit, or unknown)."""
    market_slippage_avg_ticks: float | None = None
    """Per fill against the market quote of the leader's moment; None: no fill had a live quote."""
    market_slippage_avg_cash: float | None = None
    market_fills: int = 0
    """Fills measured against the market (those whose leader event had a live quote)."""
    brackets: str = ""
    """How a mirrored bracket's OCO pair is kept: "native" (the broker's own OCO), "emulated"
    (copytui cancels the other leg when one fills), "" (fills mode: no working orders copied)."""
    follows: tuple[str, ...] = ()
    """The leaders this follower follows."""
    trailing: str = ""
    """How a leader's trailing stop is copied: "native" (a trailing stop its broker moves),
    "followed" (a stop moved each time the leader's moves), "" (fills mode)."""


@dataclass(frozen=True, slots=True)
class LeaderView:
    name: str
    broker: str
    connection: HealthState
    positions: dict[str, int]
    realized_pnl: float
    unrealized_pnl: float
    events: tuple[str, ...]
    followers: tuple[str, ...] = ()
    """The followers that follow this leader."""


@dataclass(frozen=True, slots=True)
class EngineSnapshot:
    version: int
    leader: LeaderView
    """The first leader (with one leader, the only one)."""
    followers: tuple[FollowerView, ...]
    log: tuple[LogRow, ...]
    alerts: tuple[Alert, ...]
    signals: int
    duplicates_dropped: int
    last_reconcile_wall_ns: int
    market: MarketView | None = None
    """The market-data source and the quotes of the leader's contracts; None without a source."""
    leaders: tuple[LeaderView, ...] = ()
    """Every leader, ``leader`` first."""
