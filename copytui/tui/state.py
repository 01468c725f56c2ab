"""What the desk remembers between sessions: the theme. A small JSON file in the config dir.

The remembered choice wins over the config's ``theme:`` until the config's value changes;
then the config wins again (so editing the config always has an effect).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from copytui.config import config_dir
from themes import DEFAULT_THEME, THEME_NAMES

log = logging.getLogger("copytui.tui")


def state_path() -> Path:
    return config_dir() / "desk-state.json"


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable desk state %s: %s", path, exc)
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def start_theme(config_theme: str, path: Path) -> tuple[str, str | None]:
    """The theme to start with, and a warning when the config names an unknown one."""
    warning = None
    if config_theme not in THEME_NAMES:
        warning = f"config theme {config_theme!r} is unknown; use one of {', '.join(THEME_NAMES)}"
        config_theme = DEFAULT_THEME
    saved = _read(path)
    chosen = saved.get("theme")
    if chosen in THEME_NAMES and saved.get("config_theme") == config_theme:
        return chosen, warning
    return config_theme, warning


def remember_theme(theme: str, config_theme: str, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"theme": theme, "config_theme": config_theme}) + "\n", encoding="utf-8")
    except OSError as exc:
        log.warning("cannot remember the theme in %s: %s", path, exc)
