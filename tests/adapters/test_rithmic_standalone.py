"""Copying through `copytui sim rithmic` started standalone (its own process, its own paper exchange,
its prices walking), with the conformance suite's faults switched on from the command line:
partial fills, duplicated and reordered notifications. A paper leader copies to two Rithmic
followers under one login, and a Rithmic leader (traded by hand, as from R|Trader) copies to paper
followers, each from a config file. Nothing may be missed, doubled or copied out of order: the
followers end where the rules put them, each copy reached the gateway once (its audit file), and the
journal holds no duplicate or unresolved order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from copytui.config import load_config
from copytui.journal import summary
from copytui.models import Side
from copytui.runtime import build_runtime
from tests.adapters.rithmic_support import connected_to, order, until

FAULTS = ("--partial-fill-prob", "0.3", "--duplicate-prob", "0.2", "--reorder-prob", "0.2")


@contextlib.asynccontextmanager
async def standalone(tmp_path: Path) -> AsyncIterator[tuple[int, Path]]:
    audit = tmp_path / "audit.jsonl"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "copytui.cli", "sim", "rithmic", "--port", "0", "--accounts", "3", "--seed", "3",
        *FAULTS, "--audit", str(audit), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        m = re.search(r"listening on ws://127\.0\.0\.1:(\d+)", first)
        assert m, first
        yield int(m.group(1)), audit
    finally:
        proc.send_signal(signal.SIGINT)
        out = (await asyncio.wait_for(proc.communicate(), 15))[0].decode()
        assert proc.returncode == 0 and "rithmic simulator stopped" in out, out


def rithmic_account(name: str, port: int, account: str) -> str:
    return (
        f"name: {name}, broker: rithmic, environment: sim, host: 127.0.0.1, port: {port}, "
        f"username: trader1, account_id: {account}, options: {{reconnect_delay_s: 0.05}}"
    )


def placed_tags(audit: Path) -> list[str]:
    rows = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()]
    return [r["client_order_id"] for r in rows if r["action"] == "new_order" and r["outcome"] == "accepted"]


async def test_paper_leader_to_rithmic_followers_through_the_standalone_simulator(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    async with standalone(tmp_path) as (port, audit):
        path = tmp_path / "config.yaml"
        path.write_text(
            "leader: {name: lead, broker: paper}\nfollowers:\n"
            f"  - {{{rithmic_account('r1', port, 'RSIM-1001')}, multiplier: 2}}\n"
            f"  - {{{rithmic_account('r2', port, 'RSIM-1002')}}}\n"
            "reconcile: {interval_s: 1}\n",
            encoding="utf-8",
        )
        journal = tmp_path / "journal.sqlite3"
        rt = build_runtime(load_config(path), journal_path=journal, secret_lookup=lambda _key: "any-password")
        rt.walk = False
        await rt.start()
        try:
            lead = rt.exchange
            for side, qty in ((Side.BUY, 3), (Side.SELL, 1), (Side.BUY, 2), (Side.SELL, 4), (Side.SELL, 1)):
                lead.submit("lead", symbol="ES", side=side, qty=qty)
            lead.submit("lead", symbol="NQ", side=Side.SELL, qty=2)
            async with connected_to(port, "RSIM-1001") as w1, connected_to(port, "RSIM-1002") as w2:

                async def held() -> tuple[dict[str, int], dict[str, int]]:
                    one = {p.symbol: p.qty for p in await w1.positions()}
                    two = {p.symbol: p.qty for p in await w2.positions()}
                    return one, two

                want = ({"ES": -2, "NQ": -4}, {"ES": -1, "NQ": -2})
                async with asyncio.timeout(20):
                    while await held() != want:
                        await asyncio.sleep(0.1)
            await rt.engine.drain(timeout_s=10)
        finally:
            await rt.stop(flatten_leader=False)
    tags = placed_tags(audit)
    assert tags and len(tags) == len(set(tags))  # every copy reached the gateway once
    s = await summary(journal)
    assert s["duplicate_orders"] == 0 and s["unresolved"] == 0 and s["rejects"] == 0
    assert s["fills"] >= 12  # six leader orders, two followers, some of them partly filled


async def test_rithmic_leader_to_paper_followers_through_the_standalone_simulator(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    async with standalone(tmp_path) as (port, _audit):
        path = tmp_path / "config.yaml"
        path.write_text(
            f"leader: {{{rithmic_account('lead', port, 'RSIM-1003')}}}\n"
            "followers:\n  - {name: p1, broker: paper, multiplier: 2}\n"
            "  - {name: p2, broker: paper, symbol_map: {ES: {symbol: MES, factor: 10}}}\n"
            "reconcile: {interval_s: 1}\n",
            encoding="utf-8",
        )
        journal = tmp_path / "journal.sqlite3"
        rt = build_runtime(load_config(path), journal_path=journal, secret_lookup=lambda _key: "any-password")
        rt.walk = False
        await rt.start()
        paper = rt.exchange

        def held(account: str, symbol: str) -> int:
            pos = paper.accounts[account].positions.get(symbol)
            return pos.qty if pos else 0

        try:
            # the trader's own orders on the leader's account (user_tags that are not copytui's)
            async with connected_to(port, "RSIM-1003", name="hand") as hand:
                for i, (side, qty) in enumerate(((Side.BUY, 2), (Side.BUY, 1), (Side.SELL, 4), (Side.BUY, 2))):
                    await hand.place(order(f"hand{i}", "hand", side=side, qty=qty))
                await until(lambda: held("p1", "ES") == 2 and held("p2", "MES") == 10, timeout=20, what="copies")
            await rt.engine.drain(timeout_s=10)
        finally:
            await rt.stop(flatten_leader=False)
    s = await summary(journal)
    assert s["duplicate_orders"] == 0 and s["unresolved"] == 0 and s["rejects"] == 0
    assert paper.duplicate_submissions("p1") == 0 and paper.duplicate_submissions("p2") == 0
