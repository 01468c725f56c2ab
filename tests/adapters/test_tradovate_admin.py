"""The Tradovate simulator for black-box use: its audit log of every order request (refused ones
included), its quote and order-id -> clOrdId endpoints, and ``copytui sim tradovate`` with fault
switches and ``--audit``. Everything over real loopback sockets."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.paper.exchange import Faults
from adapters.tradovate.settings import SIM_PASSWORD
from adapters.tradovate.simulator import TradovateSimulator, standalone
from tests.adapters.tv_support import RawClient, running_sim


async def admin(client: RawClient, what: str) -> tuple[int, Any]:
    """GET /admin/<what> on the simulator's port (outside Tradovate's /v1)."""
    async with client.http.get(client.base.removesuffix("/v1") + f"/admin/{what}") as r:
        return r.status, await r.json()


def place_body(client: RawClient, symbol: str, **kw: Any) -> dict[str, Any]:
    account = client.accounts[0]
    body = {"accountSpec": account["name"], "accountId": account["id"], "action": "Buy", "symbol": symbol}
    return body | {"orderQty": 1, "orderType": "Market", "isAutomated": True} | kw


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[TradovateSimulator]:
    async with running_sim("DEMO0001", "DEMO0002", audit=tmp_path / "audit.jsonl") as s:
        yield s


@pytest.fixture
async def client(sim: TradovateSimulator) -> AsyncIterator[RawClient]:
    c = RawClient.of(sim)
    await c.login("trader1")
    try:
        yield c
    finally:
        await c.close()


# ------------------------------------------------------------------------------------------- audit
async def test_audit_records_every_order_request_refused_ones_included(
    sim: TradovateSimulator, client: RawClient, tmp_path: Path
) -> None:
    es = sim.ledger.front("ES")["name"]
    below = sim.exchange.price("ES") - 20
    assert (await client.rest("POST", "order/placeOrder", json=place_body(client, es, clOrdId="c-ok")))[0] == 200
    status, _ = await client.rest("POST", "order/placeorder", json={"accountId": client.accounts[0]["id"]})
    assert status == 400
    other = place_body(client, es, clOrdId="c-other", accountSpec="DEMO0002")
    assert "failureReason" in (await client.rest("POST", "order/placeorder", json=other))[1]
    sim.rate_limit(30)
    assert (await client.rest("POST", "order/placeorder", json=place_body(client, es, clOrdId="c-429")))[0] == 429
    sim.rate_limit(0)
    token, client.token = client.token, "stale"
    assert (await client.rest("POST", "order/placeorder", json=place_body(client, es, clOrdId="c-401")))[0] == 401
    client.token = token
    await client.open_socket()
    await client.send(f"order/placeorder\n1\n\n{json.dumps(place_body(client, es, clOrdId='c-early'))}")
    assert (await client.answer(1))["s"] == 401  # before authorize
    await client.send(f"authorize\n0\n\n{client.token}")
    assert (await client.answer(0))["s"] == 200
    limit = place_body(client, es, clOrdId="c-limit", orderType="Limit", price=below)
    await client.send(f"order/placeorder\n2\n\n{json.dumps(limit)}")
    order_id = (await client.answer(2))["d"]["orderId"]
    await client.send(f"order/cancelorder\n3\n\n{json.dumps({'orderId': order_id, 'clOrdId': 'c-cancel'})}")
    assert (await client.answer(3))["s"] == 200
    await client.send(f"order/modifyorder\n4\n\n{json.dumps({'orderId': 1, 'orderQty': 1, 'orderType': 'Market'})}")
    assert "failureReason" in (await client.answer(4))["d"]
    liquidate = {"accountId": client.accounts[0]["id"], "contractId": sim.ledger.front("ES")["id"], "admin": False}
    assert (await client.rest("POST", "order/liquidatePosition", json=liquidate))[0] == 200
    oco = place_body(client, es, clOrdId="c-oco", bracket1={"action": "Sell", "orderType": "Limit", "price": 1.0})
    assert (await client.rest("POST", "order/placeOSO", json=oco))[0] == 404  # not simulated: still recorded

    status, entries = await admin(client, "audit")
    assert status == 200
    assert [(e["action"], e["client_order_id"], e["outcome"]) for e in entries] == [
        ("placeorder", "c-ok", "accepted"),
        ("placeorder", None, "refused"),
        ("placeorder", "c-other", "refused"),
        ("placeorder", "c-429", "refused"),
        ("placeorder", "c-401", "refused"),
        ("placeorder", "c-early", "refused"),
        ("placeorder", "c-limit", "accepted"),
        ("cancelorder", "c-cancel", "accepted"),
        ("modifyorder", None, "refused"),
        ("liquidateposition", None, "accepted"),
        ("placeoso", "c-oco", "refused"),
    ]
    reasons = [e["reason"] for e in entries]
    assert "field 'action': Field required" in reasons[1] and reasons[1].startswith("400")
    assert "accountSpec 'DEMO0002' is not account 'DEMO0001'" in reasons[2]
    assert reasons[3].startswith("429") and reasons[4].startswith("401") and "authorize first" in reasons[5]
    assert "not yours" in reasons[8] and "does not implement order/placeoso" in reasons[10]
    assert {e["account"] for e in entries} == {"DEMO0001"}
    assert entries[0]["request"]["symbol"] == es and entries[0]["broker"] == "tradovate"
    # the same entries, in order, in the file; no login (and so no password) recorded anywhere
    text = (tmp_path / "audit.jsonl").read_text()
    assert [json.loads(line) for line in text.splitlines()] == entries
    assert "password" not in text and "accesstokenrequest" not in text
    assert (await admin(client, "audit?account=DEMO0002"))[1] == []


@pytest.mark.parametrize("mode", ["before", "after"])
async def test_a_request_lost_with_its_connection_is_audited(
    sim: TradovateSimulator, client: RawClient, mode: str
) -> None:
    sim.faults.drop_after_requests, sim.faults.drop_mode = 1, mode  # type: ignore[assignment]
    await client.open_socket()
    await client.send(f"authorize\n0\n\n{client.token}")
    await client.answer(0)
    await client.send(f"order/placeorder\n1\n\n{json.dumps(place_body(client, sim.ledger.front('ES')['name']))}")
    with pytest.raises(ConnectionError):
        await client.answer(1)
    [entry] = (await admin(client, "audit"))[1]
    expected = {
        "before": ("refused", "connection cut before the request was handled (fault)"),
        "after": ("accepted", "answer lost: connection cut (fault)"),
    }
    assert (entry["outcome"], entry["reason"]) == expected[mode]


# ------------------------------------------------------------------------------------ quote, orders
async def test_quote_endpoint_gives_the_paper_market(sim: TradovateSimulator, client: RawClient) -> None:
    sim.exchange.set_price("ES", 5012.5)
    es = sim.ledger.front("ES")
    status, quote = await admin(client, "quote?symbol=ES")
    assert status == 200
    assert quote == {"symbol": "ES", "contract": es["name"], "contractId": es["id"]} | {
        "bid": 5012.5,
        "ask": 5012.75,
        "last": 5012.5,
    }
    assert (await admin(client, f"quote?symbol={es['name']}"))[1] == quote  # a contract name works too
    assert (await admin(client, "quote?symbol=XYZ"))[0] == 404
    assert (await admin(client, "quote"))[0] == 400


async def test_orders_endpoint_joins_order_ids_to_clordid_as_command_list_does(
    sim: TradovateSimulator, client: RawClient
) -> None:
    es = sim.ledger.front("ES")["name"]
    below = sim.exchange.price("ES") - 20
    placed = []
    for body in (
        place_body(client, es, clOrdId="alpha"),
        place_body(client, es, clOrdId="beta", orderType="Limit", price=below),
        place_body(client, es),  # no clOrdId
        place_body(client, es, clOrdId="alpha"),  # a repeat: the worst case makes a second order
    ):
        placed.append((await client.rest("POST", "order/placeorder", json=body))[1]["orderId"])
    change = {"orderId": placed[1], "clOrdId": "beta-2", "orderQty": 2, "orderType": "Limit", "price": below - 1}
    assert (await client.rest("POST", "order/modifyorder", json=change))[0] == 200

    status, joined = await admin(client, "orders")
    assert status == 200
    by_admin = {o["orderId"]: o["clOrdId"] for o in joined}
    assert by_admin == dict(zip(placed, ["alpha", "beta", None, "alpha"], strict=True))
    beta = next(o for o in joined if o["orderId"] == placed[1])
    assert [(c["commandType"], c["clOrdId"]) for c in beta["commands"]] == [("New", "beta"), ("Modify", "beta-2")]
    assert beta["account"] == "DEMO0001" and beta["contract"] == es and beta["ordStatus"] == "Working"
    # the documented join over Tradovate's own API: order.id == command.orderId, the New command's clOrdId
    orders = (await client.rest("GET", "order/list"))[1]
    commands = (await client.rest("GET", "command/list"))[1]
    assert all("clOrdId" not in o for o in orders)
    by_api = {
        o["id"]: next(c["clOrdId"] for c in commands if c["orderId"] == o["id"] and c["commandType"] == "New")
        for o in orders
    }
    assert by_api == by_admin
    assert (await admin(client, "orders?account=DEMO0002"))[1] == []


# ------------------------------------------------------------------------------ standalone + faults
async def test_standalone_faults_reach_every_account_and_duplicate_props_on_the_wire() -> None:
    faults = Faults(latency_ms=2.0, partial_fill_prob=0.5, duplicate_prob=1.0, reorder_prob=0.0)
    sim = standalone(2, seed=3, faults=faults)
    for name in ("DEMO0001", "DEMO0002"):
        paper = sim.exchange.accounts[name].faults
        # duplicates act on props, never on paper events (a paper duplicate would be a second fill)
        assert (paper.latency_ms, paper.partial_fill_prob, paper.duplicate_prob) == (2.0, 0.5, 0.0)
    await sim.start("127.0.0.1", 0)
    client = RawClient.of(sim)
    try:
        await client.login("trader2", SIM_PASSWORD)
        await client.open_socket()
        await client.send(f"authorize\n0\n\n{client.token}")
        await client.answer(0)
        await client.send(f"user/syncrequest\n1\n\n{json.dumps({'users': [client.user_id]})}")
        assert (await client.answer(1))["s"] == 200
        status, placed = await client.rest(
            "POST", "order/placeorder", json=place_body(client, sim.ledger.front("ES")["name"])
        )
        assert status == 200 and "orderId" in placed, placed
        await client.event(lambda e: e["e"] == "props" and e["d"]["entityType"] == "position")
        props = Counter(
            (e["d"]["entityType"], e["d"]["eventType"], e["d"]["entity"]["id"], json.dumps(e["d"]["entity"]))
            for e in client.events
            if e["e"] == "props" and e["d"]["entityType"] in ("order", "command")
        )
        assert props and set(props.values()) == {2}, props  # each props event twice, identical
        assert sim.exchange.accounts["DEMO0002"].orders and not sim.exchange.accounts["DEMO0001"].orders
    finally:
        await client.close()
        await sim.stop()


async def test_standalone_dropped_streams_cut_the_socket() -> None:
    sim = standalone(1, seed=3, faults=Faults(drop_stream_prob=1.0))
    await sim.start("127.0.0.1", 0)
    client = RawClient.of(sim)
    try:
        await client.login("trader1", SIM_PASSWORD)
        await client.open_socket()
        await client.send(f"authorize\n0\n\n{client.token}")
        await client.answer(0)
        await client.send(f"user/syncrequest\n1\n\n{json.dumps({'users': [client.user_id]})}")
        await client.answer(1)
        status, placed = await client.rest(
            "POST", "order/placeorder", json=place_body(client, sim.ledger.front("ES")["name"])
        )
        assert status == 200 and "orderId" in placed  # the order is made; its events' stream is cut
        with pytest.raises(ConnectionError):
            await client.event(lambda e: False)
    finally:
        await client.close()
        await sim.stop()


async def _line(proc: subprocess.Popen[str], pattern: str) -> re.Match[str]:
    assert proc.stdout is not None
    seen: list[str] = []
    async with asyncio.timeout(30):  # a hang guard on a busy machine, not a timing assertion
        while line := await asyncio.to_thread(proc.stdout.readline):
            seen.append(line.rstrip())
            if m := re.search(pattern, line):
                return m
    raise AssertionError(f"no line matching {pattern!r}; got {seen[-10:]}")


async def test_cli_sim_tradovate_takes_fault_flags_and_an_audit_file(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    args = ["sim", "tradovate", "--port", "0", "--accounts", "1", "--seed", "3", "--reject-rate", "1"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "copytui.cli", *args, "--audit", str(audit)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    client = None
    try:
        port = int((await _line(proc, r"listening on http://127\.0\.0\.1:(\d+)/v1"))[1])
        await _line(proc, r"admin: http://127\.0\.0\.1:\d+/admin/audit")
        client = RawClient(f"http://127.0.0.1:{port}/v1", f"ws://127.0.0.1:{port}/v1/websocket")
        await client.login("trader1", SIM_PASSWORD)
        status, quote = await admin(client, "quote?symbol=NQ")
        assert status == 200 and quote["bid"] < quote["ask"]
        symbol = (await client.rest("GET", "contract/suggest?t=NQ&l=1"))[1][0]["name"]
        status, placed = await client.rest("POST", "order/placeorder", json=place_body(client, symbol, clOrdId="x1"))
        assert status == 200 and "simulated reject" in placed["failureText"]
        [entry] = (await admin(client, "audit"))[1]
        assert (entry["client_order_id"], entry["outcome"]) == ("x1", "refused")
        assert "simulated reject" in entry["reason"]
    finally:
        if client is not None:
            await client.close()
        proc.send_signal(signal.SIGINT)
        out, _ = await asyncio.to_thread(proc.communicate, timeout=20)
    assert proc.returncode == 0 and "tradovate simulator stopped" in out, out
    [line] = audit.read_text().splitlines()
    assert json.loads(line) == entry
