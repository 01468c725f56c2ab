"""How numbers look on the desk. Pure functions: no Textual, easy to test.

Gains and losses, buys and sells are told apart by sign, arrow and word, never by colour
alone; the colour (from the theme's ``desk-up`` / ``desk-down``) only adds to that.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text


@dataclass(frozen=True, slots=True)
class Palette:
    """The few colours the desk paints cells with, read from the current theme."""

    up: str = "green"
    down: str = "red"
    warn: str = "yellow"
    bad: str = "red"
    dim: str = "grey50"


def signed_positions(positions: dict[str, int]) -> str:
    """``{"ES": 2, "NQ": -1}`` -> ``"ES +2  NQ -1"``; flat -> ``"flat"``."""
    items = [(s, q) for s, q in sorted(positions.items()) if q]
    return "  ".join(f"{s} {q:+d}" for s, q in items) if items else "flat"


def drift_text(drift: dict[str, int], pal: Palette) -> Text:
    items = [(s, q) for s, q in sorted(drift.items()) if q]
    if not items:
        return Text("ok", style=pal.dim)
    return Text("≠ " + "  ".join(f"{s} {q:+d}" for s, q in items), style=f"bold {pal.warn}")


def money(value: float, pal: Palette) -> Text:
    """P&L: arrow, sign and colour. ``▲ +1,250.00`` / ``▼ -87.50`` / ``  0.00``."""
    if abs(value) < 0.005:
        return Text("0.00", style=pal.dim, justify="right")
    if value > 0:
        return Text(f"▲ +{value:,.2f}", style=pal.up, justify="right")
    return Text(f"▼ -{abs(value):,.2f}", style=pal.down, justify="right")


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
    "copying": "● copying",
    "paused": "‖ PAUSED",
    "breaker open": "✖ BREAKER",
    "disabled": "○ disabled",
    "waiting for flat": "… wait flat",
}


def copy_state_text(state: str, pal: Palette) -> Text:
    label = COPY_STATE_MARK.get(state, state)
    if state == "copying":
        return Text(label, style=pal.up)
    if state in ("paused", "waiting for flat"):
        return Text(label, style=f"bold {pal.warn}")
    if state == "breaker open":
        return Text(label, style=f"bold {pal.bad}")
    return Text(label, style=pal.dim)


def connection_text(state: str, pal: Palette) -> Text:
    if state == "connected":
        return Text("● up", style=pal.up)
    if state in ("connecting", "reconnecting"):
        return Text(f"◌ {state}", style=pal.warn)
    return Text(f"✖ {state}", style=f"bold {pal.bad}")


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
