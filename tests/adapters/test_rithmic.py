"""The Rithmic adapter against its simulator over real sockets: the shared conformance suite, the
engine copying from and to Rithmic from a config file, `copytui sim rithmic` standalone, and the
benchmark's Rithmic run."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.base import BrokerAdapter
from adapters.kit.conformance import AdapterConformance, Venue
from adapters.paper.exchange import PaperExchange
from adapters.rithmic.enums import InfraType
from adapters.rithmic.simulator import RithmicSimulator, SimUser
from copytui.config import load_config
from copytui.journal import summary
from copytui.models import EventKind, OrderStatus, OrderType, Side
from copytui.runtime import build_runtime
from tests.adapters.rithmic_support import PASSWORD, USER, RawClient, make_adapter, secrets_for, until

# ----------------------------------------------------------------------------- the shared conformance suite


class TestRithmicConformance(AdapterConformance):
    """The suite every adapter passes, against the Rithmic simulator, plus a dropped session in
    the middle of a burst of orders with duplicated and reordered notifications."""

    @pytest.fixture
    async def venue(self) -> AsyncIterator[Venue]:
        exchange = PaperExchange(seed=5)
        async with RithmicSimulator(exchange, users={USER: SimUser(PASSWORD, ["RSIM-1001"])}) as sim:

            def make() -> BrokerAdapter:
                return make_adapter(sim, "r1", "RSIM-1001")

            def drop() -> None:
                assert sim.drop_sockets("RSIM-1001") == 2  # the order and the PnL plant

            async with Venue.open(exchange, "RSIM-1001", make, drop) as v:
                v.rithmic_sim = sim  # type: ignore[attr-defined]
                yield v

    async def test_session_drop_during_a_burst_with_duplicates_and_reorders(self, venue: Venue) -> None:
        sim: RithmicSimulator = venue.rithmic_sim  # type: ignore[attr-defined]
        faults = venue.exchange.accounts[venue.account].faults
        faults.duplicate_prob, faults.reorder_prob = 0.3, 0.3
        before = venue.adapter.health.reconnects
        mark = len(venue.events)
        coids = [venue.coid("burst") for _ in range(10)]
        tasks = []
        for i, coid in enumerate(coids):
            side = Side.BUY if i % 2 == 0 else Side.SELL
            tasks.append(asyncio.ensure_future(venue.adapter.place(venue.order(coid, side=side, qty=1 + i % 3))))
            if i == 4:
                await asyncio.sleep(0.05)
                venue.drop_stream()
            await asyncio.sleep(0)
        acks = await asyncio.gather(*tasks, return_exceptions=True)
        faults.duplicate_prob = faults.reorder_prob = 0.0
        venue.exchange.flush_held(venue.account)
        await venue.until(
            "a reconnect", lambda: venue.adapter.health.reconnects > before and venue.adapter.health.connected
        )
        # an order cut off by the drop is ambiguous or refused unsent, never resent by the adapter
        for coid, ack in zip(coids, acks, strict=True):
            assert len(venue.paper_orders(coid)) <= 1, coid
            if not isinstance(ack, BaseException):
                assert ack.status is OrderStatus.WORKING and len(venue.paper_orders(coid)) == 1
        placed = {c: venue.paper_orders(c)[0] for c in coids if venue.paper_orders(c)}

        def cum() -> dict[str, int]:
            out: dict[str, int] = {}
            for e in venue.events[mark:]:
                if e.kind is EventKind.FILL and e.client_order_id in placed:
                    out[e.client_order_id] = max(out.get(e.client_order_id, 0), e.cum_qty)
            return out

        want = {c: o.qty for c, o in placed.items()}
        await venue.until("every placed order's fills", lambda: cum() == want)
        fills = [e for e in venue.events[mark:] if e.kind is EventKind.FILL and e.client_order_id in placed]
        assert sum(e.fill_qty for e in fills) == sum(want.values())  # nothing lost, nothing twice
        assert len({(e.order_id, e.fill_id) for e in fills}) == len(fills)
        assert venue.exchange.duplicate_submissions(venue.account) == 0
        assert sim.sessions(InfraType.ORDER_PLANT)


# ----------------------------------------------------------------------------- end to end from a config file


def _held(sim: RithmicSimulator, account: str, symbol: str) -> int:
    pos = sim.exchange.accounts[account].positions.get(symbol)
    return pos.qty if pos else 0


async def test_paper_leader_copies_to_rithmic_followers_from_a_config_file(tmp_path: Path, monkeypatch) -> None:
    """Two followers under one Rithmic login: one session (one order and one PnL plant login)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    async with RithmicSimulator(
        PaperExchange(seed=9), users={USER: SimUser(PASSWORD, ["RSIM-1001", "RSIM-1002"])}
    ) as sim:
        path = tmp_path / "config.yaml"
        path.write_text(
            f"""
leader: {{name: lead, broker: paper}}
followers:
  - name: r1
    broker: rithmic
    environment: sim
    host: 127.0.0.1
    port: {sim.port}
    username: {USER}
    account_id: RSIM-1001
    mode: mirror
    multiplier: 2
    options: {{reconnect_delay_s: 0.02}}
  - name: r2
    broker: rithmic
    environment: sim
    host: 127.0.0.1
    port: {sim.port}
    username: {USER}
    account_id: RSIM-1002
    mode: mirror
    options: {{reconnect_delay_s: 0.02}}
reconcile: {{interval_s: 1}}
""",
            encoding="utf-8",
        )
        journal = tmp_path / "journal.sqlite3"
        rt = build_runtime(load_config(path), journal_path=journal, secret_lookup=secrets_for("r1", "r2"))
        rt.walk = False
        await rt.start()
        try:
            lead = rt.exchange
            lead.submit("lead", symbol="ES", side=Side.BUY, qty=2)
            await until(lambda: _held(sim, "RSIM-1001", "ES") == 4 and _held(sim, "RSIM-1002", "ES") == 2, what="long")
            lead.submit("lead", symbol="ES", side=Side.SELL, qty=1)
            await until(lambda: _held(sim, "RSIM-1001", "ES") == 2 and _held(sim, "RSIM-1002", "ES") == 1, what="trim")
            px = lead.price("NQ") - 20
            work = lead.submit("lead", symbol="NQ", side=Side.BUY, qty=1, order_type=OrderType.LIMIT, price=px)
            await until(
                lambda: any(o.price == px and o.qty == 2 for o in sim.exchange.open_orders("RSIM-1001")),
                what="mirrored limit order",
            )
            lead.modify("lead", work.id, price=px - 5)
            await until(
                lambda: any(o.price == px - 5 for o in sim.exchange.open_orders("RSIM-1001")), what="mirrored modify"
            )
            lead.cancel("lead", work.id)
            await until(
                lambda: not sim.exchange.open_orders("RSIM-1001") and not sim.exchange.open_orders("RSIM-1002"),
                what="mirrored cancel",
            )
            lead.submit("lead", symbol="ES", side=Side.SELL, qty=1)
            await until(lambda: _held(sim, "RSIM-1001", "ES") == 0 and _held(sim, "RSIM-1002", "ES") == 0, what="flat")
            await rt.engine.drain(timeout_s=5)
        finally:
            await rt.stop()
        # one login of the user per plant, shared by both accounts
        assert sim.logins.count((USER, InfraType.ORDER_PLANT)) == 1
        assert sim.logins.count((USER, InfraType.PNL_PLANT)) == 1
        actions = [(e.action, e.outcome) for e in sim.audit.entries]
        assert ("modify_order", "accepted") in actions and ("cancel_order", "accepted") in actions
        assert all(e.outcome == "accepted" for e in sim.audit.entries)
    s = await summary(journal)
    assert s["follower_orders"] >= 8 and s["fills"] >= 6
    assert s["duplicate_orders"] == 0 and s["unresolved"] == 0 and s["rejects"] == 0
    for account in ("RSIM-1001", "RSIM-1002"):
        assert sim.exchange.duplicate_submissions(account) == 0


async def test_rithmic_leader_copies_to_paper_followers_from_a_config_file(tmp_path: Path, monkeypatch) -> None:
    """Orders made at Rithmic (as R|Trader would: no user_tag of ours) land on paper followers."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    async with RithmicSimulator(PaperExchange(seed=11), users={USER: SimUser(PASSWORD, ["RSIM-1001"])}) as sim:
        path = tmp_path / "config.yaml"
        path.write_text(
            f"""
leader:
  name: lead
  broker: rithmic
  environment: sim
  host: 127.0.0.1
  port: {sim.port}
  username: {USER}
  account_id: RSIM-1001
  options: {{reconnect_delay_s: 0.02}}
followers:
  - {{name: p1, broker: paper, mode: mirror, multiplier: 2}}
  - {{name: p2, broker: paper, mode: fills, symbol_map: {{NQ: {{symbol: MNQ, factor: 10}}}}}}
reconcile: {{interval_s: 1}}
""",
            encoding="utf-8",
        )
        journal = tmp_path / "journal.sqlite3"
        rt = build_runtime(load_config(path), journal_path=journal, secret_lookup=secrets_for("lead"))
        rt.walk = False
        await rt.start()
        paper = rt.exchange

        def held(account: str, symbol: str) -> int:
            pos = paper.accounts[account].positions.get(symbol)
            return pos.qty if pos else 0

        try:
            leader = sim.exchange
            leader.submit("RSIM-1001", symbol="NQ", side=Side.SELL, qty=1)
            await until(lambda: held("p1", "NQ") == -2 and held("p2", "MNQ") == -10, what="followers short")
            px = leader.price("ES") - 10
            work = leader.submit("RSIM-1001", symbol="ES", side=Side.BUY, qty=2, order_type=OrderType.LIMIT, price=px)
            await until(
                lambda: any(o.price == px and o.qty == 4 for o in paper.open_orders("p1")), what="mirrored limit"
            )
            leader.modify("RSIM-1001", work.id, price=px - 1)
            await until(lambda: any(o.price == px - 1 for o in paper.open_orders("p1")), what="mirrored modify")
            leader.fill("RSIM-1001", work.id, 1)
            await until(lambda: held("p2", "ES") == 1, what="fills-mode copy of the partial fill")
            leader.cancel("RSIM-1001", work.id)
            await until(lambda: not paper.open_orders("p1"), what="mirrored cancel")
            leader.submit("RSIM-1001", symbol="NQ", side=Side.BUY, qty=1)
            leader.submit("RSIM-1001", symbol="ES", side=Side.SELL, qty=1)
            await until(lambda: held("p2", "MNQ") == 0 and held("p2", "ES") == 0, what="p2 flat")
            await rt.engine.drain(timeout_s=5)
        finally:
            await rt.stop()
    s = await summary(journal)
    assert s["fills"] >= 4 and s["duplicate_orders"] == 0 and s["unresolved"] == 0 and s["rejects"] == 0


# ----------------------------------------------------------------------------- copytui sim rithmic, copytui bench


async def test_copytui_sim_rithmic_runs_standalone() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "copytui.cli", "sim", "rithmic", "--port", "0", "--accounts", "2",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        m = re.search(r"listening on ws://127\.0\.0\.1:(\d+)", first)
        assert m, first
        async with RawClient(f"ws://127.0.0.1:{m.group(1)}") as raw:
            answer = await raw.login(password="anything", system_name="Apex")
            assert answer.rp_code == ["0"]  # type: ignore[attr-defined]
    finally:
        proc.send_signal(signal.SIGTERM)
        out = (await asyncio.wait_for(proc.communicate(), 15))[0].decode()
    assert "account_id RSIM-1001" in out and "account_id RSIM-1002" in out
    assert "rithmic simulator stopped" in out and proc.returncode == 0


def test_bench_measures_rithmic_beside_paper(tmp_path: Path) -> None:
    args = ["--quick", "--json", "--only", "overhead", "--followers", "2", "--adapter", "paper,rithmic"]
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "copytui.cli", "bench", *args], capture_output=True, text=True, timeout=240, env=env
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert not [n for n in out["notes"] if "skipped" in n or "failed" in n], out["notes"]
    ran = {s["adapter"]: s for s in out["scenarios"] if s["name"] == "overhead"}
    assert set(ran) == {"paper", "rithmic"}
    row = ran["rithmic"]
    assert row["followers"] == 2 and row["samples"] > 0 and row["incomplete"] == 0, row
    assert 0 < row["internal_ms"]["p50"] <= row["internal_ms"]["p99"]
    [ratio] = [r for r in out["ratios"] if r["adapter"] == "rithmic"]
    assert ratio["followers"] == 2 and ratio["p50_vs_paper"] > 0  # beside paper's, same run
