"""The copy engine's public API. Never imports textual (a test enforces it)."""

from copytui.engine.router import CopyState
from copytui.engine.service import Engine
from copytui.engine.stats import Alert, EngineSnapshot, FollowerView, LeaderView, LogRow

__all__ = ["Alert", "CopyState", "Engine", "EngineSnapshot", "FollowerView", "LeaderView", "LogRow"]
