"""Shared by the account, doctor and leak tests: the real Secret Service that tests/run.sh starts
(gnome-keyring, unlocked, in a private D-Bus session), unique account names whose keyring
entries are deleted afterwards, and the copytui CLI run as a subprocess with its XDG folders in
a temporary directory."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

RUN_SH = "bash tests/run.sh"
FIELDS = ("password", "sec", "api_key", "token")


def _under_dbus_run_session() -> bool:
    pid = os.getpid()
    for _ in range(30):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        if b"dbus-run-session" in cmdline:
            return True
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        if pid <= 1:
            return False
    return False


def require_real_keyring() -> None:
    """Fail (not skip) unless the real, unlocked Secret Service of tests/run.sh is reachable."""
    import keyring

    how = f"these tests use the real Secret Service that tests/run.sh starts; run them with `{RUN_SH} <tests>`"
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS") or not _under_dbus_run_session():
        pytest.fail(f"not inside tests/run.sh's private D-Bus session: {how}", pytrace=False)
    backend = type(keyring.get_keyring()).__module__
    if not backend.endswith("SecretService"):
        pytest.fail(f"keyring backend is {backend}, not the Secret Service: {how}", pytrace=False)
    entry = f"copytui-test-probe-{secrets.token_hex(4)}"
    try:
        keyring.set_password("copytui", entry, "probe-value")
        ok = keyring.get_password("copytui", entry) == "probe-value"
        keyring.delete_password("copytui", entry)
    except Exception as exc:  # any failure means: not the environment these tests need
        pytest.fail(f"the Secret Service does not work ({type(exc).__name__}): {how}", pytrace=False)
    if not ok:
        pytest.fail(f"the Secret Service did not return what was stored: {how}", pytrace=False)


class Names:
    """Unique account names for one test; every keyring entry they may have is deleted afterwards."""

    def __init__(self) -> None:
        self.prefix = "t" + secrets.token_hex(3)
        self.made: list[str] = []

    def __call__(self, base: str) -> str:
        name = f"{self.prefix}-{base}"
        self.made.append(name)
        return name

    def entries(self) -> list[str]:
        return [e for n in self.made for e in (n, *(f"{n}:{f}" for f in FIELDS))]

    def cleanup(self) -> None:
        import keyring
        from keyring.errors import PasswordDeleteError

        for entry in self.entries():
            try:
                keyring.delete_password("copytui", entry)
            except PasswordDeleteError:
                pass


def unique_names() -> Iterator[Names]:
    """Fixture body: ``_names = pytest.fixture(unique_names, name="names")`` in a test module."""
    require_real_keyring()
    n = Names()
    yield n
    n.cleanup()


def keyring_state(n: Names) -> dict[str, str | None]:
    import keyring

    return {e: keyring.get_password("copytui", e) for e in n.entries()}


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def cli_env(root: Path, **extra: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HOME=str(root / "home"),
        XDG_CONFIG_HOME=str(root / "config"),
        XDG_DATA_HOME=str(root / "data"),
        XDG_STATE_HOME=str(root / "state"),
        XDG_CACHE_HOME=str(root / "cache"),
        COLUMNS="200",
        NO_COLOR="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_cli(
    root: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``copytui ARGS`` in a subprocess, through its real entry point (main(), logging included)."""
    return subprocess.run(
        [sys.executable, "-m", "copytui.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env or cli_env(root),
        timeout=timeout,
        check=False,
        cwd=root,
    )
