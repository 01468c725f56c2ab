"""The whole suite runs with a throwaway home: no test reads or writes the trader's own config,
journal, leases, reports or keyrings. At the end, the suite fails if any of the user's real
folders changed while it ran."""

from __future__ import annotations

import os
import pwd
import tempfile
from pathlib import Path

import pytest

_THROWAWAY = tempfile.TemporaryDirectory(prefix="copytui-test-home-")
_REAL_HOME = Path(pwd.getpwuid(os.getuid()).pw_dir)
GUARDED = [
    _REAL_HOME / ".local" / "share" / "copytui",
    _REAL_HOME / ".local" / "share" / "keyrings",
    _REAL_HOME / ".config" / "copytui",
]
"""The user's data, keyrings and config: what tests and the demo must never touch."""


def snapshot(folders: list[Path]) -> dict[str, tuple[int, int]]:
    """path -> (size, mtime) of every file and folder under ``folders`` (absent folders: nothing)."""
    seen: dict[str, tuple[int, int]] = {}
    for folder in folders:
        if not folder.exists():
            continue
        for path in [folder, *folder.rglob("*")]:
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            seen[str(path)] = (st.st_size, st.st_mtime_ns)
    return seen


_BEFORE = snapshot(GUARDED)


def _isolate() -> None:
    home = Path(_THROWAWAY.name)
    os.environ["HOME"] = str(home)
    for var, sub in (
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_CACHE_HOME", ".cache"),
    ):
        os.environ[var] = str(home / sub)
    os.environ["COPYTUI_LEASE_DIR"] = str(home / "leases")  # the suite's own, not the host's


_isolate()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    after = snapshot(GUARDED)
    if after != _BEFORE:
        changed = sorted(set(after) ^ set(_BEFORE) | {p for p in after if _BEFORE.get(p) not in (None, after[p])})
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        text = "the test run changed the user's own data: " + ", ".join(changed[:10])
        if reporter is not None:
            reporter.write_line(f"FAILED (isolation): {text}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
