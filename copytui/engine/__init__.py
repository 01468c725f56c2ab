"""The copy engine's public API. Never imports textual (a test enforces it)."""

from adapters.base import HealthState
from copytui.engine.blotter import (
    AlertLevel,
    AlertRaised,
    EngineEvent,
    LeaderChanged,
    LogAdded,
    PositionChanged,
    Reconciled,
    SignalCopied,
    describe_signal,
)
from copytui.engine.engine import Engine
from copytui.engine.states import CopyState
from copytui.engine.stats import Alert, EngineSnapshot, FollowerView, LeaderView, LogRow

__all__ = [
    "Alert",
    "AlertLevel",
    "AlertRaised",
    "CopyState",
    "Engine",
    "EngineEvent",
    "EngineSnapshot",
    "FollowerView",
    "HealthState",
    "LeaderChanged",
    "LeaderView",
    "LogAdded",
    "LogRow",
    "PositionChanged",
    "Reconciled",
    "SignalCopied",
    "describe_signal",
]
