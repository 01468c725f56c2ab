"""SVG snapshots of the desk over an engine that is not started: no clocks, no prices, no blink."""

from __future__ import annotations

from pathlib import Path

from copytui.tui.app import CopyDeskApp
from tests.tui.conftest import make_runtime


def quiet_desk(tmp_path: Path) -> CopyDeskApp:
    return CopyDeskApp(make_runtime(tmp_path), start=False)


def test_main_screen_120x40(tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = quiet_desk(tmp_path)
    try:
        assert snap_compare(app, terminal_size=(120, 40))
    finally:
        app.runtime.journal.close()


def test_main_screen_80x24(tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = quiet_desk(tmp_path)
    try:
        assert snap_compare(app, terminal_size=(80, 24))
    finally:
        app.runtime.journal.close()


def test_kill_switch_dialog_80x24(tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = quiet_desk(tmp_path)
    try:
        assert snap_compare(app, press=["F"], terminal_size=(80, 24))
    finally:
        app.runtime.journal.close()
