"""``copytui sim fix`` for black-box use (issue 14): fault switches on every demo account and an
audit log of every order request received, refused ones included, in memory and in a file."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from adapters.fix import FixAdapter
from adapters.fix import wire as w
from adapters.fix.simulator import simulator_for_cli
from adapters.paper.exchange import Faults
from copytui.models import AccountEvent, EventKind, OrderAction, OrderStatus, OrderType
from tests.adapters.fix_support import account, adapter, free_port, order, until


def _client(port: int, data: Path, name: str = "cli", account_id: str = "FIX1") -> FixAdapter:
    return adapter(account(name, port, "COPYTUI", account_id=account_id), data)


def _lines(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_sim_fix_with_reject_rate_audits_every_refused_order(tmp_path: Path) -> None:
    """``copytui sim fix --port P --audit FILE --reject-rate 1``, driven by the FIX adapter."""
    port, audit = free_port(), tmp_path / "audit.jsonl"
    command = [sys.executable, "-m", "copytui.cli", "sim", "fix", "--port", str(port), "--accounts", "2"]
    command += ["--audit", str(audit), "--reject-rate", "1"]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert f"FIX simulator on 127.0.0.1:{port}" in first, first + proc.stdout.read()

        async def trade() -> list[str | None]:
            a = _client(port, tmp_path / "data")
            await a.connect()
            try:
                acks = [await a.place(order(f"rr-{i}")) for i in range(3)]
            finally:
                await a.disconnect()
            assert {ack.status for ack in acks} == {OrderStatus.REJECTED}
            return [ack.reason for ack in acks]

        reasons = asyncio.run(trade())
        assert all("simulated reject" in (r or "") for r in reasons), reasons
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    entries = _lines(audit)
    assert [(e["action"], e["client_order_id"], e["outcome"]) for e in entries] == [
        ("place", f"rr-{i}", "refused") for i in range(3)
    ]
    assert all(e["account"] == "FIX1" and e["broker"] == "fix" and "simulated reject" in e["reason"] for e in entries)
    request = entries[0]["request"]
    assert (request["SenderCompID"], request["Symbol"], request["OrdType"], request["OrderQty"]) == (
        "COPYTUI",
        "ES",
        "1",
        "1",
    )


async def test_the_audit_has_every_order_request_with_its_outcome(tmp_path: Path) -> None:
    port, path = free_port(), tmp_path / "audit.jsonl"
    sim = simulator_for_cli(port, 2, 7, audit=str(path))
    with sim:
        a = _client(port, tmp_path / "data")
        await a.connect()
        try:
            bid, _ = sim.exchange.quote("ES")
            rest = order("au-lim", order_type=OrderType.LIMIT, price=bid - 10)
            placed = await a.place(rest)
            moved = rest.model_copy(
                update={"action": OrderAction.MODIFY, "client_order_id": "au-mod", "target_client_order_id": "au-lim",
                        "broker_order_id": placed.broker_order_id, "price": bid - 12}
            )  # fmt: skip
            assert (await a.modify(moved)).status is not OrderStatus.REJECTED
            gone = rest.model_copy(
                update={"action": OrderAction.CANCEL, "client_order_id": "au-cx", "target_client_order_id": "au-lim",
                        "broker_order_id": placed.broker_order_id, "qty": 0}
            )  # fmt: skip
            assert (await a.cancel(gone)).status is OrderStatus.CANCELLED
            bad = await a.place(order("au-zz", symbol="ZZ"))
            assert bad.status is OrderStatus.REJECTED
            ghost = gone.model_copy(update={"client_order_id": "au-cx2", "target_client_order_id": "ghost",
                                            "broker_order_id": "P0"})  # fmt: skip
            assert (await a.cancel(ghost)).status is OrderStatus.REJECTED
        finally:
            await a.disconnect()
        seen = [(e.action, e.client_order_id, e.outcome) for e in sim.audit.entries]
    assert seen == [
        ("place", "au-lim", "accepted"),
        ("modify", "au-mod", "accepted"),
        ("cancel", "au-cx", "accepted"),
        ("place", "au-zz", "refused"),
        ("cancel", "au-cx2", "refused"),
    ]
    refused = [e for e in sim.audit.entries if e.outcome == "refused"]
    assert "unknown symbol" in refused[0].reason and "unknown order ghost" in refused[1].reason
    assert [(e["action"], e["client_order_id"], e["outcome"]) for e in _lines(path)] == seen
    assert all("Password" not in (e.request or {}) for e in sim.audit.entries)


async def test_faults_apply_to_every_account_and_play_on_the_fix_wire(tmp_path: Path) -> None:
    """Duplicated reports are read once; a dropped stream is a dropped FIX session that logs on
    again and gets what it missed by resend; latency holds order requests."""
    port = free_port()
    faults = Faults(latency_ms=20.0, duplicate_prob=1.0, drop_stream_prob=1.0)
    sim = simulator_for_cli(port, 2, 7, faults=faults)
    with sim:
        assert {name: sim.exchange.accounts[name].faults for name in ("FIX1", "FIX2")} == {
            "FIX1": faults,
            "FIX2": faults,
        }
        a = _client(port, tmp_path / "data")
        await a.connect()
        events: list[AccountEvent] = []

        async def pump() -> None:
            async for ev in a.subscribe():
                events.append(ev)

        reader = asyncio.create_task(pump())
        try:
            await asyncio.gather(a.place(order("ft-1", qty=2)), return_exceptions=True)  # the drop may eat the ack
            await until("the session dropped and back", lambda: a.health.reconnects >= 1 and a.health.connected, 15)
            await until("the fill, by resend", lambda: any(e.kind is EventKind.FILL for e in events), 15)
            assert sim.drops >= 1 and sim.received["D"] == 1
            fills = [e for e in events if e.kind is EventKind.FILL]
            assert sum(e.fill_qty for e in fills) == 2  # every report came twice: each fill counted once
            with sim.locked() as x:
                assert x.accounts["FIX1"].positions["ES"].qty == 2
            venue_side = next(iter(sim.routes.values())).session
            assert sim.latency_s(venue_side, w.Fields([(w.MSG_TYPE, "D"), (w.ACCOUNT, "FIX1")])) == 0.02
            assert sim.latency_s(venue_side, w.Fields([(w.MSG_TYPE, "AN"), (w.ACCOUNT, "FIX1")])) == 0.0
        finally:
            await a.disconnect()
            await reader
        assert sim.exchange.accounts["FIX1"].faults == faults
