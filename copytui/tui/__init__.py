"""The trader's desk (Textual). Not built yet: see README, issue 3."""

from __future__ import annotations

from pathlib import Path

from copytui.config import Config


def run_desk(cfg: Config, *, demo: bool, seed: int | None, journal_path: Path, duration: float | None) -> None:
    raise SystemExit("error: the desk is not built yet; run with --headless")
