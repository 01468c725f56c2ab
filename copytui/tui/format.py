"""How numbers look on the desk. Pure functions: no Textual, easy to test.

Gains and losses, buys and sells are told apart by sign, arrow and word, never by colour
alone; the colour (from the theme's ``desk-up`` / ``desk-down``) only adds to that.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text

from copytui.engine import CopyState, EngineSnapshot, HealthState


@dataclass(frozen=True, slots=True)
class Palette:
    """The few colours the desk paints cells with, read from the current theme."""

    up: str = "green"
    down: str = "red"
    warn: str = "yellow"
    bad: str = "red"
    dim: str = "grey50"


def signed_positions(positions: dict[str, int]) -> str:
    """``{"ES": 2, "NQ": -1}`` -> ``"ES +2 NQ -1"`` (the sign starts each quantity); flat -> ``"flat"``."""
    items = [(s, q) for s, q in sorted(positions.items()) if q]
    return " ".join(f"{s} {q:+d}" for s, q in items) if items else "flat"


def drift_text(drift: dict[str, int], pal: Palette) -> Text:
    """Every symbol's drift: ``≠ MES -60 MNQ +10``; none: ``ok``."""
    items = [(s, q) for s, q in sorted(drift.items()) if q]
    if not items:
        return Text("ok", style=pal.dim)
    return Text("≠ " + " ".join(f"{s} {q:+d}" for s, q in items), style=f"bold {pal.warn}")


UNKNOWN = "—"
"""A figure the desk cannot know (a P&L without an average price or a mark): never shown as 0.00."""


def money(value: float | None, pal: Palette) -> Text:
    """P&L: arrow, sign and colour. ``▲ +1,250.00`` / ``▼ -87.50`` / ``  0.00``; None (unknown): ``—``."""
    if value is None:
        return Text(UNKNOWN, style=pal.dim, justify="right")
    if abs(value) < 0.005:
        return Text("0.00", style=pal.dim, justify="right")
    if value > 0:
        return Text(f"▲ +{value:,.2f}", style=pal.up, justify="right")
    return Text(f"▼ -{abs(value):,.2f}", style=pal.down, justify="right")


SLIP_LEGEND = "slippage: + worse for the follower, - better"
"""The one sign convention for slippage, everywhere (panel, details, log, reports, CSV, journal summary):
the engine stores ticks and currency as the follower's cost against the leader's price."""


def slip_money(value: float, pal: Palette) -> Text:
    """Slippage in currency: ``+12.50`` (a cost, the ``down`` colour), ``-5.00`` (a gain), ``0.00``."""
    text = signed(value, 2)
    if float(text) == 0:
        return Text(text, style=pal.dim, justify="right")
    return Text(f"{float(text):+,.2f}", style=pal.down if value > 0 else pal.up, justify="right")


def side_text(side: str, pal: Palette) -> Text:
    s = side.lower()
    if s == "buy":
        return Text("▲ BUY", style=pal.up)
    if s == "sell":
        return Text("▼ SELL", style=pal.down)
    return Text(side)


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def signed(value: float, digits: int = 1) -> str:
    """``+1.5`` / ``-0.5`` / ``0.0``: no ``-0.0`` from a float that rounds to zero."""
    text = f"{value:+.{digits}f}"
    return text[1:] if float(text) == 0 else text


def ticks(value: float | None) -> str:
    return "-" if value is None else f"{signed(value)}t"


def clock(wall_ns: int) -> str:
    """Local wall-clock time of day, for log lines."""
    return time.strftime("%H:%M:%S", time.localtime(wall_ns / 1e9))


COPY_STATE_MARK = {
    CopyState.COPYING: "● copying",
    CopyState.PAUSED: "‖ PAUSED",
    CopyState.BREAKER: "✖ BREAKER",
    CopyState.DISABLED: "○ disabled",
    CopyState.WAITING: "… wait flat",
}


def copy_state_text(state: CopyState, pal: Palette, connection: HealthState = HealthState.CONNECTED) -> Text:
    """The copy state; a follower set to copy whose broker is not connected is not copying: ``✖ offline``."""
    if state == CopyState.COPYING and connection != HealthState.CONNECTED:
        return Text("✖ offline", style=f"bold {pal.bad}")
    label = COPY_STATE_MARK.get(state, str(state))
    if state == CopyState.COPYING:
        return Text(label, style=pal.up)
    if state in (CopyState.PAUSED, CopyState.WAITING):
        return Text(label, style=f"bold {pal.warn}")
    if state == CopyState.BREAKER:
        return Text(label, style=f"bold {pal.bad}")
    return Text(label, style=pal.dim)


CONNECTION_MARK = {
    HealthState.CONNECTED: "● up",
    HealthState.CONNECTING: "◌ conn",
    HealthState.RECONNECTING: "◌ retry",
    HealthState.DISCONNECTED: "✖ down",
    HealthState.AUTH_FAILED: "✖ auth",
    HealthState.STOPPED: "✖ stop",
}
"""Short enough for the grid's Conn column at every size; the details give the full word."""


def connection_text(state: HealthState, pal: Palette) -> Text:
    label = CONNECTION_MARK.get(state, f"✖ {state}")
    if state == HealthState.CONNECTED:
        return Text(label, style=pal.up)
    if state in (HealthState.CONNECTING, HealthState.RECONNECTING):
        return Text(label, style=pal.warn)
    return Text(label, style=f"bold {pal.bad}")


def status_text(status: str, pal: Palette) -> Text:
    if status in ("rejected", "unknown"):
        return Text(status.upper(), style=f"bold {pal.bad}")
    if status == "filled":
        return Text(status, style=pal.up)
    if status == "partially_filled":
        return Text("partial", style=pal.up)
    if status in ("skipped", "cancelled"):
        return Text(status, style=pal.dim)
    if status == "operator":
        return Text("operator", style=f"bold {pal.warn}")
    return Text(status)


def leader_positions(snap: EngineSnapshot | None) -> str:
    """What the leader holds (each leader's, named, when there are several), for the resume question."""
    if snap is None:
        return "?"
    leaders = snap.leaders or (snap.leader,)
    if len(leaders) == 1:
        return signed_positions(leaders[0].positions)
    return "; ".join(f"{lv.name} {signed_positions(lv.positions)}" for lv in leaders)
