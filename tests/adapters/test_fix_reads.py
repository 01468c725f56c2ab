"""AN / AF / H against gateways that refuse them or never answer (issue 14): asked once, in the
background, never holding a start; any reject means "unsupported here"; positions and open orders
then come from the session's own reports, and the account's health says so."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.base import BrokerError
from adapters.fix import FixAdapter
from copytui.config import load_config
from copytui.models import OrderType, Side
from copytui.runtime import build_runtime
from tests.adapters.fix_support import account, adapter, comp_id, order, simulator, until

VERSIONS = ["FIX.4.2", "FIX.4.4"]
READS = ("AN", "AF", "H")
GUARD_S = 60.0
"""Only a guard against hanging for request_timeout_s (120 s in these tests), never a measurement."""


def _held(a: FixAdapter) -> int:
    pos = a._book.positions.get("ES")
    return pos.qty if pos else 0


@pytest.mark.parametrize("begin", VERSIONS)
async def test_a_rejected_read_is_asked_once_and_the_session_answers_instead(tmp_path: Path, begin: str) -> None:
    """QuickFIX's Python executor answers AN / AF / H with 35=j 380=5 'Conditionally Required Field
    Missing (40)'; copytui used to re-send AN on every read and raise an alert each time."""
    sender = comp_id()
    with simulator(tmp_path, (sender,), missing_field=READS) as sim:
        a = adapter(account("rx", sim.port, sender, begin), tmp_path / "data")
        await a.connect()
        await a.place(order("rx1", qty=2))
        bid, _ = sim.exchange.quote("ES")
        await a.place(order("rx2", order_type=OrderType.LIMIT, price=bid - 10))
        await until("the fill", lambda: _held(a) == 2)
        await until("AN and AF refused", lambda: a.supports == {"positions": False, "open_orders": False})
        for _ in range(5):
            assert [(p.symbol, p.qty) for p in await a.positions()] == [("ES", 2)]
            assert [o.client_order_id for o in await a.open_orders()] == ["rx2"]
        for _ in range(3):
            with pytest.raises(BrokerError, match=r"OrderStatusRequest \(H\)"):
                await a.find_order("never-placed")
        assert (sim.received["AN"], sim.received["AF"], sim.received["H"]) == (1, 1, 1)
        assert set(a.refused) == {"positions", "open_orders", "order_status"}
        assert "Conditionally Required Field Missing (40)" in a.refused["positions"]
        detail = a.health.detail
        assert "positions come from this session's own fills" in detail and "380" not in detail
        assert "open orders come from this session's own reports" in detail
        await a.disconnect()


async def test_a_positions_ack_that_refuses_is_final_too(tmp_path: Path) -> None:
    """Besides 35=3 / 35=j, a gateway may refuse AN in its PositionsAck (PosReqResult 4)."""
    sender = comp_id()
    with simulator(tmp_path, (sender,), unsupported=("AF",)) as sim:
        sim.positions_result = "4"
        a = adapter(account("pa", sim.port, sender), tmp_path / "data")
        await a.connect()
        await until("AN refused", lambda: "positions" in a.refused)
        for _ in range(3):
            assert await a.positions() == []
        assert sim.received["AN"] == 1 and a.supports["positions"] is False
        await a.disconnect()


async def test_explicit_request_mode_still_fails_loudly(tmp_path: Path) -> None:
    """``positions: request`` means the trader counts on AN: a refusal is an error, not a fallback."""
    sender = comp_id()
    with simulator(tmp_path, (sender,), missing_field=("AN",)) as sim:
        a = adapter(account("rq", sim.port, sender, positions="request"), tmp_path / "data")
        await a.connect()
        with pytest.raises(BrokerError, match=r"business reject of RequestForPositions \(AN\)"):
            await a.positions()
        assert a.supports["positions"] is True and "positions" not in a.refused
        await a.disconnect()


@pytest.mark.parametrize("begin", VERSIONS)
async def test_an_unanswered_read_never_holds_a_read(tmp_path: Path, begin: str) -> None:
    """A gateway that never answers AN / AF: positions() and open_orders() answer from the session
    at once, while the one question is still open; they used to wait request_timeout_s first."""
    sender = comp_id()
    with simulator(tmp_path, (sender,), silent=("AN", "AF")) as sim:
        a = adapter(account("sl", sim.port, sender, begin, request_timeout_s=120.0), tmp_path / "data")
        await asyncio.wait_for(a.connect(), GUARD_S)
        await a.place(order("sl1", Side.SELL, qty=3))
        await until("the fill", lambda: _held(a) == -3)
        for _ in range(3):
            got = await asyncio.wait_for(a.positions(), GUARD_S)
            assert [(p.symbol, p.qty) for p in got] == [("ES", -3)]
            assert await asyncio.wait_for(a.open_orders(), GUARD_S) == []
        # answered while the gateway still owes its answer: nothing waited for it
        assert not a.reads.asking["positions"].done() and not a.reads.asking["open_orders"].done()
        assert a.refused == {}
        # each question asked once (in the background, once the logon has settled), never again
        await until("both questions asked", lambda: sim.received["AN"] >= 1 and sim.received["AF"] >= 1)
        assert (sim.received["AN"], sim.received["AF"]) == (1, 1)
        await a.disconnect()
        assert all(t.done() for t in a.reads.asking.values()) or not a.reads.asking


async def test_an_answer_that_comes_later_is_used_from_then_on(tmp_path: Path) -> None:
    """The background question's answer (a snapshot with a position the session never traded)
    makes the gateway's view the truth for later reads."""
    sender = comp_id()
    with simulator(tmp_path, (sender,)) as sim:
        sim.account("LATE")
        with sim.locked() as x:
            x.submit("LATE", symbol="ES", side=Side.BUY, qty=4)  # traded before copytui connected
        a = adapter(account("late", sim.port, sender, account_id="LATE"), tmp_path / "data")
        await a.connect()
        await until("the snapshot", lambda: "positions" in a.reads.answered)
        assert [(p.symbol, p.qty) for p in await a.positions()] == [("ES", 4)]
        assert sim.received["AN"] == 2 and a.refused == {}
        await a.disconnect()


# ------------------------------------------------------------------ through the engine
CONFIG = """\
journal: {journal}
leader:
  name: lead
  broker: paper
followers:
  - name: fixf
    broker: fix
    account_id: FIXF
    host: 127.0.0.1
    port: {port}
    options:
      sender_comp_id: {sender}
      target_comp_id: SIM
      heartbeat_interval: 1
      request_timeout_s: 120
reconcile:
  interval_s: 1
"""


@pytest.mark.parametrize("gateway", ["rejects", "never answers"])
async def test_engine_reconciles_a_follower_whose_gateway_has_no_an(
    tmp_path: Path, gateway: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Start-up is not held by AN, no 'cannot read positions' alerts, and reconciliation runs on
    the session's own positions."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    sender = comp_id("RD")
    quirk = {"missing_field": ("AN", "AF")} if gateway == "rejects" else {"silent": ("AN", "AF")}
    with simulator(tmp_path, (sender,), **quirk) as sim:
        path = tmp_path / "copytui.yaml"
        path.write_text(CONFIG.format(journal=tmp_path / "journal.sqlite3", port=sim.port, sender=sender))
        rt = build_runtime(load_config(path))
        await asyncio.wait_for(rt.start(), GUARD_S)
        try:
            rt.exchange.submit("lead", symbol="ES", side=Side.BUY, qty=2)
            follower = rt.engine.followers["fixf"]
            await until("the follower's fill", lambda: follower.stats.fills >= 1, 10)
            start = rt.engine.reconciler.passes
            await until("three reconcile passes", lambda: rt.engine.reconciler.passes >= start + 3, 20)
            assert follower.expected == {"ES": 2}
            assert {s: p.qty for s, p in follower.positions.items()} == {"ES": 2}
            alerts = [(a.kind, a.message) for a in rt.engine.alerts if a.follower == "fixf"]
            assert not [a for a in alerts if a[0] in ("reconcile failed", "positions unavailable", "drift")], alerts
        finally:
            await rt.stop()
        assert (sim.received["AN"], sim.received["AF"]) == (1, 1)
