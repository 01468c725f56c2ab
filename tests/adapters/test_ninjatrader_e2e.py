"""NinjaTrader end to end: the engine from a config file copying a paper leader to NinjaTrader
followers and a NinjaTrader leader to paper and NinjaTrader followers, partial fills included;
`copytui sim ninjatrader` standalone, with `copytui run`; the benchmark through the files."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from adapters.ninjatrader.contracts import Contracts
from adapters.ninjatrader.simulator import NinjaTraderStandIn
from adapters.ninjatrader.wire import parse_position_file, position_file_name
from adapters.paper.exchange import PaperExchange
from copytui.config import load_config
from copytui.journal import summary
from copytui.models import OrderType, Side
from copytui.runtime import build_runtime
from tests.adapters.ninjatrader_support import hand_trade, make_adapter, order, until, write_oif

ES = Contracts().instrument("ES")
NQ = Contracts().instrument("NQ")


def held(exchange: PaperExchange, account: str, symbol: str = "ES") -> int:
    pos = exchange.accounts[account].positions.get(symbol)
    return pos.qty if pos else 0


def file_position(folder: Path, account: str, instrument: str = ES) -> int | None:
    path = folder / "outgoing" / position_file_name(instrument, account)
    try:
        return parse_position_file(path.read_text(), path.name).qty
    except (OSError, ValueError):
        return None


def placed_ids(sim: NinjaTraderStandIn, account: str) -> list[str]:
    return [e.client_order_id or "" for e in sim.audit.entries if e.account == account and e.action == "place"]


# ------------------------------------------------------------------ paper leader -> NinjaTrader followers
async def test_paper_leader_copies_to_ninjatrader_followers_from_a_config_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    nt = tmp_path / "nt8"
    async with NinjaTraderStandIn(str(nt), PaperExchange(seed=9), accounts=["Sim101", "Sim102"]) as sim:
        path = tmp_path / "config.yaml"
        path.write_text(
            f"""
leader: {{name: lead, broker: paper, faults: {{partial_fill_prob: 1.0}}}}
followers:
  - name: nt1
    broker: ninjatrader
    account_id: Sim101
    mode: mirror
    mirror_unfilled_after_s: 60
    multiplier: 2
    options: {{folder: "{nt}", settle_s: 0.2}}
  - name: nt2
    broker: ninjatrader
    account_id: Sim102
    options: {{folder: "{nt}", settle_s: 0.2, watch: poll}}
reconcile: {{interval_s: 1}}
""",
            encoding="utf-8",
        )
        journal = tmp_path / "journal.sqlite3"
        rt = build_runtime(load_config(path), journal_path=journal)
        rt.walk = False
        x = sim.exchange
        await rt.start()
        try:
            lead = rt.exchange
            # a limit order that fills 1, then 2 more: followers get the deltas of the cumulative quantity
            px = lead.price("ES") - 2
            work = lead.submit("lead", symbol="ES", side=Side.BUY, qty=3, order_type=OrderType.LIMIT, price=px)
            await until(lambda: any(o.price == px for o in x.open_orders("Sim101")), what="mirrored limit at Sim101")
            lead.fill("lead", work.id, 1)
            await until(lambda: held(x, "Sim102") == 1, what="Sim102 long 1 after the first partial fill")
            lead.fill("lead", work.id, 2)
            await until(lambda: held(x, "Sim102") == 3, what="Sim102 long 3 after the rest")
            # Sim101 mirrors the limit order (6 at px): its own market fills it, in two parts
            [copy] = x.open_orders("Sim101")
            assert (copy.qty, copy.price, copy.order_type) == (6, px, OrderType.LIMIT)
            x.fill("Sim101", copy.broker_order_id, 4)
            x.fill("Sim101", copy.broker_order_id, 2)
            await until(lambda: held(x, "Sim101") == 6, what="Sim101 long 6 (2 x 3)")
            # market orders the paper leader fills in parts (partial_fill_prob 1): still one copy per delta
            lead.submit("lead", symbol="NQ", side=Side.SELL, qty=3)
            for _ in range(5):
                lead.step()
            await until(lambda: held(x, "Sim102", "NQ") == -3, what="Sim102 short 3 NQ")
            await until(lambda: held(x, "Sim101", "NQ") == -6, what="Sim101 short 6 NQ")
            lead.submit("lead", symbol="ES", side=Side.SELL, qty=3)
            lead.submit("lead", symbol="NQ", side=Side.BUY, qty=3)
            for _ in range(10):
                lead.step()
            await until(
                lambda: all(held(x, a, s) == 0 for a in ("Sim101", "Sim102") for s in ("ES", "NQ")),
                what="both followers flat",
            )
            assert await rt.engine.drain(timeout_s=5)
        finally:
            await rt.stop()
    s = await summary(journal)
    assert s["duplicate_orders"] == 0 and s["unresolved"] == 0 and s["rejects"] == 0, s
    for account in ("Sim101", "Sim102"):
        ids = placed_ids(sim, account)
        assert len(ids) == len(set(ids)) and all(ids), ids  # every file read once, each with its ORDER ID
        assert x.duplicate_submissions(account) == 0
    assert file_position(nt, "Sim101") == 0 and file_position(nt, "Sim102") == 0


# ------------------------------------------------------------------ NinjaTrader leader -> paper followers
async def test_ninjatrader_leader_copies_to_paper_followers_from_a_config_file(tmp_path: Path, monkeypatch) -> None:
    """Trades by hand (no ORDER ID), another ATI client's order filling in parts, and a NinjaTrader
    restart with a trade made while it was down: the paper followers hold the leader's position x 2."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    nt = tmp_path / "nt8"
    async with NinjaTraderStandIn(str(nt), PaperExchange(seed=4), accounts=["Sim101"]) as sim:
        path = tmp_path / "config.yaml"
        path.write_text(
            f"""
leader: {{name: lead, broker: ninjatrader, account_id: Sim101, options: {{folder: "{nt}", settle_s: 0.2}}}}
followers:
  - {{name: pa, broker: paper, multiplier: 2}}
  - {{name: pb, broker: paper}}
reconcile: {{interval_s: 1}}
""",
            encoding="utf-8",
        )
        journal = tmp_path / "journal.sqlite3"
        rt = build_runtime(load_config(path), journal_path=journal)
        rt.walk = False
        paper = rt.exchange
        x = sim.exchange
        await rt.start()
        try:
            hand_trade(nt, "Sim101", ES, "BUY", 2)
            await until(lambda: held(paper, "pa") == 4 and held(paper, "pb") == 2, what="followers long 4 / 2")
            # another ATI client's limit order, filled 1 then 2: copied by cumulative quantity
            px = x.price("ES") - 3
            write_oif(nt, f"PLACE;Sim101;{ES};BUY;3;LIMIT;{px};0;DAY;;other7;;")
            await until(lambda: (nt / "outgoing" / "other7.txt").exists(), what="the ATI client's order file")
            paper_id = x.accounts["Sim101"].by_client_id["other7"].id
            x.fill("Sim101", paper_id, 1)
            await until(lambda: held(paper, "pb") == 3, what="pb long 3 after the first part")
            x.fill("Sim101", paper_id, 2)
            await until(lambda: held(paper, "pa") == 10 and held(paper, "pb") == 5, what="followers long 10 / 5")
            # NinjaTrader restarts; the leader trades while it is down (at the broker): copied on its return
            sim.restart(down_s=0.3)
            x.submit("Sim101", symbol="ES", side=Side.SELL, qty=4)
            await until(lambda: held(paper, "pa") == 2 and held(paper, "pb") == 1, what="the trade made while down")
            hand_trade(nt, "Sim101", ES, "SELL", 1)
            await until(lambda: held(paper, "pa") == 0 and held(paper, "pb") == 0, what="followers flat")
            assert await rt.engine.drain(timeout_s=5)
            assert rt.engine.leader.health.reconnects == 1
        finally:
            await rt.stop()
    s = await summary(journal)
    assert s["duplicate_orders"] == 0 and s["unresolved"] == 0 and s["rejects"] == 0, s
    assert held(x, "Sim101") == 0


async def test_fills_made_while_copytui_was_down_are_copied_at_its_start(tmp_path: Path, monkeypatch) -> None:
    """ATI has no fill history: the journaled cursor remembers the positions seen, and the next run
    copies the difference before anything live."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    nt = tmp_path / "nt8"
    async with NinjaTraderStandIn(str(nt), PaperExchange(seed=6), accounts=["Sim101", "Sim102"]) as sim:
        path = tmp_path / "config.yaml"
        opts = f'{{folder: "{nt}", settle_s: 0.2}}'
        path.write_text(
            f"leader: {{name: lead, broker: ninjatrader, account_id: Sim101, options: {opts}}}\n"
            f"followers:\n  - {{name: f1, broker: ninjatrader, account_id: Sim102, multiplier: 3, options: {opts}}}\n"
            "reconcile: {interval_s: 1}\n",
            encoding="utf-8",
        )
        journal = tmp_path / "journal.sqlite3"
        x = sim.exchange

        async def copytui_run(first: bool) -> None:
            rt = build_runtime(load_config(path), journal_path=journal, data_root=tmp_path / "data")
            rt.walk = False
            await rt.start()
            try:
                if first:
                    hand_trade(nt, "Sim101", ES, "BUY", 1)
                    await until(lambda: held(x, "Sim102") == 3, what="follower long 3")
                    await until(
                        lambda: "ES=1@" in (rt.journal.get_cursor("lead") or ""),
                        timeout=10,
                        what="a reconcile pass journaling the cursor with the position seen",
                    )
                else:
                    await until(lambda: held(x, "Sim102") == 9, what="the fill made while copytui was down, copied")
                assert await rt.engine.drain(timeout_s=5)
            finally:
                await rt.stop()

        await copytui_run(first=True)
        x.submit("Sim101", symbol="ES", side=Side.BUY, qty=2)  # while copytui is not running
        await copytui_run(first=False)
        s = await summary(journal)
        assert s["duplicate_orders"] == 0 and s["unresolved"] == 0, s
        assert held(x, "Sim102") == 9 and held(x, "Sim101") == 3


# ------------------------------------------------------------------ copytui sim ninjatrader
def _start(args: list[str], cwd: Path | None = None, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "copytui.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        cwd=cwd,
    )


async def _line(proc: subprocess.Popen[str], pattern: str, timeout: float = 20.0) -> re.Match[str]:
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = await asyncio.to_thread(proc.stdout.readline)
        if not line:
            break
        seen.append(line.rstrip())
        if m := re.search(pattern, line):
            return m
    raise AssertionError(f"no line matching {pattern!r}; got {seen[-10:]}")


def _stop(proc: subprocess.Popen[str] | None, sig: int = signal.SIGINT) -> str:
    if proc is None:
        return ""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


async def test_copytui_sim_ninjatrader_runs_standalone(tmp_path: Path) -> None:
    folder = tmp_path / "nt8"
    proc = _start(["sim", "ninjatrader", "--folder", str(folder), "--accounts", "2", "--port", "0"])
    try:
        m = await _line(proc, r"ninjatrader stand-in reading (.+)/incoming")
        assert Path(m[1]) == folder
        await _line(proc, r"accounts: Sim101, Sim102")
        await _line(
            proc, rf'config: broker: ninjatrader, account_id: Sim101, options: \{{folder: "{re.escape(str(folder))}"\}}'
        )
        adapter = make_adapter(folder, account="Sim102")
        await adapter.connect()
        try:
            ack = await adapter.place(order("standalone1", qty=2))
            assert ack.broker_order_id == "standalone1"
            await until(lambda: adapter.book.symbol_position("ES")[0] == 2, what="Sim102 long 2 in its position file")
        finally:
            await adapter.disconnect()
    finally:
        out = _stop(proc, signal.SIGTERM)
    assert "ninjatrader stand-in stopped" in out and proc.returncode == 0, out


async def test_standalone_ninjatrader_leader_copies_with_copytui_run(tmp_path: Path) -> None:
    """Two processes as on a trading box: the stand-in, and `copytui run` copying its Sim101 (traded
    by hand) to its Sim102 (x2) and a paper follower, with partial fills (the stand-in's fault)."""
    folder = tmp_path / "nt8"
    sim = _start(["sim", "ninjatrader", "--folder", str(folder), "--accounts", "2", "--partial-fill-prob", "0.5"])
    run = None
    try:
        await _line(sim, r"config: broker: ninjatrader")
        config = tmp_path / "copytui.yaml"
        opts = f'{{folder: "{folder}", settle_s: 0.3}}'
        config.write_text(
            f"leader: {{name: lead, broker: ninjatrader, account_id: Sim101, options: {opts}}}\n"
            "followers:\n"
            f"  - {{name: ntf, broker: ninjatrader, account_id: Sim102, multiplier: 2, options: {opts}}}\n"
            "  - {name: papf, broker: paper}\n"
            "reconcile: {interval_s: 1}\n",
            encoding="utf-8",
        )
        journal = tmp_path / "journal.sqlite3"
        env_dir = tmp_path / "data"
        run = _start(
            ["run", "--config", str(config), "--headless", "--duration", "8", "--journal", str(journal)],
            cwd=tmp_path,
            XDG_DATA_HOME=str(env_dir),
        )
        await _line(run, r'copytui: copying leader "lead" \(ninjatrader\) to 2 followers')
        hand_trade(folder, "Sim101", ES, "BUY", 3)
        deadline = time.monotonic() + 10
        while file_position(folder, "Sim102") != 6:
            assert time.monotonic() < deadline, f"Sim102 at {file_position(folder, 'Sim102')}, want 6"
            await asyncio.sleep(0.05)
        hand_trade(folder, "Sim101", ES, "SELL", 2)
        while file_position(folder, "Sim102") != 2:
            assert time.monotonic() < deadline, f"Sim102 at {file_position(folder, 'Sim102')}, want 2"
            await asyncio.sleep(0.05)
        out, _ = await asyncio.to_thread(run.communicate, timeout=30)
        assert run.returncode == 0, out
    finally:
        _stop(run)
        _stop(sim)
    s = await summary(journal)
    assert (s["rejects"], s["duplicate_orders"], s["unresolved"]) == (0, 0, 0), s
    assert set(s["latency_ms"]) == {"ntf", "papf"}, s


# ------------------------------------------------------------------ the benchmark
def test_bench_measures_ninjatrader_through_its_files(tmp_path: Path) -> None:
    args = ["--quick", "--json", "--only", "overhead", "--followers", "2", "--adapter", "ninjatrader"]
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "copytui.cli", "bench", *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert not [n for n in out["notes"] if "skipped" in n or "failed" in n], out["notes"]
    [row] = [s for s in out["scenarios"] if s["adapter"] == "ninjatrader"]
    assert row["name"] == "overhead" and row["followers"] == 2
    assert row["samples"] > 0 and row["incomplete"] == 0, row
    # e2e: the order file moved in -> the stand-in's state file read back (pickup included)
    assert 0 < row["internal_ms"]["p50"] <= row["e2e_ms"]["p50"], row
