"""The desk's themes: one stylesheet (desk.tcss) and four colour schemes.

Every scheme defines the same extra variables, so the stylesheet and the desk's cell colours
never name a colour directly:

- ``desk-up`` / ``desk-down``: P&L gains and losses, and buy / sell.
- ``desk-warn`` / ``desk-bad``: paused followers, drift and rejects; alerts and errors.

The desk never tells two values apart by colour alone: P&L and sides also carry a sign and an
arrow (see copytui/tui/format.py). ``copytui-cb`` is the colour-blind-safe scheme, built from
the Okabe-Ito palette (blue versus orange instead of green versus red).
"""

from __future__ import annotations

from pathlib import Path

from textual.theme import Theme

STYLESHEET = Path(__file__).with_name("desk.tcss")

DARK = Theme(
    name="copytui-dark",
    primary="#4C9BE8",
    secondary="#7E8AA2",
    accent="#E0A84E",
    warning="#E0A84E",
    error="#E5534B",
    success="#57AB5A",
    foreground="#D8DEE9",
    background="#0F1419",
    surface="#161C24",
    panel="#1F2733",
    dark=True,
    variables={
        "desk-up": "#57AB5A",
        "desk-down": "#E5534B",
        "desk-warn": "#E0A84E",
        "desk-bad": "#E5534B",
        "footer-key-foreground": "#4C9BE8",
    },
)

LIGHT = Theme(
    name="copytui-light",
    primary="#0B5CAD",
    secondary="#56627A",
    accent="#9A5B00",
    warning="#9A5B00",
    error="#B3261E",
    success="#1E7A34",
    foreground="#1B1F24",
    background="#F7F8FA",
    surface="#FFFFFF",
    panel="#E4E8EE",
    dark=False,
    variables={
        "desk-up": "#1E7A34",
        "desk-down": "#B3261E",
        "desk-warn": "#9A5B00",
        "desk-bad": "#B3261E",
        "footer-key-foreground": "#0B5CAD",
    },
)

CONTRAST = Theme(
    name="copytui-contrast",
    primary="#FFFFFF",
    secondary="#FFFF00",
    accent="#FFFF00",
    warning="#FFFF00",
    error="#FF5555",
    success="#55FF55",
    foreground="#FFFFFF",
    background="#000000",
    surface="#000000",
    panel="#202020",
    dark=True,
    luminosity_spread=0.25,
    variables={
        "desk-up": "#55FF55",
        "desk-down": "#FF7777",
        "desk-warn": "#FFFF00",
        "desk-bad": "#FF7777",
        "footer-key-foreground": "#FFFF00",
        "block-cursor-foreground": "#000000",
        "block-cursor-background": "#FFFF00",
    },
)

# Okabe-Ito: sky blue for up / buy, orange for down / sell, yellow for warnings.
COLOUR_BLIND = Theme(
    name="copytui-cb",
    primary="#56B4E9",
    secondary="#CC79A7",
    accent="#F0E442",
    warning="#F0E442",
    error="#E69F00",
    success="#56B4E9",
    foreground="#E8E8E8",
    background="#101418",
    surface="#171C22",
    panel="#222A33",
    dark=True,
    variables={
        "desk-up": "#56B4E9",
        "desk-down": "#E69F00",
        "desk-warn": "#F0E442",
        "desk-bad": "#E69F00",
        "footer-key-foreground": "#56B4E9",
    },
)

THEMES: tuple[Theme, ...] = (DARK, LIGHT, CONTRAST, COLOUR_BLIND)
THEME_NAMES: tuple[str, ...] = tuple(t.name for t in THEMES)
DEFAULT_THEME = DARK.name


def next_theme(current: str) -> str:
    """The theme after ``current`` in the cycle (the first one when ``current`` is not ours)."""
    try:
        return THEME_NAMES[(THEME_NAMES.index(current) + 1) % len(THEME_NAMES)]
    except ValueError:
        return THEME_NAMES[0]


__all__ = ["DEFAULT_THEME", "STYLESHEET", "THEMES", "THEME_NAMES", "next_theme"]
