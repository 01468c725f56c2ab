"""Sierra Chart: the shared conformance suite against the DTC simulator over real sockets, then the
engine end to end from config files (a paper leader copied to Sierra Chart followers under faults,
a Sierra Chart leader copied to paper and Sierra Chart followers through a standalone
``copytui sim sierrachart``), the simulator's command line and the benchmark hook."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from asyncio.subprocess import PIPE, STDOUT
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.base import BrokerAdapter
from adapters.kit.conformance import AdapterConformance, Venue
from adapters.paper.exchange import Faults, PaperExchange
from adapters.sierrachart.simulator import contracts_option
from copytui.config import load_config
from copytui.journal import summary
from copytui.models import Side
from copytui.runtime import build_runtime
from tests.adapters.sierrachart_support import RawDtc, make_adapter, running_sim, until


class TestSierraChartConformance(AdapterConformance):
    @pytest.fixture
    async def venue(self) -> AsyncIterator[Venue]:
        async with running_sim("Sim1") as sim:

            def make() -> BrokerAdapter:
                return make_adapter(sim, "sc1", "Sim1")

            def drop() -> None:
                assert sim.drop_sockets("Sim1") == 1

            async with Venue.open(sim.exchange, "Sim1", make, drop) as v:
                yield v


class TestSierraChartCompactConformance(AdapterConformance):
    """The same contract with the server answering in DTC's compact JSON form."""

    @pytest.fixture
    async def venue(self) -> AsyncIterator[Venue]:
        async with running_sim("Sim1", compact=True) as sim:

            def make() -> BrokerAdapter:
                return make_adapter(sim, "sc1", "Sim1")

            def drop() -> None:
                assert sim.drop_sockets("Sim1") == 1

            async with Venue.open(sim.exchange, "Sim1", make, drop) as v:
                yield v


# ------------------------------------------------------------------ the engine, from config files
async def _walk(exchange: PaperExchange) -> None:
    """The simulator's market moves (resting remainders of partial fills fill), as ``copytui sim`` does."""
    while True:
        await asyncio.sleep(0.05)
        exchange.step()


def _pos(exchange: PaperExchange, account: str, symbol: str = "ES") -> int:
    acct = exchange.accounts.get(account)
    pos = acct.positions.get(symbol) if acct else None
    return pos.qty if pos else 0


PAPER_LEADER = """
journal: {journal}
leader: {{name: lead, broker: paper}}
followers:
  - name: scf1
    broker: sierrachart
    host: 127.0.0.1
    port: {port}
    account_id: F1
    multiplier: 2
    options: {{contracts: "{contracts}", order_timeout_s: 3}}
  - name: scf2
    broker: sierrachart
    host: 127.0.0.1
    port: {port}
    account_id: F2
    options: {{contracts: "{contracts}", order_timeout_s: 3}}
reconcile: {{interval_s: 1}}
"""


async def test_config_copies_a_paper_leader_to_sierrachart_followers_under_faults(tmp_path: Path) -> None:
    faults = Faults(partial_fill_prob=0.4, duplicate_prob=0.5, reorder_prob=0.3)
    async with running_sim("F1", "F2", faults=faults) as sim:
        journal = tmp_path / "journal.sqlite3"
        config = tmp_path / "copytui.yaml"
        contracts = contracts_option(sim.contracts)
        config.write_text(PAPER_LEADER.format(journal=journal, port=sim.port, contracts=contracts))
        rt = build_runtime(load_config(config))
        walker = asyncio.ensure_future(_walk(sim.exchange))
        await rt.start()
        x = sim.exchange
        try:
            for side, qty, f1, f2 in ((Side.BUY, 1, 2, 1), (Side.BUY, 2, 6, 3), (Side.SELL, 1, 4, 2)):
                rt.exchange.submit("lead", symbol="ES", side=side, qty=qty)
                await until(f"followers at {f1}/{f2}", lambda f1=f1, f2=f2: (_pos(x, "F1"), _pos(x, "F2")) == (f1, f2))
                if f1 == 6:
                    assert sim.drop_sockets() == 2  # both followers' connections, between two leader trades
            rt.exchange.submit("lead", symbol="ES", side=Side.SELL, qty=2)
            await until("followers flat", lambda: (_pos(x, "F1"), _pos(x, "F2")) == (0, 0))
            await until("engine idle", lambda: rt.engine.drain(timeout_s=1))
            await until("fills journaled", lambda: all(f.stats.fills >= 4 for f in rt.engine.followers.values()))
            assert all(f.adapter.health.reconnects >= 1 for f in rt.engine.followers.values())
        finally:
            await rt.stop(flatten_leader=False)
            walker.cancel()
    for account in ("F1", "F2"):
        assert x.duplicate_submissions(account) == 0
        placed = [e.client_order_id for e in sim.audit.entries if e.account == account and e.outcome == "accepted"]
        assert len(placed) == len(set(placed)) == 4
    s = await summary(journal)
    assert (s["follower_orders"], s["rejects"], s["duplicate_orders"], s["unresolved"]) == (8, 0, 0, 0), s


SC_LEADER = """
journal: {journal}
leader:
  name: lead
  broker: sierrachart
  host: 127.0.0.1
  port: {port}
  account_id: Sim1
  options: {{contracts: "{contracts}"}}
followers:
  - name: papf
    broker: paper
  - name: scf
    broker: sierrachart
    host: 127.0.0.1
    port: {port}
    account_id: Sim2
    multiplier: 2
    options: {{contracts: "{contracts}"}}
reconcile: {{interval_s: 1}}
"""


async def _line(stream: asyncio.StreamReader, pattern: str, seen: list[str]) -> re.Match[str]:
    while True:
        raw = await asyncio.wait_for(stream.readline(), 20)  # a hang guard, not a timing assertion
        if not raw:
            raise AssertionError(f"no line matching {pattern!r}; got {seen[-8:]}")
        seen.append(raw.decode().rstrip())
        if found := re.search(pattern, seen[-1]):
            return found


async def test_standalone_sim_sierrachart_leader_copies_to_paper_and_sierrachart_followers(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    args = ["-m", "copytui.cli", "sim", "sierrachart", "--port", "0", "--accounts", "2", "--seed", "3"]
    sim = await asyncio.create_subprocess_exec(sys.executable, *args, stdout=PIPE, stderr=STDOUT, env=env)
    assert sim.stdout is not None
    out: list[str] = []
    trader = follower = None
    try:
        port = int((await _line(sim.stdout, r"listening on 127\.0\.0\.1:(\d+)", out))[1])
        contracts = (await _line(sim.stdout, r'account_id: Sim2, options: \{contracts: "([^"]+)"\}', out))[1]
        await _line(sim.stdout, "Ctrl-C to stop", out)
        journal = tmp_path / "journal.sqlite3"
        config = tmp_path / "copytui.yaml"
        config.write_text(SC_LEADER.format(journal=journal, port=port, contracts=contracts))
        rt = build_runtime(load_config(config))
        await rt.start()
        try:
            es = dict(p.split("=") for p in contracts.split(", "))["ES"]
            trader, follower = RawDtc(port), RawDtc(port)  # the trader clicks in Sierra Chart; a second window watches
            await trader.open()
            await follower.open()
            assert (await trader.logon("Sim1"))["Result"] == 1 and (await follower.logon("Sim2"))["Result"] == 1
            for n, (buy_sell, qty, want) in enumerate(((1, 2, 2), (2, 1, 1)), start=1):
                answer = await trader.market("Sim1", es, buy_sell, qty, f"trader{n}")
                assert answer["OrderStatus"] != 9, answer
                await until(
                    f"the Sierra Chart follower at {2 * want}", lambda want=want: _net_is(follower, es, 2 * want)
                )
                await until(f"the paper follower at {want}", lambda want=want: _pos(rt.exchange, "papf") == want)
            assert rt.engine.leader.account_key == f"sierrachart-127.0.0.1:{port}-Sim1"
            await until("engine idle", lambda: rt.engine.drain(timeout_s=1))
        finally:
            await rt.stop(flatten_leader=False)
        sim.send_signal(signal.SIGTERM)
        await _line(sim.stdout, "sierrachart simulator stopped", out)
        assert await asyncio.wait_for(sim.wait(), 20) == 0
    finally:
        for client in (trader, follower):
            if client is not None:
                await client.close()
        if sim.returncode is None:
            sim.kill()
            await sim.wait()
    s = await summary(journal)
    assert (s["follower_orders"], s["rejects"], s["duplicate_orders"], s["unresolved"]) == (4, 0, 0, 0), s
    assert set(s["latency_ms"]) == {"papf", "scf"}


async def _net_is(client: RawDtc, symbol: str, qty: int) -> bool:
    return await client.net("Sim2", symbol) == qty


async def test_a_sierrachart_leader_through_duplicated_updates_and_a_drop(tmp_path: Path) -> None:
    async with running_sim("Sim1", "Sim2") as sim:
        sim.exchange.accounts["Sim1"].faults.duplicate_prob = 1.0
        sim.exchange.accounts["Sim1"].faults.reorder_prob = 0.3
        journal = tmp_path / "journal.sqlite3"
        config = tmp_path / "copytui.yaml"
        config.write_text(SC_LEADER.format(journal=journal, port=sim.port, contracts=contracts_option(sim.contracts)))
        rt = build_runtime(load_config(config))
        await rt.start()
        x = sim.exchange
        try:
            sim.place_raw("Sim1", Side.BUY, 2)
            await until("followers at 2 / 4", lambda: (_pos(rt.exchange, "papf"), _pos(x, "Sim2")) == (2, 4))
            assert sim.drop_sockets() == 2  # the leader's and the Sierra Chart follower's connections
            sim.place_raw("Sim1", Side.BUY, 1)  # filled while the leader's connection is down
            x.flush_held("Sim1")
            await until("followers at 3 / 6", lambda: (_pos(rt.exchange, "papf"), _pos(x, "Sim2")) == (3, 6))
            sim.place_raw("Sim1", Side.SELL, 3)
            x.flush_held("Sim1")
            await until("followers flat", lambda: (_pos(rt.exchange, "papf"), _pos(x, "Sim2")) == (0, 0))
            await until("engine idle", lambda: rt.engine.drain(timeout_s=1))
        finally:
            await rt.stop(flatten_leader=False)
    assert x.duplicate_submissions("Sim2") == 0 and len(x.accounts["Sim2"].orders) == 3
    s = await summary(journal)
    assert (s["follower_orders"], s["rejects"], s["duplicate_orders"], s["unresolved"]) == (6, 0, 0, 0), s


# ------------------------------------------------------------------ the benchmark hook
def test_bench_measures_sierrachart_through_its_wire(tmp_path: Path) -> None:
    args = ["bench", "--quick", "--json", "--only", "overhead", "--followers", "2", "--adapter", "sierrachart"]
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "copytui.cli", *args], capture_output=True, text=True, timeout=300,
                          check=False, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert not [n for n in out["notes"] if "skipped" in n or "failed" in n], out["notes"]
    [scenario] = out["scenarios"]
    assert (scenario["adapter"], scenario["name"], scenario["followers"]) == ("sierrachart", "overhead", 2)
    assert scenario["samples"] > 0 and scenario["incomplete"] == 0
    assert 0 < scenario["internal_ms"]["p50"] <= scenario["internal_ms"]["max"]
