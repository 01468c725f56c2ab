"""`copytui doctor` through its real entry point in a subprocess, against the real Secret Service
of tests/run.sh; and the same commands with no keyring at all and with a locked one."""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import sys
import termios
from pathlib import Path

import keyring
import pytest

from tests.keyring_support import Names, cli_env, run_cli, tree_bytes, unique_names

_names = pytest.fixture(unique_names, name="names")
NO_BACKEND = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def write_config(root: Path, text: str, mode: int = 0o600) -> Path:
    path = root / "config" / "copytui" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def paper_desk(root: Path, names: Names, extra: str = "") -> Path:
    return write_config(
        root,
        f"leader: {{name: {names('lead')}, broker: paper}}\n"
        f"followers:\n  - {{name: {names('alpha')}, broker: paper, multiplier: 2}}\n{extra}",
    )


def lines_of(out: str, status: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(f"[{status:^4}]")]


def test_all_well_exits_zero(tmp_path: Path, names: Names) -> None:
    paper_desk(tmp_path, names)
    r = run_cli(tmp_path, "doctor")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.rstrip().endswith("all is well")
    assert not lines_of(r.stdout, "FAIL")
    ok = "\n".join(lines_of(r.stdout, "ok"))
    assert "keyring: keyring.backends.SecretService.Keyring: unlocked" in ok
    assert "adapter paper: installed" in ok and "journal:" in ok and "config file mode" in ok
    assert keyring.get_password("copytui", "copytui-doctor-probe") is None


def test_missing_secret_and_unknown_adapter_fail_with_their_fix(tmp_path: Path, names: Names) -> None:
    trader = names("tv")
    paper_desk(tmp_path, names, f"  - {{name: {trader}, broker: tradovate, username: jane}}\n"
                                f"  - {{name: {names('odd')}, broker: nosuchbroker}}\n")  # fmt: skip
    r = run_cli(tmp_path, "doctor")
    assert r.returncode == 1
    out = r.stdout
    assert f"[FAIL] secret of {trader}: missing in the keyring: password, sec" in out
    assert f"fix: copytui accounts set {trader} --new-secret" in out
    assert "[FAIL] adapter nosuchbroker: not installed (installed: " in out and "paper" in out
    assert "problem(s): " in out.splitlines()[-1]

    keyring.set_password("copytui", trader, "tv-password-x1")
    keyring.set_password("copytui", f"{trader}:sec", "tv-sec-x2")
    out = run_cli(tmp_path, "doctor").stdout
    assert f"[ ok ] secret of {trader}: password, sec present" in out
    assert "tv-password-x1" not in out and "tv-sec-x2" not in out


def test_config_problems_are_reported(tmp_path: Path, names: Names) -> None:
    r = run_cli(tmp_path, "doctor")
    assert r.returncode == 1 and "[FAIL] config: no config at" in r.stdout and "copytui accounts add" in r.stdout

    path = paper_desk(tmp_path, names)
    path.chmod(0o644)
    r = run_cli(tmp_path, "doctor")
    assert r.returncode == 1 and f"fix: chmod 600 {path}" in r.stdout

    path.write_text("leader:\n  name: x\n  colour: red\n")
    r = run_cli(tmp_path, "doctor")
    assert r.returncode == 1 and f"[FAIL] config: {path}:3: leader.colour: unknown key" in r.stdout


def test_unwritable_journal_fails(tmp_path: Path, names: Names) -> None:
    paper_desk(tmp_path, names)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    r = run_cli(tmp_path, "doctor", "--journal", str(blocker / "journal.sqlite3"))
    assert r.returncode == 1
    assert "[FAIL] journal:" in r.stdout and "--journal" in r.stdout


def _no_keyring_envs(root: Path) -> list[dict[str, str]]:
    return [cli_env(root, **NO_BACKEND), cli_env(root, DBUS_SESSION_BUS_ADDRESS=None)]


def test_without_any_keyring_doctor_explains_and_fails(tmp_path: Path, names: Names) -> None:
    paper_desk(tmp_path, names)
    for env in _no_keyring_envs(tmp_path):
        r = run_cli(tmp_path, "doctor", env=env)
        assert r.returncode == 1
        assert "Traceback" not in r.stdout + r.stderr
        assert "[FAIL] keyring: no usable OS keyring" in r.stdout
        assert "dbus-run-session" in r.stdout and "gnome-keyring-daemon --unlock --components=secrets" in r.stdout


def test_without_any_keyring_accounts_add_explains_and_changes_nothing(tmp_path: Path, names: Names) -> None:
    paper_desk(tmp_path, names)
    new = names("new")
    before = tree_bytes(tmp_path)
    for env in _no_keyring_envs(tmp_path):
        r = run_cli(tmp_path, "accounts", "add", new, "--broker", "paper", "--role", "follower",
                    "--secret-stdin", stdin="never-stored-123\n", env=env)  # fmt: skip
        assert r.returncode != 0
        assert "Traceback" not in r.stdout + r.stderr
        assert r.stderr.startswith("error: no usable OS keyring")
        assert "apt-get install -y gnome-keyring dbus" in r.stderr and "never-stored-123" not in r.stderr
        assert tree_bytes(tmp_path) == before
    assert keyring.get_password("copytui", new) is None


def test_locked_keyring_is_reported_with_the_unlock_steps(tmp_path: Path, names: Names) -> None:
    """A fresh D-Bus session whose gnome-keyring was never unlocked: the state of an SSH login."""
    paper_desk(tmp_path, names)
    env = cli_env(tmp_path)
    env.pop("GNOME_KEYRING_CONTROL", None)
    fresh_login = tmp_path / "run"  # a new login's runtime folder: no running keyring to find there
    fresh_login.mkdir(mode=0o700)
    env["XDG_RUNTIME_DIR"] = str(fresh_login)
    locked = [
        "dbus-run-session", "--", sys.executable, "-m", "copytui.cli",
    ]  # fmt: skip
    r = subprocess.run([*locked, "doctor"], capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stdout
    assert "[FAIL] keyring: no usable OS keyring: the keyring is locked" in r.stdout
    assert "gnome-keyring-daemon --unlock" in r.stdout
    before = tree_bytes(tmp_path / "config")
    add = [*locked, "accounts", "add", names("new"), "--broker", "paper", "--role", "follower", "--secret-stdin"]
    r = subprocess.run(add, input="x-never-1\n", capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)
    assert r.returncode == 3 and "error: no usable OS keyring: the keyring is locked" in r.stderr
    assert tree_bytes(tmp_path / "config") == before


def _doctor_in_a_terminal(root: Path, columns: int, rows: int, term: str) -> str:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = cli_env(root, TERM=term, NO_COLOR=None, COLUMNS=None, LINES=None, COLORTERM=None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "copytui.cli", "doctor"], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=root
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    return b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")


def test_terminal_colours_and_size_are_checked_in_a_terminal(tmp_path: Path, names: Names) -> None:
    paper_desk(tmp_path, names)
    good = _doctor_in_a_terminal(tmp_path, 120, 40, "xterm-256color")
    assert "[ ok ] terminal colours: 256" in good and "[ ok ] terminal size: 120x40" in good
    assert "all is well" in good
    small = _doctor_in_a_terminal(tmp_path, 60, 20, "xterm-256color")
    assert "[FAIL] terminal size: 60x20" in small and "at least 80x24" in small
    dumb = _doctor_in_a_terminal(tmp_path, 120, 40, "dumb")
    assert "[FAIL] terminal colours:" in dumb and "TERM=xterm-256color" in dumb
