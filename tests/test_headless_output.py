"""What `copytui run --headless` prints: one line per follower order (not one per engine row), prices
in the contract's tick format, no negative zero slippage, and a header and a stop line that say what
really happens."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from copytui.cli import HeadlessLog, header_text, price_text, slip_text, stopping_text
from copytui.config import parse_config
from copytui.engine import LogRow

ONE_FOLLOWER = """
leader: {name: lead, broker: paper}
followers:
  - {name: alpha, broker: paper}
"""


def row(status: str, seq: int, *, coid: str = "c1", **kw: object) -> LogRow:
    return LogRow(seq=seq, wall_ns=time.time_ns(), signal_id="s1", follower="alpha", symbol="ES", side="sell",
                  qty=1, status=status, client_order_id=coid, **kw)  # type: ignore[arg-type]  # fmt: skip


def test_an_order_acked_and_filled_at_once_is_one_line() -> None:
    out = HeadlessLog(quiet_s=0.2)
    out.row(row("filled", 1, latency_ms=1.25), now=10.0)  # the ack: the fill already arrived
    out.row(row("filled", 2, fill_price=5000.5, slippage_ticks=-0.0), now=10.01)  # the fill
    assert out.take(10.1) == []  # still settling
    (line,) = out.take(10.3)
    assert re.search(r"alpha +place +sell +1 ES +filled +1\.250 ms @ 5000\.50 slip 0\.0t$", line), line
    assert out.take(11.0) == []  # never printed twice
    assert out.take(11.0, everything=True) == []


def test_a_resting_order_prints_its_placement_then_its_fill() -> None:
    out = HeadlessLog(quiet_s=0.2)
    out.row(row("working", 1, latency_ms=0.5), now=0.0)
    (placed,) = out.take(0.3)
    assert "working" in placed and "@" not in placed
    out.row(row("filled", 2, fill_price=5001.0, slippage_ticks=2.0), now=5.0)
    (filled,) = out.take(5.3)
    assert re.search(r"filled +0\.500 ms @ 5001\.00 slip \+2\.0t$", filled), filled
    assert out.take(9.0) == []
    assert out.take(40.0) == [] and not out.orders  # a line quiet for long is forgotten: memory stays bounded


def test_two_orders_are_two_lines_and_signals_print_at_once() -> None:
    out = HeadlessLog(quiet_s=0.2)
    out.row(row("filled", 1, coid="a", fill_price=5000.0), now=0.0)
    out.row(row("rejected", 2, coid="b", reason="no margin"), now=0.0)
    out.alert(time.time_ns(), "alpha", "breaker open")
    (alert,) = out.take(0.0)
    assert alert.endswith("  ALERT alpha: breaker open")
    lines = out.take(0.0, everything=True)  # at stop: every order still settling
    assert len(lines) == 2 and lines[1].endswith("(no margin)")


def test_zero_slippage_is_never_negative() -> None:
    assert slip_text(-0.0) == "0.0t"
    assert slip_text(-0.04) == "0.0t"
    assert slip_text(0.0) == "0.0t"
    assert slip_text(1.0) == "+1.0t"
    assert slip_text(-0.5) == "-0.5t"


def test_prices_have_the_decimals_of_the_tick() -> None:
    assert price_text("ES", 5000.5) == "5000.50"
    assert price_text("NQ", 17500.0) == "17500.00"
    assert price_text("YM", 39001.0) == "39001"
    assert price_text("RTY", 2050.1) == "2050.1"
    assert price_text("CL", 78.1) == "78.10"
    assert price_text("ZZ", 1.5) == "1.5"  # an unknown symbol still prints


def test_header_quotes_the_leader_and_counts_followers() -> None:
    cfg = parse_config(ONE_FOLLOWER, "<test>")
    text = header_text(cfg, Path("/j.sqlite3"))
    assert text == 'copytui: copying leader "lead" (paper) to 1 follower; journal /j.sqlite3'


def test_stop_line_says_whether_the_leader_is_flattened() -> None:
    assert "demo leader goes flat" in stopping_text(True)
    assert "left as they are" in stopping_text(False) and "flat" not in stopping_text(False)


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "copytui.cli", "run", "--headless", *args], capture_output=True,
                          text=True, timeout=90, env=env)  # fmt: skip


def test_headless_demo_prints_each_order_once_with_tick_prices(tmp_path: Path) -> None:
    run = _run(tmp_path, "--demo", "--duration", "5", "--seed", "4", "--journal", str(tmp_path / "j.sqlite3"))
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith('copytui: copying leader "leader" (paper) to 6 followers; journal ')
    assert "copytui: stopping: the demo leader goes flat, the followers follow and settle..." in lines
    assert "-0.0t" not in run.stdout
    filled = [ln for ln in lines if re.search(r"\bfilled\b", ln) and "  signal " not in ln]
    assert filled
    for ln in filled:  # one line per order: latency (from the ack) and fill price (from the fill) together
        assert re.search(r" ms @ \d+\.\d\d slip [+-]?\d\.\dt", ln), ln
    for price in re.findall(r" @ (\S+)", run.stdout):  # ES and NQ: quarter ticks, two decimals
        assert re.fullmatch(r"\d+\.\d\d", price), price


def test_headless_without_demo_leaves_the_leader_as_it_is(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(ONE_FOLLOWER, encoding="utf-8")
    config.chmod(0o600)
    run = _run(tmp_path, "--config", str(config), "--duration", "0.5", "--journal", str(tmp_path / "j.sqlite3"))
    assert run.returncode == 0, run.stderr
    assert 'copying leader "lead" (paper) to 1 follower;' in run.stdout
    assert "leader flat" not in run.stdout
    assert "copytui: stopping: the leader's positions are left as they are; followers finish" in run.stdout
