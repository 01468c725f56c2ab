"""`copytui sim mt` as a trader runs it, and the benchmark through the MetaTrader bridge: both in
subprocesses, over real loopback sockets."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from adapters.mt import MtAdapter
from copytui.models import OrderStatus
from tests.adapters.mt_support import make_adapter, order, until


def _line(proc: subprocess.Popen[str], pattern: str, seen: list[str], timeout: float = 30.0) -> re.Match[str]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line.rstrip())
        if m := re.search(pattern, line):
            return m
    raise AssertionError(f"no line matching {pattern!r}; got {seen[-10:]}")


async def test_copytui_sim_mt_prints_its_port_takes_a_bridge_and_stops_on_sigterm(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "copytui.cli", "sim", "mt", "--port", "0", "--accounts", "2", "--audit", str(audit)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    seen: list[str] = []
    try:
        port = int(_line(proc, r"dialing the copytui bridge at 127\.0\.0\.1:(\d+)", seen)[1])
        token = _line(proc, r"login 5001 .* token (\S+)", seen)[1]
        _line(proc, r"login 5002 .* hedging", seen)
        _line(proc, rf'config: broker: mt, host: 127\.0\.0\.1, port: {port}, account_id: "5001"', seen)
        _line(proc, r"Ctrl-C to stop", seen)
        adapter = make_adapter(port, "cli", 5001, token=token)
        await adapter.connect()
        try:
            assert adapter.account_key == "mt-CopytuiSim-Demo-5001"
            ack = await adapter.place(order("from-the-cli-test", qty=2))
            assert ack.status is OrderStatus.WORKING
            await until("a position of 2", lambda: _held(adapter, 2))
        finally:
            await adapter.disconnect()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0, out
        assert "MetaTrader stand-in stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    [entry] = [json.loads(line) for line in audit.read_text().splitlines()]
    assert (entry["broker"], entry["account"], entry["action"], entry["client_order_id"]) == (
        "mt", "5001", "place", "from-the-cli-test",
    )  # fmt: skip
    assert "token" not in json.dumps(entry)


async def _held(adapter: MtAdapter, qty: int) -> bool:
    return [p.qty for p in await adapter.positions()] == [qty]


def test_the_benchmark_measures_metatrader_through_its_bridge(tmp_path: Path) -> None:
    args = ["--quick", "--json", "--only", "overhead", "--followers", "2", "--adapter", "mt"]
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "copytui.cli", "bench", *args], capture_output=True, text=True, timeout=300, env=env,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert not [n for n in out["notes"] if "skipped" in n or "failed" in n], out["notes"]
    [scenario] = out["scenarios"]
    assert (scenario["adapter"], scenario["name"], scenario["followers"]) == ("mt", "overhead", 2)
    assert scenario["samples"] > 0 and scenario["incomplete"] == 0, scenario
