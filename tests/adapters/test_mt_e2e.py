"""The engine with MetaTrader accounts, from a config file: a paper leader copied to a netting CFD
follower and a hedging futures follower through stand-in terminals, and a MetaTrader leader
copied to paper followers, each through a terminal that drops and comes back; an intruder with a
wrong token is refused, journaled and alerted while copying goes on."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from adapters.mt.sim_book import TerminalBook
from adapters.mt.sim_terminal import StandIn
from adapters.mt.simulator import CFD, FUTURES
from copytui.config import load_config
from copytui.journal import summary
from copytui.models import Side
from copytui.runtime import build_runtime
from tests.adapters.mt_support import TOKEN, running, tokens_for, until

PAPER_TO_MT = """
journal: {journal}
leader:
  name: lead
  broker: paper
followers:
  - name: cfd
    broker: mt
    host: 127.0.0.1
    port: {port}
    account_id: "5001"
    multiplier: 2
    options: {{symbols: "ES=US500:0.1", connect_timeout_s: 20}}
  - name: fut
    broker: mt
    host: 127.0.0.1
    port: {port}
    account_id: "5002"
    options: {{connect_timeout_s: 20}}
reconcile:
  interval_s: 1
"""

MT_TO_PAPER = """
journal: {journal}
leader:
  name: lead
  broker: mt
  host: 127.0.0.1
  port: {port}
  account_id: "5001"
  options: {{symbols: "ES=US500:0.1", connect_timeout_s: 20}}
followers:
  - name: p1
    broker: paper
  - name: p2
    broker: paper
    mode: mirror
    multiplier: 2
reconcile:
  interval_s: 1
"""


def _write(tmp_path: Path, text: str, port: int) -> Path:
    path = tmp_path / "copytui.yaml"
    path.write_text(text.format(journal=tmp_path / "journal.sqlite3", port=port))
    return path


async def test_a_paper_leader_is_copied_to_metatrader_followers_through_a_drop(tmp_path: Path) -> None:
    async with running() as sim:
        sim.add_terminal(5001, TOKEN, symbols=CFD)
        sim.add_terminal(5002, TOKEN, symbols=FUTURES, hedging=True)
        config = load_config(_write(tmp_path, PAPER_TO_MT, sim.port))
        rt = build_runtime(config, secret_lookup=tokens_for("lead", "cfd", "fut"), data_root=tmp_path / "data")
        rt.walk = False
        cfd, fut = sim.book(5001), sim.book(5002)
        await rt.start()
        try:
            rt.exchange.submit("lead", symbol="ES", side=Side.BUY, qty=1)
            rt.exchange.submit("lead", symbol="ES", side=Side.BUY, qty=2)
            await until("cfd at 0.6 lots, fut at 3", lambda: (cfd.net_lots("US500"), fut.net_lots("ES")) == (0.6, 3.0))
            assert sim.drop() == 2  # both terminals cut off: the next copies wait for them to redial
            adapters = [f.adapter for f in rt.engine.followers.values()]
            await until("copytui sees both gone", lambda: not any(a.health.connected for a in adapters))
            rt.exchange.submit("lead", symbol="ES", side=Side.SELL, qty=2)
            await until("cfd at 0.2, fut at 1", lambda: (cfd.net_lots("US500"), fut.net_lots("ES")) == (0.2, 1.0))
            rt.exchange.submit("lead", symbol="ES", side=Side.SELL, qty=2)  # through flat: short 1
            await until("cfd -0.2, fut -1", lambda: (cfd.net_lots("US500"), fut.net_lots("ES")) == (-0.2, -1.0))
            await until("engine idle", lambda: rt.engine.drain(timeout_s=1))
            assert [(p.side, p.volume) for p in fut.positions.values()] == [("sell", 1.0)]  # hedging, yet never hedged
            for name in ("cfd", "fut"):
                f = rt.engine.followers[name]
                await until(f"{name}'s fills journaled", lambda f=f: f.stats.fills >= 4)
                assert f.adapter.health.reconnects == 1
        finally:
            await rt.stop()
        places = [e for e in sim.audit.entries if e.action == "place"]
    assert len(places) == 8 and all(e.outcome == "accepted" for e in places)
    assert len({e.client_order_id for e in places}) == 8  # each copy sent once
    assert sim.exchange.duplicate_submissions("5001") == 0
    s = await summary(tmp_path / "journal.sqlite3")
    assert (s["unresolved"], s["duplicate_orders"], s["rejects"]) == (0, 0, 0), s
    with sqlite3.connect(tmp_path / "journal.sqlite3") as db:
        rows = list(db.execute("SELECT follower, side, SUM(qty) FROM executions GROUP BY 1, 2 ORDER BY 1, 2"))
    assert rows == [("cfd", "buy", 6), ("cfd", "sell", 8), ("fut", "buy", 3), ("fut", "sell", 4)]


async def test_a_metatrader_leader_is_copied_to_paper_followers_with_gap_recovery(tmp_path: Path) -> None:
    async with running() as sim:
        terminal = sim.add_terminal(5001, TOKEN, symbols=CFD)
        config = load_config(_write(tmp_path, MT_TO_PAPER, sim.port))
        rt = build_runtime(config, secret_lookup=tokens_for("lead", "p1", "p2"), data_root=tmp_path / "data")
        rt.walk = False
        book = sim.book(5001)
        x = rt.exchange

        def held(name: str) -> int:
            pos = x.accounts[name].positions.get("ES")
            return pos.qty if pos else 0

        await rt.start()
        try:
            book.place("US500", "buy", "market", 0.2)
            await until("p1 2, p2 4", lambda: (held("p1"), held("p2")) == (2, 4))
            sim.drop(5001)
            book.place("US500", "buy", "market", 0.1)  # made while copytui cannot hear the terminal
            await until("the fill missed while away copied", lambda: (held("p1"), held("p2")) == (3, 6))
            assert rt.engine.leader.health.reconnects == 1
            limit = book.place("US500", "sell", "limit", 0.1, price=5100.0)
            await until("p2 mirrors the limit", lambda: [o.price for o in x.open_orders("p2")] == [5100.0])
            assert x.open_orders("p2")[0].qty == 2 and not x.open_orders("p1")  # p1 copies fills only
            book.modify(limit.orders[0], 5110.0, 0.0, 0.0, 0.0)
            await until("the copy moved", lambda: [o.price for o in x.open_orders("p2")] == [5110.0])
            book.cancel(limit.orders[0])
            await until("the copy cancelled", lambda: not x.open_orders("p2"))

            intruder = StandIn(TerminalBook(sim.exchange, "intruder", 5001), sim.port, "guessed-token")
            sim.tasks.spawn(intruder.run(), "intruder")
            await until("the intruder refused", lambda: intruder.refusals)
            intruder.stop()
            alerts = rt.engine.blotter.alerts
            await until("the refusal alerted", lambda: any("wrong token" in a.message for a in alerts))

            book.place("US500", "sell", "market", 0.3)
            await until("everyone flat", lambda: (held("p1"), held("p2")) == (0, 0))
            await until("engine idle", lambda: rt.engine.drain(timeout_s=1))
            assert terminal.welcomes == 2 and rt.engine.leader.health.connected
        finally:
            await rt.stop()
    with sqlite3.connect(tmp_path / "journal.sqlite3") as db:
        errors = [m for (m,) in db.execute("SELECT message FROM errors WHERE source = 'adapter:lead'")]
        alerts = [m for (m,) in db.execute("SELECT message FROM alerts WHERE kind = 'dropped at the edge'")]
        fills = dict(db.execute("SELECT follower, COUNT(*) FROM executions GROUP BY 1"))
    assert any("wrong token for login 5001" in m for m in errors) and alerts
    assert "guessed-token" not in " ".join(errors + alerts) and TOKEN not in " ".join(errors + alerts)
    assert fills == {"p1": 3, "p2": 3}
