"""The README's promise: the headless demo runs and the journal summary shows a clean session; help
reads at 80 columns; an account that cannot log in ends `run` in one line that says what to do."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
import typer
from typer.testing import CliRunner

from adapters.projectx.simulator import ProjectXSimulator
from copytui.cli import app
from tests.keyring_support import Names, unique_names

ROOT = Path(__file__).resolve().parents[1]


def _copytui(*args: str, env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "copytui.cli", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def test_headless_demo_then_summary(tmp_path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    journal = tmp_path / "j.sqlite3"
    run = _copytui("run", "--demo", "--headless", "--duration", "6", "--seed", "4", "--journal", str(journal), env=env)
    assert run.returncode == 0, run.stderr
    assert "signal " in run.stdout and "alpha" in run.stdout
    assert oct(journal.stat().st_mode & 0o777) == "0o600"
    out = _copytui("journal", "summary", "--json", "--journal", str(journal), env=env)
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    for key in (
        "signals",
        "follower_orders",
        "fills",
        "rejects",
        "duplicates_dropped",
        "duplicate_orders",
        "open_drift",
        "latency_ms",
    ):
        assert key in s
    assert s["signals"] > 0 and s["follower_orders"] > 0
    assert s["duplicate_orders"] == 0
    assert s["unresolved"] == 0
    # the demo leader goes flat at the end and every follower follows it there
    assert all(v == 0 for d in s["open_drift"].values() for v in d.values()), s["open_drift"]
    assert set(s["latency_ms"]) >= {"alpha", "charlie", "delta", "echo", "foxtrot"}


def test_bad_journal_path_is_one_clear_line(tmp_path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    out = _copytui("journal", "summary", "--journal", str(tmp_path / "missing.sqlite3"), env=env)
    assert out.returncode != 0
    assert out.stderr.startswith("error: no journal at")
    assert "Traceback" not in out.stderr


# ------------------------------------------------------------------------- help at 80 columns
def _commands(cmd: object, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], object]]:
    yield path, cmd
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


def test_every_help_reads_whole_at_80_columns() -> None:
    runner = CliRunner()
    seen = 0
    for path, cmd in _commands(typer.main.get_command(app)):
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
        where = " ".join(("copytui", *path, "--help"))
        assert result.exit_code == 0, f"{where}: {result.output}"
        out = result.output
        assert "<bool>" not in out, f"{where} labels a flag <bool>:\n{out}"
        assert "…" not in out, f"{where} cuts something short:\n{out}"
        assert max(len(line) for line in out.splitlines()) <= 80, f"{where} is wider than 80 columns:\n{out}"
        for param in getattr(cmd, "params", []):
            for opt in [*param.opts, *param.secondary_opts]:
                if opt.startswith("-"):
                    assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", out), f"{where}: {opt} not whole:\n{out}"
        seen += 1
    assert seen > 15  # every group and command, accounts and sim included


def test_run_help_through_the_entry_point_at_80_columns() -> None:
    env = {**os.environ, "COLUMNS": "80"}
    out = _copytui("run", "--help", env=env)
    assert out.returncode == 0, out.stderr
    assert re.search(r"^  --demo +Drive a paper leader", out.stdout, re.M), out.stdout
    assert "<bool>" not in out.stdout


# ------------------------------------------------------------------------- an account that cannot start
API_KEY = "px-right-key-0123456789"
WRONG_KEY = "px-wrong-key-9876543210"


_names = pytest.fixture(unique_names, name="names")


def _store(name: str, value: str) -> None:
    """``value`` as the ProjectX API key of account ``name``, in the real Secret Service."""
    keyring.set_password("copytui", name, value)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _px_config(tmp_path: Path, port: int, follower: str = "topstep1") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        "leader: {name: lead, broker: paper}\n"
        "followers:\n"
        f"  - {{name: {follower}, broker: projectx, environment: sim, host: 127.0.0.1, port: {port},"
        " username: trader1, account_id: '1001'}\n",
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


def _run_args(tmp_path: Path, config: Path, desk: bool) -> list[str]:
    args = ["run", "--config", str(config), "--journal", str(tmp_path / "j.sqlite3"), "--duration", "3"]
    return args if desk else [*args, "--headless"]


def _env(tmp_path: Path, backend: str | None = None) -> dict[str, str]:
    """The test's own folders; the real Secret Service of tests/run.sh unless ``backend`` is given."""
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    if backend is not None:
        env["PYTHON_KEYRING_BACKEND"] = backend
    return env


def _one_error_line(out: subprocess.CompletedProcess[str], follower: str = "topstep1") -> str:
    assert out.returncode == 3, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr + out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(f"error: follower {follower} (projectx): "), lines[0]
    return lines[0]


@pytest.mark.parametrize("desk", [False, True], ids=["headless", "desk"])
def test_no_keyring_is_one_line_pointing_to_doctor(tmp_path: Path, desk: bool) -> None:
    env = _env(tmp_path, "keyring.backends.fail.Keyring")
    out = _copytui(*_run_args(tmp_path, _px_config(tmp_path, _closed_port()), desk), env=env)
    line = _one_error_line(out)
    assert "cannot read its ProjectX API key: no usable OS keyring" in line
    assert line.endswith("Run `copytui doctor` to set one up.")


@pytest.mark.parametrize("stored", [None, ""], ids=["nothing-stored", "blank-stored"])
@pytest.mark.parametrize("desk", [False, True], ids=["headless", "desk"])
def test_no_stored_secret_is_one_line_with_the_fix(
    tmp_path: Path, desk: bool, stored: str | None, names: Names
) -> None:
    follower = names("px")
    if stored is not None:
        _store(follower, stored)
    out = _copytui(*_run_args(tmp_path, _px_config(tmp_path, _closed_port(), follower), desk), env=_env(tmp_path))
    assert _one_error_line(out, follower) == (
        f"error: follower {follower} (projectx): login refused: no ProjectX API key in the OS keyring. "
        f"Store it with `copytui accounts set {follower} --new-secret`."
    )


def test_unreachable_broker_is_one_line_naming_the_account(tmp_path: Path, names: Names) -> None:
    follower = names("px")
    _store(follower, WRONG_KEY)
    out = _copytui(*_run_args(tmp_path, _px_config(tmp_path, _closed_port(), follower), False), env=_env(tmp_path))
    line = _one_error_line(out, follower)
    assert "could not connect" in line and f"`copytui accounts test {follower}`" in line
    assert WRONG_KEY not in out.stderr + out.stdout


async def test_refused_key_is_one_line_and_keeps_the_key_secret(tmp_path: Path, names: Names) -> None:
    follower = names("px")
    _store(follower, WRONG_KEY)
    sim = ProjectXSimulator(users={"trader1": API_KEY})
    await sim.start()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "copytui.cli", *_run_args(tmp_path, _px_config(tmp_path, sim.port, follower), False),
            env=_env(tmp_path), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 90)
    finally:
        await sim.stop()
    out = subprocess.CompletedProcess([], proc.returncode or 0, stdout.decode(), stderr.decode())
    line = _one_error_line(out, follower)
    assert "login refused: ProjectX refused the API key of 'trader1'" in line
    assert f"`copytui accounts set {follower} --new-secret`" in line
    assert WRONG_KEY not in out.stderr + out.stdout and API_KEY not in out.stderr
