"""The demo keeps to its own folder: two demos run side by side, neither touches the trader's own
journal, reports, leases or keyrings, and a paper leader's order ids never repeat across runs of
one journal (a repeat would be dropped as a replay of the earlier run's order)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from adapters.paper.exchange import PaperExchange
from copytui.models import Side


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env["HOME"] = str(home)
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"  # the demo needs no keyring at all
    return env


def _demo(home: Path, *extra: str, duration: str = "3") -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "copytui.cli", "run", "--demo", "--headless", "--duration", duration, *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(home))


def test_two_demos_side_by_side_keep_out_of_the_users_data(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = _demo(home, duration="8")
    assert first.stdout is not None
    header = first.stdout.readline()  # printed once the engine holds its journal
    assert "copying leader" in header, first.stderr.read() if first.stderr else ""
    second = _demo(home)
    out2, err2 = second.communicate(timeout=120)
    rest1, err1 = first.communicate(timeout=120)
    out1 = header + rest1
    assert first.returncode == 0, err1[-2000:]
    assert second.returncode == 0, err2[-2000:]
    assert "already driven" not in err1 + err2

    data = home / ".local" / "share" / "copytui"
    demo = data / "demo"
    assert (demo / "journal.sqlite3").exists()
    assert (demo / "journal-2.sqlite3").exists()  # the second demo, while the first held journal.sqlite3
    assert str(demo / "journal.sqlite3") in out1
    assert str(demo / "journal-2.sqlite3") in out2
    # nothing of the user's own: no journal, no leases, no reports, no keyrings, no config
    assert sorted(p.name for p in data.iterdir()) == ["demo"]
    assert not (home / ".local" / "share" / "keyrings").exists()
    assert not (home / ".config" / "copytui").exists()


def test_journal_summary_after_a_demo_reads_the_demos_journal(tmp_path: Path) -> None:
    home = tmp_path / "home"
    demo = _demo(home, "--seed", "5")
    _, err = demo.communicate(timeout=120)
    assert demo.returncode == 0, err[-2000:]
    summary = subprocess.run(
        [sys.executable, "-m", "copytui.cli", "journal", "summary"],
        capture_output=True, text=True, env=_env(home), timeout=60,
    )  # fmt: skip
    assert summary.returncode == 0, summary.stderr
    assert "demo" in summary.stdout
    assert "signals" in summary.stdout


def test_paper_order_ids_do_not_repeat_across_runs_of_one_journal(tmp_path: Path) -> None:
    home = tmp_path / "home"
    journal = tmp_path / "shared.sqlite3"
    ids = []
    for _ in range(2):
        run = _demo(home, "--journal", str(journal), "--seed", "11")
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err[-2000:]
        with sqlite3.connect(journal) as db:
            ids.append(
                {r[0] for r in db.execute("SELECT leader_order_id FROM signals WHERE leader_order_id IS NOT NULL")}
            )
    first, both = ids
    second = both - first
    assert first and second, "the second run on the same journal journaled no signal of its own"
    # the same seed makes the same trades: only distinct order ids keep them from being dropped as replays
    assert len(second) >= len(first) // 2


def test_a_new_paper_exchange_numbers_its_orders_above_the_last_one() -> None:
    earlier = PaperExchange(seed=1)
    earlier.account("a")
    first = earlier.submit("a", symbol="ES", side=Side.BUY, qty=1)
    time.sleep(0.002)
    later = PaperExchange(seed=1)
    later.account("a")
    again = later.submit("a", symbol="ES", side=Side.BUY, qty=1)
    assert first.id != again.id
    assert int(again.id[1:]) > int(first.id[1:])


def test_a_demo_killed_mid_trade_leaves_the_next_demo_a_clean_start(tmp_path: Path) -> None:
    """The demo's paper accounts live in memory: after a kill -9 (a closed tmux window) the next demo
    starts flat, so it must not restore the dead demo's positions (a "leader gap", drift everywhere)."""
    home = tmp_path / "home"
    first = _demo(home, "--seed", "3", duration="60")
    assert first.stdout is not None
    assert "copying leader" in first.stdout.readline()
    journal = home / ".local" / "share" / "copytui" / "demo" / "journal.sqlite3"

    def leader_position() -> int:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
            rows = db.execute("SELECT leader_position FROM signals WHERE kind = 'fill' ORDER BY rowid DESC LIMIT 1")
            return next((abs(r[0] or 0) for r in rows), 0)

    deadline = time.monotonic() + 60
    while leader_position() == 0 and time.monotonic() < deadline:  # killed while the leader holds a position
        time.sleep(0.2)
    first.kill()
    first.communicate(timeout=30)
    second = _demo(home, "--seed", "3", duration="4")
    _, err = second.communicate(timeout=120)
    assert second.returncode == 0, err[-2000:]
    with sqlite3.connect(journal) as db:
        kinds = [r[0] for r in db.execute("SELECT kind FROM alerts")]
        signals = db.execute("SELECT count(*) FROM signals").fetchone()[0]
    assert "leader gap" not in kinds
    assert signals > 0
