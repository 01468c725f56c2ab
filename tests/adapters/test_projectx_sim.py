"""The ProjectX simulator as a black box (issue 14): ``Contract/searchById`` (project-x-py's
get_instrument asks it first), the market hub's quotes, the audit log of every order request
(refused ones included) over ``GET /admin/audit`` and into a file, and the fault switches of
``copytui sim projectx``, which reach every account and the hubs."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from adapters.paper.exchange import Faults, PaperExchange
from adapters.projectx import signalr
from adapters.projectx.simulator import ProjectXSimulator, serve
from adapters.simkit.audit import AuditLog
from copytui.models import EventKind
from tests.adapters.px_support import API_KEY, USER, order, px_session, until


class Api:
    """A logged-in HTTP client of a simulator, as any outside script would be."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str) -> None:
        self.session, self.url, self.token = session, url, token

    async def post(self, path: str, body: dict[str, Any], token: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token if token is None else token}"}
        async with self.session.post(f"{self.url}/api/{path}", json=body, headers=headers) as r:
            return r.status, (await r.json() if r.content_type == "application/json" else await r.text())

    async def audit(self) -> list[dict[str, Any]]:
        async with self.session.get(f"{self.url}/admin/audit") as r:
            assert r.status == 200
            return await r.json()


@asynccontextmanager
async def api_of(url: str, user: str = "script", key: str = "k") -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as s:
        r = await s.post(f"{url}/api/Auth/loginKey", json={"userName": user, "apiKey": key})
        yield Api(s, url, (await r.json())["token"])


@asynccontextmanager
async def running(**kw: Any) -> AsyncIterator[tuple[ProjectXSimulator, Api]]:
    async with ProjectXSimulator(PaperExchange(seed=4), **kw) as sim, api_of(sim.api_url) as api:
        yield sim, api


def place_body(sim: ProjectXSimulator, tag: str | None, **kw: Any) -> dict[str, Any]:
    body = {"accountId": 1001, "contractId": sim.contract_of("MES"), "type": 2, "side": 0, "size": 1, **kw}
    return body if tag is None else {**body, "customTag": tag}


# ----------------------------------------------------------------------------- Contract/searchById, Order/searchById


async def test_contract_search_by_id_answers_what_search_lists():
    async with running() as (sim, api):
        cid = sim.contract_of("MNQ")
        _, listed = await api.post("Contract/search", {"searchText": "MNQ", "live": False})
        status, found = await api.post("Contract/searchById", {"contractId": cid})
        assert status == 200 and found["success"] is True
        assert found["contract"] == next(c for c in listed["contracts"] if c["id"] == cid)
        assert found["contract"]["tickSize"] == 0.25 and found["contract"]["symbolId"] == "F.US.MNQ"
        _, stale = await api.post("Contract/searchById", {"contractId": "CON.F.US.MNQ.H20"})
        assert stale["success"] is False and stale["contract"] is None and "not active" in stale["errorMessage"]
        _, bad = await api.post("Contract/searchById", {"contractId": "CON.F.US.ZZZ.H25"})
        assert bad["success"] is False and bad["contract"] is None
        status, missing = await api.post("Contract/searchById", {})
        assert status == 400 and "contractId" in missing["errors"]


async def test_order_search_by_id():
    async with running() as (sim, api):
        _, placed = await api.post("Order/place", place_body(sim, "byid1", type=1, limitPrice=1000.0))
        _, found = await api.post("Order/searchById", {"accountId": 1001, "orderId": placed["orderId"]})
        assert found["success"] and found["order"]["customTag"] == "byid1" and found["order"]["status"] == 1
        _, missing = await api.post("Order/searchById", {"accountId": 1001, "orderId": 1})
        assert missing["success"] is False and missing["order"] is None


# ----------------------------------------------------------------------------- the market hub


class RawHub:
    """A SignalR JSON connection over a bare WebSocket: every frame the hub sends, in order."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.decoder = signalr.FrameDecoder()
        self.messages: list[dict[str, Any]] = []
        self.closed = False

    async def invoke(self, target: str, args: list[Any], inv_id: str) -> None:
        await self.ws.send_str(signalr.invocation(target, args, inv_id))

    async def until(self, cond: Any, timeout: float = 5.0) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while not cond(self.messages):
                msg = await self.ws.receive()
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    self.closed = True
                    if cond(self.messages):
                        break
                    raise AssertionError(f"hub connection ended ({msg.type.name}) before the condition held")
                self.messages.extend(self.decoder.feed(msg.data))
        return self.messages

    def quotes(self) -> list[tuple[str, dict[str, Any]]]:
        return [(m["arguments"][0], m["arguments"][1]) for m in self.messages if m.get("target") == "GatewayQuote"]

    def completion(self, inv_id: str) -> dict[str, Any] | None:
        return next((m for m in self.messages if m.get("type") == 3 and m.get("invocationId") == inv_id), None)


@asynccontextmanager
async def market_hub(api: Api, hub: str = "market") -> AsyncIterator[RawHub]:
    async with api.session.ws_connect(f"{api.url}/hubs/{hub}?access_token={api.token}") as ws:
        await ws.send_str(signalr.HANDSHAKE_REQUEST)
        assert signalr.parse_handshake_response((await ws.receive()).data) == ""
        yield RawHub(ws)


async def test_market_hub_sends_quotes_of_the_price_walk():
    async with running() as (sim, api), market_hub(api) as hub:
        cid = sim.contract_of("MES")
        await hub.invoke("SubscribeContractQuotes", [cid], "q1")
        await hub.until(lambda _: hub.completion("q1") and hub.quotes())
        assert hub.completion("q1") == {"type": 3, "invocationId": "q1"}
        [(got_cid, first)] = hub.quotes()
        bid, ask = sim.exchange.quote("MES")
        assert got_cid == cid and first["symbol"] == "F.US.MES" and first["symbolName"] == "/MES"
        assert (first["lastPrice"], first["bestBid"], first["bestAsk"]) == (sim.exchange.price("MES"), bid, ask)
        assert set(first) >= {"change", "changePercent", "open", "high", "low", "volume", "lastUpdated", "timestamp"}
        sim.exchange.set_price("MES", first["lastPrice"] + 5)
        await hub.until(lambda _: len(hub.quotes()) >= 2)
        moved = hub.quotes()[1][1]
        assert (
            moved["lastPrice"] == first["lastPrice"] + 5 and moved["change"] == 5 and moved["high"] >= 5 + first["low"]
        )
        # project-x-py subscribes to trades and depth with every quote subscription: accepted
        await hub.invoke("SubscribeContractTrades", [cid], "t1")
        await hub.invoke("SubscribeContractMarketDepth", [cid], "d1")
        await hub.invoke("SubscribeContractQuotes", ["CON.F.US.ZZZ.H25"], "bad")
        await hub.invoke("SubscribeEverything", [], "odd")
        await hub.until(lambda _: all(hub.completion(i) for i in ("t1", "d1", "bad", "odd")))
        assert hub.completion("t1") == {"type": 3, "invocationId": "t1"} and "error" not in (hub.completion("d1") or {})
        assert "ZZZ" in hub.completion("bad")["error"] and "SubscribeEverything" in hub.completion("odd")["error"]


async def test_market_hub_quote_faults_drop_and_duplicate():
    async with running(faults=Faults(duplicate_prob=1.0)) as (sim, api), market_hub(api) as hub:
        await hub.invoke("SubscribeContractQuotes", [sim.contract_of("ES")], "q")
        await hub.until(lambda _: len(hub.quotes()) >= 2)
        assert hub.quotes()[0] == hub.quotes()[1]  # the snapshot, twice
    async with running(faults=Faults(drop_stream_prob=1.0)) as (sim, api), market_hub(api) as hub:
        await hub.invoke("SubscribeContractQuotes", [sim.contract_of("ES")], "q")
        await hub.until(lambda _: hub.closed)
        assert len(hub.quotes()) <= 1 and not sim.market.connections


async def test_reorder_fault_swaps_quotes_and_user_hub_events():
    async with running(faults=Faults(reorder_prob=1.0)) as (sim, api), market_hub(api) as hub:
        await hub.invoke("SubscribeContractQuotes", [sim.contract_of("ES")], "q")
        await hub.until(lambda _: hub.completion("q"))
        snapshot = sim.exchange.price("ES")
        assert hub.quotes() == []  # the snapshot is held back ...
        sim.exchange.set_price("ES", snapshot + 1)
        await hub.until(lambda _: len(hub.quotes()) >= 2)
        assert [q["lastPrice"] for _, q in hub.quotes()[:2]] == [snapshot + 1, snapshot]  # ... to come after the next
    async with running(faults=Faults(reorder_prob=1.0)) as (sim, api), market_hub(api, "user") as hub:
        await hub.invoke("SubscribeOrders", [1001], "o")
        await hub.until(lambda _: hub.completion("o"))
        _, placed = await api.post("Order/place", place_body(sim, "late1", type=1, limitPrice=1000.0))
        await api.post("Order/modify", {"accountId": 1001, "orderId": placed["orderId"], "limitPrice": 999.0})

        def orders() -> list[dict[str, Any]]:
            return [m["arguments"][0]["data"] for m in hub.messages if m.get("target") == "GatewayUserOrder"]

        await hub.until(lambda _: len(orders()) >= 2)
        assert [o["limitPrice"] for o in orders()] == [999.0, 1000.0]  # the modification overtook the new order


async def test_place_refuses_type_values_that_are_no_order_type():
    async with running() as (sim, api):
        for value in (-1, 0, 99):
            status, answer = await api.post("Order/place", place_body(sim, f"type{value}", type=value))
            assert status == 400 and "type" in answer["errors"], answer


async def test_pysignalr_receives_quotes_from_the_market_hub():
    """A SignalR client copytui did not write, on the market hub (negotiate, handshake, invoke, GatewayQuote)."""
    from pysignalr.client import SignalRClient

    async with running() as (sim, api):
        got: list[list[Any]] = []
        client = SignalRClient(f"{sim.market_hub_url}?access_token={api.token}", retry_count=1)

        async def on_quote(args: list[Any]) -> None:
            got.append(args)

        async def on_open() -> None:
            await client.send("SubscribeContractQuotes", [sim.contract_of("NQ")])

        client.on_open(on_open)
        client.on("GatewayQuote", on_quote)
        runner = asyncio.get_running_loop().create_task(client.run(), name="pysignalr-market")
        try:
            await until(lambda: bool(got), what="a first quote")
            sim.exchange.set_price("NQ", got[0][1]["lastPrice"] - 10)
            await until(lambda: len(got) >= 2, what="a quote of the new price")
        finally:
            runner.cancel()
            with pytest.raises(asyncio.CancelledError):
                await runner
        assert got[0][0] == sim.contract_of("NQ") and got[1][1]["lastPrice"] == got[0][1]["lastPrice"] - 10


# ----------------------------------------------------------------------------- the audit log


async def test_a_refused_duplicate_custom_tag_leaves_a_trace(tmp_path):
    path = tmp_path / "audit.jsonl"
    async with running(audit=str(path)) as (sim, api):
        _, first = await api.post("Order/place", place_body(sim, "dup1", type=1, limitPrice=1000.0))
        _, again = await api.post("Order/place", place_body(sim, "dup1", type=1, limitPrice=1000.0))
        assert first["success"] and not again["success"]
        _, mod = await api.post("Order/modify", {"accountId": 1001, "orderId": first["orderId"], "limitPrice": 999.0})
        _, gone = await api.post("Order/cancel", {"accountId": 1001, "orderId": first["orderId"]})
        assert mod["success"] and gone["success"]
        status, _ = await api.post("Order/place", place_body(sim, "nokey"), token="not-a-token")
        assert status == 401
        _, acct = await api.post("Order/place", place_body(sim, "noacct", accountId=4242))
        assert not acct["success"]
        status, _ = await api.post("Order/place", {"accountId": 1001, "customTag": "badbody"})
        assert status == 400
        entries = await api.audit()
    rows = [(e["account"], e["action"], e["client_order_id"], e["outcome"]) for e in entries]
    assert rows == [
        ("1001", "place", "dup1", "accepted"),
        ("1001", "place", "dup1", "refused"),
        ("1001", "modify", "dup1", "accepted"),
        ("1001", "cancel", "dup1", "accepted"),
        ("1001", "place", "nokey", "refused"),
        ("4242", "place", "noacct", "refused"),
        ("1001", "place", "badbody", "refused"),
    ]
    assert "customTag 'dup1' is already used" in entries[1]["reason"] and entries[1]["broker"] == "projectx"
    assert entries[4]["reason"].startswith("HTTP 401") and "Account not found" in entries[5]["reason"]
    assert entries[6]["reason"].startswith("HTTP 400") and "contractId" in entries[6]["reason"]
    assert entries[2]["request"]["limitPrice"] == 999.0 and entries[0]["wall_ns"] <= entries[1]["wall_ns"]
    assert all("apiKey" not in json.dumps(e) and "token" not in json.dumps(e) for e in entries)
    assert [json.loads(line) for line in path.read_text().splitlines()] == entries


async def test_audit_log_sees_rate_limited_and_adapter_orders():
    log = AuditLog("projectx")
    async with px_session(sim_kw={"audit": log}) as (x, sim, a, c):
        sim.answer_429(1)
        async with api_of(sim.api_url, USER, API_KEY) as api:
            status, _ = await api.post("Order/place", place_body(sim, "limited1"))
        assert status == 429
        await a.place(order("adapter1"))
        await c.wait(lambda _: c.filled("adapter1") == 1)
    assert [(e.client_order_id, e.outcome) for e in log.entries] == [("limited1", "refused"), ("adapter1", "accepted")]
    assert log.entries[0].reason.startswith("HTTP 429")


# ----------------------------------------------------------------------------- faults on every account, and serve()


async def test_faults_reach_every_account_each_its_own():
    faults = Faults(reject_rate=1.0)
    async with running(faults=faults, accounts={1001: "A", 1002: "B"}) as (sim, api):
        for aid in (1001, 1002):
            _, answer = await api.post("Order/place", place_body(sim, f"rej{aid}", accountId=aid))
            assert answer["success"] is False
        a, b = sim.exchange.accounts["A"].faults, sim.exchange.accounts["B"].faults
        assert a == b == faults and a is not b and a is not faults
        assert [e["outcome"] for e in await api.audit()] == ["refused", "refused"]


async def test_drop_stream_fault_drops_the_user_hub_and_the_adapter_recovers():
    async with px_session(sim_kw={"faults": Faults(drop_stream_prob=1.0)}) as (x, sim, a, c):
        first = sim.hub.connects
        await a.place(order("dropped1"))
        await c.wait(lambda _: c.filled("dropped1") == 1)  # found again by the resync after the reconnect
        await until(lambda: sim.hub.connects > first, what="a reconnect after the dropped hub")


async def test_duplicate_fault_duplicates_user_hub_events_and_nothing_is_copied_twice():
    async with px_session(sim_kw={"faults": Faults(duplicate_prob=1.0)}) as (x, sim, a, c):
        await a.place(order("twice1", qty=2))
        await c.wait(lambda _: c.filled("twice1") == 2)
        assert sum(e.fill_qty for e in c.kinds(EventKind.FILL, "twice1")) == 2


def test_serve_takes_the_fault_switches_and_the_audit_file():
    import inspect

    params = inspect.signature(serve).parameters
    assert params["faults"].kind is inspect.Parameter.KEYWORD_ONLY and params["faults"].default is None
    assert params["audit"].kind is inspect.Parameter.KEYWORD_ONLY and params["audit"].default is None


async def test_copytui_sim_projectx_with_faults_and_audit_file(tmp_path):
    path = tmp_path / "sim-audit.jsonl"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "copytui.cli", "sim", "projectx", "--port", "0", "--accounts", "1",
        "--reject-rate", "1", "--audit", str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode()
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)/api", first)
        assert m, first
        async with api_of(m.group(1)) as api:
            body = {"accountId": 1001, "contractId": "", "type": 2, "side": 0, "size": 1, "customTag": "cli1"}
            _, found = await api.post("Contract/search", {"searchText": "MES", "live": False})
            body["contractId"] = next(c["id"] for c in found["contracts"] if c["id"].startswith("CON.F.US.MES."))
            _, answer = await api.post("Order/place", body)
            assert answer["success"] is False and "reject" in answer["errorMessage"].lower()
            [entry] = await api.audit()
            assert (entry["client_order_id"], entry["outcome"]) == ("cli1", "refused")
    finally:
        proc.send_signal(signal.SIGINT)
        out = (await asyncio.wait_for(proc.communicate(), 10))[0].decode()
    assert proc.returncode == 0, out
    assert "faults on every account" in out and str(path) in out
    [line] = path.read_text().splitlines()
    assert json.loads(line)["client_order_id"] == "cli1"
