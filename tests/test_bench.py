"""`copytui bench --quick` runs end to end in a subprocess and its numbers are sane.

Nothing here asserts how fast anything is: only that every scenario ran, that its numbers are
well formed and consistent with each other, and that nothing was lost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "copytui.cli", "bench"]


def run_bench(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def quick() -> dict:
    proc = run_bench("--quick", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def percentiles_sane(d: dict) -> None:
    assert set(d) == {"p50", "p90", "p99", "max"}
    assert 0 < d["p50"] <= d["p90"] <= d["p99"] <= d["max"]


def test_every_scenario_ran_with_well_formed_percentiles(quick: dict) -> None:
    names = [(s["name"], s["followers"]) for s in quick["scenarios"]]
    assert ("overhead", 1) in names and ("overhead", 5) in names
    for name in ("e2e", "burst", "baseline", "baseline_e2e", "market_off", "market_on"):
        assert name in {n for n, _ in names}
    assert quick["market_p99_ratio"] is not None and quick["market_p99_ratio"] > 0  # with a live dxLink feed
    for s in quick["scenarios"]:
        assert s["adapter"] == ("wire" if s["name"] == "floor" else "paper")
        assert s["samples"] > 0 and s["incomplete"] == 0, s
        percentiles_sane(s["internal_ms"])


def test_the_floor_is_measured_and_every_adapter_is_compared_to_it(quick: dict) -> None:
    floors = {s["followers"]: s for s in quick["scenarios"] if s["name"] == "floor"}
    overheads = {s["followers"]: s for s in quick["scenarios"] if s["name"] == "overhead"}
    assert set(floors) == set(overheads) == {1, 5}
    for n, row in floors.items():
        # writing n pre-built frames costs less than copying: the copier writes them too, and more
        assert row["internal_ms"]["p50"] < overheads[n]["internal_ms"]["p50"]
    by_n = {r["followers"]: r for r in quick["ratios"] if r["adapter"] == "paper"}
    assert by_n[5]["p50_vs_paper"] == 1.0 and by_n[5]["p50_vs_floor"] > 1.0
    assert by_n[5]["p50_vs_floor"] == round(overheads[5]["internal_ms"]["p50"] / floors[5]["internal_ms"]["p50"], 2)


def test_end_to_end_includes_the_simulated_broker_round_trip(quick: dict) -> None:
    (e2e,) = [s for s in quick["scenarios"] if s["name"] == "e2e"]
    assert e2e["broker_latency_ms"] == 50
    percentiles_sane(e2e["e2e_ms"])
    # the paper broker sleeps 25 ms each way: an ack read before that would be a measuring bug
    assert e2e["e2e_ms"]["p50"] >= 50
    assert e2e["e2e_ms"]["p50"] > e2e["internal_ms"]["p50"]
    # the naive copier sends one follower after another, so its last order waits for the others' round trips
    (naive,) = [s for s in quick["scenarios"] if s["name"] == "baseline_e2e"]
    assert naive["internal_ms"]["p50"] >= 50 * (naive["followers"] - 1)


def test_burst_loses_nothing_and_drains(quick: dict) -> None:
    (burst,) = [s for s in quick["scenarios"] if s["name"] == "burst"]
    assert burst["lost"] == 0
    assert burst["samples"] == burst["events"] == 100
    assert burst["drain_s"] >= 0 and burst["max_queue"] >= 0


def test_summary_numbers(quick: dict) -> None:
    assert quick["journal_rows_per_s"] > 0
    assert quick["rss_mb"] >= quick["rss_start_mb"] > 0
    assert quick["baseline_ratio"] > 0
    if quick["tui_p99_ratio"] is None:
        assert any("desk" in n for n in quick["notes"]), quick["notes"]
    else:
        assert quick["tui_p99_ratio"] > 0
        assert {"desk_off", "desk_on"} <= {s["name"] for s in quick["scenarios"]}
    assert quick["quick"] is True and quick["definitions"]["internal_ms"]
    for t in quick["targets"]:
        assert t["met"] in (True, False, None)


def test_a_broker_without_simulator_is_skipped_with_a_note() -> None:
    proc = run_bench("--quick", "--json", "--only", "overhead", "--adapter", "nosuchbroker", "--followers", "1")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["scenarios"] == []
    assert any("nosuchbroker" in n and "skipped" in n for n in out["notes"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--followers", "0"], "--followers: '0'"),
        (["--followers", "1,x"], "--followers: 'x'"),
        (["--only", "speed"], "--only: 'speed'"),
        (["--adapter", "Bad Name"], "--adapter: 'bad name'"),
    ],
)
def test_bad_options_say_what_is_wrong(args: list[str], message: str) -> None:
    proc = run_bench(*args, timeout=30)
    assert proc.returncode == 2
    assert message in proc.stderr and "\n" not in proc.stderr.strip()


def test_each_simulated_broker_is_measured_through_its_wire(tmp_path) -> None:
    brokers = ("tradovate", "projectx", "fix", "sierrachart")
    args = ["--quick", "--json", "--only", "overhead", "--followers", "2", "--adapter", ",".join(brokers)]
    # adapters keep state under the data dir (FIX session stores): keep this run's out of the user's
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=180, check=False, env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert not [n for n in out["notes"] if "skipped" in n or "failed" in n], out["notes"]
    ran = {s["adapter"]: s for s in out["scenarios"]}
    assert set(ran) == set(brokers)
    for s in ran.values():
        assert s["name"] == "overhead" and s["followers"] == 2
        assert s["samples"] > 0 and s["incomplete"] == 0, s
        percentiles_sane(s["internal_ms"])
