"""The README's promise: the headless demo runs and the journal summary shows a clean session."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def _copytui(*args: str, env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "copytui.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_headless_demo_then_summary(tmp_path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    journal = tmp_path / "j.sqlite3"
    run = _copytui("run", "--demo", "--headless", "--duration", "6", "--seed", "4", "--journal", str(journal),
                   env=env)
    assert run.returncode == 0, run.stderr
    assert "signal " in run.stdout and "alpha" in run.stdout
    assert oct(journal.stat().st_mode & 0o777) == "0o600"
    out = _copytui("journal", "summary", "--json", "--journal", str(journal), env=env)
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    for key in ("signals", "follower_orders", "fills", "rejects", "duplicates_dropped", "duplicate_orders",
                "open_drift", "latency_ms"):
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
