"""ProjectX: wire units (SignalR framing, contract ids, payloads, cumulative fills, the request
budget) and the adapter against its simulator over real loopback sockets."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from adapters.base import AdapterContext, AmbiguousOutcome, AuthFailed, BrokerAdapter, Disconnected, RateLimited
from adapters.kit.conformance import AdapterConformance, Venue
from adapters.paper.exchange import PaperExchange
from adapters.projectx import create_adapter, signalr
from adapters.projectx.contracts import ContractError, contract_for, front_quarter, parse_overrides, symbol_of
from adapters.projectx.events import Translator
from adapters.projectx.payloads import GwOrder, GwTrade, PayloadError, validate
from adapters.projectx.ratelimit import TokenBucket
from adapters.projectx.rest import GatewayRest, token_lifetime
from adapters.projectx.simulator import ProjectXSimulator
from copytui.config import AccountConfig, load_config
from copytui.journal import summary
from copytui.models import EventKind, OrderAction, OrderStatus, OrderType, Side
from copytui.runtime import build_runtime
from tests.adapters.px_support import (
    API_KEY,
    USER,
    Collector,
    account_config,
    make_adapter,
    order,
    px_session,
    secrets_for,
    until,
)

# ----------------------------------------------------------------------------- SignalR framing


def test_frames_split_across_websocket_messages_and_share_one():
    dec = signalr.FrameDecoder()
    a = signalr.invocation("GatewayUserOrder", [{"id": 1}])
    b = signalr.ping()
    both = a + b
    assert dec.feed(both[:10]) == []
    msgs = dec.feed(both[10:])
    assert [m["type"] for m in msgs] == [1, 6]
    assert msgs[0]["target"] == "GatewayUserOrder" and msgs[0]["arguments"] == [{"id": 1}]
    assert both.count(signalr.RS) == 2


def test_handshake_and_bad_frames_are_named():
    assert signalr.HANDSHAKE_REQUEST == '{"protocol":"json","version":1}\x1e'
    msg, rest = signalr.parse_handshake_request(signalr.HANDSHAKE_REQUEST + signalr.ping())
    assert msg["protocol"] == "json" and rest == signalr.ping()
    assert signalr.parse_handshake_response("{}\x1e") == ""
    with pytest.raises(signalr.SignalRProtocolError, match="refused the handshake: nope"):
        signalr.parse_handshake_response('{"error":"nope"}\x1e')
    with pytest.raises(signalr.SignalRProtocolError, match="'version' must be 1"):
        signalr.parse_handshake_request('{"protocol":"json","version":2}\x1e')
    with pytest.raises(signalr.SignalRProtocolError, match="not JSON"):
        signalr.FrameDecoder().feed("{oops\x1e")
    with pytest.raises(signalr.SignalRProtocolError, match="'type' must be an integer"):
        signalr.message_type({"type": "1"})
    assert signalr.message_type({"type": 99}) is None  # unknown types are ignored, per the spec


def test_negotiate_answers():
    url = signalr.negotiate_url("https://h/hubs/user?access_token=t")
    assert url == "https://h/hubs/user/negotiate?access_token=t&negotiateVersion=1"
    ws = {"transport": "WebSockets", "transferFormats": ["Text"]}
    assert signalr.connection_id({"negotiateVersion": 1, "connectionToken": "T", "connectionId": "I"}) == "T"
    assert signalr.connection_id({"negotiateVersion": 0, "connectionId": "I", "availableTransports": [ws]}) == "I"
    with pytest.raises(signalr.SignalRProtocolError, match="no 'connectionToken'"):
        signalr.connection_id({"negotiateVersion": 1, "connectionId": "I"})
    with pytest.raises(signalr.SignalRProtocolError, match="no WebSockets"):
        signalr.connection_id({"connectionId": "I", "availableTransports": [{"transport": "LongPolling"}]})
    assert signalr.websocket_url("https://h/hubs/user?access_token=t", "X") == "wss://h/hubs/user?access_token=t&id=X"


# ----------------------------------------------------------------------------- contracts, payloads


def test_contract_ids_both_ways():
    assert contract_for("MES", "H25") == "CON.F.US.MES.H25"
    assert contract_for("ES", "U25") == "CON.F.US.EP.U25"
    assert symbol_of("CON.F.US.ENQ.Z24") == "NQ"
    assert symbol_of("CON.F.US.MCLE.K26") == "MCL"
    assert front_quarter(2025, 4) == "M25" and front_quarter(2025, 12) == "Z25"
    with pytest.raises(ContractError, match="contractId: product 'ZZZ'"):
        symbol_of("CON.F.US.ZZZ.H25")
    with pytest.raises(ContractError, match="not a ProjectX futures contract id"):
        symbol_of("MESH25")
    assert parse_overrides("MES=CON.F.US.MES.H25, ES=CON.F.US.EP.H25") == {
        "MES": "CON.F.US.MES.H25",
        "ES": "CON.F.US.EP.H25",
    }
    with pytest.raises(ContractError, match="is not a NQ contract"):
        parse_overrides("NQ=CON.F.US.MES.H25")


ORDER = {
    "id": 7,
    "accountId": 1001,
    "contractId": "CON.F.US.MES.H25",
    "status": 1,
    "type": 1,
    "side": 0,
    "size": 3,
    "limitPrice": 5000.0,
    "fillVolume": 0,
    "customTag": "ct7",
    "updateTimestamp": "2025-01-21T16:13:52.523293+00:00",
}
TRADE = {
    "id": 70,
    "accountId": 1001,
    "contractId": "CON.F.US.MES.H25",
    "price": 5000.0,
    "side": 0,
    "size": 1,
    "orderId": 7,
}


def test_payloads_bare_or_wrapped_and_bad_fields_named():
    bare = validate(GwOrder, ORDER, "GatewayUserOrder")
    wrapped = validate(GwOrder, {"action": 1, "data": ORDER}, "GatewayUserOrder")
    assert bare == wrapped and bare.symbol == "MES" and bare.copy_side is Side.BUY
    with pytest.raises(PayloadError, match=r"GatewayUserOrder\.status: Input should be .*\(got 'open'\)"):
        validate(GwOrder, {**ORDER, "status": "open"}, "GatewayUserOrder")  # the wrong kind: malformed
    with pytest.raises(PayloadError, match=r"GatewayUserTrade\.orderId: Field required"):
        validate(GwTrade, {k: v for k, v in TRADE.items() if k != "orderId"}, "GatewayUserTrade")
    with pytest.raises(PayloadError, match=r"GatewayUserOrder\.contractId: .*'XX'"):
        validate(GwOrder, {**ORDER, "contractId": "CON.F.US.XX.H25"}, "GatewayUserOrder")
    with pytest.raises(PayloadError, match=r"GatewayUserOrder\.data: must be a JSON object"):
        validate(GwOrder, {"action": 0, "data": [1]}, "GatewayUserOrder")


def test_cumulative_fills_from_trades_or_fill_volume_whichever_comes_first():
    tr = Translator("a", 1001)
    ev = tr.on_order(validate(GwOrder, ORDER, "o"))
    assert [e.kind for e in ev] == [EventKind.ORDER_NEW] and ev[0].client_order_id == "ct7"
    # a trade first: one fill of 1
    f1 = tr.on_trade(validate(GwTrade, TRADE, "t"))
    assert [(e.fill_qty, e.cum_qty, e.client_order_id) for e in f1] == [(1, 1, "ct7")]
    assert tr.on_trade(validate(GwTrade, TRADE, "t")) == []  # the same trade again
    # the order says 3 filled at an average of 5000.5 before the other trades arrive
    upd = {**ORDER, "status": 2, "fillVolume": 3, "filledPrice": 5000.5, "updateTimestamp": "2025-01-21T16:13:53+00:00"}
    f2 = tr.on_order(validate(GwOrder, upd, "o"))
    assert [(e.kind, e.fill_qty, e.cum_qty, e.fill_price) for e in f2] == [(EventKind.FILL, 2, 3, 5000.75)]
    late = [{**TRADE, "id": 71, "price": 5000.75}, {**TRADE, "id": 72, "price": 5000.75}]
    assert [tr.on_trade(validate(GwTrade, t, "t")) for t in late] == [[], []]
    # an older snapshot of the order cannot bring it back
    assert tr.on_order(validate(GwOrder, ORDER, "o")) == []


def test_modify_and_cancel_events_once():
    tr = Translator("a", 1001)
    tr.on_order(validate(GwOrder, ORDER, "o"))
    mod = {**ORDER, "limitPrice": 4999.0, "updateTimestamp": "2025-01-21T16:14:00+00:00"}
    ev = tr.on_order(validate(GwOrder, mod, "o"))
    assert [(e.kind, e.version, e.price) for e in ev] == [(EventKind.ORDER_MODIFIED, 1, 4999.0)]
    assert tr.on_order(validate(GwOrder, mod, "o")) == []
    gone = {**mod, "status": 4, "updateTimestamp": "2025-01-21T16:15:00+00:00"}
    ev = tr.on_order(validate(GwOrder, gone, "o"))
    assert [(e.kind, e.reason) for e in ev] == [(EventKind.ORDER_CANCELLED, "expired at the ProjectX gateway")]
    assert tr.on_order(validate(GwOrder, gone, "o")) == []


async def test_token_bucket_waits_briefly_then_refuses():
    now = [0.0]
    b = TokenBucket(2, 60.0, clock=lambda: now[0])
    await b.acquire(0, "a")
    await b.acquire(0, "b")
    with pytest.raises(RateLimited) as exc:
        await b.acquire(0.5, "c")
    assert exc.value.retry_after_s == pytest.approx(30.0)
    now[0] = 30.0
    await b.acquire(0, "c")
    b.penalise(5.0)
    assert b.wait_time() == pytest.approx(30.0)


async def test_unreachable_gateway_is_disconnected_not_ambiguous():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the request: nothing listens there
    rest = GatewayRest(f"http://127.0.0.1:{port}", "u", lambda: "k", bucket=TokenBucket())
    try:
        with pytest.raises(Disconnected, match="not sent"):
            await rest.call("/api/Order/place", {"size": 1}, what="Order/place", write=True, auth=False)
    finally:
        await rest.close()


def test_token_lifetime_from_the_jwt_or_the_documented_day():
    import base64
    import json
    import time

    claims = base64.urlsafe_b64encode(json.dumps({"exp": time.time() + 120}).encode()).decode().rstrip("=")
    assert 110 < token_lifetime(f"h.{claims}.s") <= 120
    assert token_lifetime("opaque-token") == 24 * 3600.0


# ----------------------------------------------------------------------------- factory


def test_factory_rejects_bad_config_with_the_fix():
    ctx = AdapterContext()
    base = {"name": "px", "broker": "projectx", "username": "u", "account_id": "1"}
    with pytest.raises(ValueError, match="needs username"):
        create_adapter(AccountConfig(**{**base, "username": None}), ctx)
    with pytest.raises(ValueError, match="unknown ProjectX option"):
        create_adapter(AccountConfig(**base, options={"bogus": 1}), ctx)
    with pytest.raises(ValueError, match="options.firm"):
        create_adapter(AccountConfig(**base, environment="live"), ctx)
    with pytest.raises(ValueError, match="is not a MES contract"):
        create_adapter(AccountConfig(**base, options={"contracts": "MES=CON.F.US.EP.H25"}), ctx)
    live = create_adapter(AccountConfig(**base, environment="live", options={"firm": "topstepx"}), ctx)
    assert live.rest.api_url == "https://api.topstepx.com"  # type: ignore[attr-defined]


def test_options_are_the_declared_model_and_each_refusal_names_its_key():
    from adapters.base import AdapterSpec
    from adapters.projectx.options import ProjectXOptions
    from adapters.projectx.spec import SPEC

    assert SPEC.options is not None and AdapterSpec.load(SPEC.options) is ProjectXOptions
    ctx = AdapterContext()
    base = {"name": "px", "broker": "projectx", "username": "u", "account_id": "1", "environment": "demo"}
    refused = {
        "options.timeout_s: must be a positive number, got -1": {"timeout_s": -1},
        "options.order_max_wait_s: must be a positive number, got True": {"order_max_wait_s": True},
        "options.requests_per_minute: must be a positive whole number, got 0": {"requests_per_minute": 0},
        "options.negotiate: must be true or false, got 'yes'": {"negotiate": "yes"},
        "options.api_url and options.hub_url go together": {"api_url": "https://gw.example"},
        "options.firm: 'acme' is not a firm known here": {"firm": "acme"},
        "known: api_url, contracts, firm, hub_url,": {"requestsPerMinute": 10},
    }
    for text, options in refused.items():
        with pytest.raises(ValueError, match=f"^account px: .*{re.escape(text)}"):
            create_adapter(AccountConfig(**base, options=options), ctx)
    fine = create_adapter(AccountConfig(**base, options={"firm": "TopstepX", "requests_per_minute": 30}), ctx)
    assert fine.options.firm == "topstepx" and fine.rest.bucket.capacity == 30  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- against the simulator


async def test_place_fill_modify_cancel_over_the_wire():
    async with px_session() as (x, sim, a, c):
        ack = await a.place(order("m1", qty=2))
        assert ack.status is OrderStatus.WORKING and ack.broker_order_id
        assert 0 < ack.sent_ns <= ack.ack_ns
        await c.wait(lambda _: c.filled("m1") == 2)
        assert c.kinds(EventKind.FILL, "m1")[0].order_id == ack.broker_order_id
        await c.wait(lambda _: any(e.kind is EventKind.POSITION and e.position == 2 for e in c.events))
        assert [(p.symbol, p.qty) for p in await a.positions()] == [("MES", 2)]

        px = x.price("ES") - 10
        lim = await a.place(order("l1", "ES", qty=1, order_type=OrderType.LIMIT, price=px))
        await c.wait(lambda _: c.kinds(EventKind.ORDER_NEW, "l1"))
        [info] = await a.open_orders()
        assert (info.client_order_id, info.price, info.status) == ("l1", px, OrderStatus.WORKING)
        mod = order(
            "l1m", "ES", qty=2, order_type=OrderType.LIMIT, price=px - 1, action=OrderAction.MODIFY, target="l1"
        )
        assert (await a.modify(mod)).status is OrderStatus.WORKING
        await c.wait(lambda _: c.kinds(EventKind.ORDER_MODIFIED))
        assert (c.kinds(EventKind.ORDER_MODIFIED)[0].qty, c.kinds(EventKind.ORDER_MODIFIED)[0].price) == (2, px - 1)
        cx = order("l1c", "ES", action=OrderAction.CANCEL, target="l1", broker_order_id=lim.broker_order_id)
        assert (await a.cancel(cx)).status is OrderStatus.CANCELLED
        await c.wait(lambda _: c.kinds(EventKind.ORDER_CANCELLED, "l1"))
        assert await a.open_orders() == []
        # cancelling it again is a refusal with the gateway's words, not an exception
        again = await a.cancel(cx)
        assert again.status is OrderStatus.REJECTED and "not working" in (again.reason or "")


async def test_custom_tag_is_the_idempotency_key():
    async with px_session() as (x, sim, a, c):
        first = await a.place(order("dup1"))
        second = await a.place(order("dup1"))
        assert first.status is OrderStatus.WORKING
        assert second.status is OrderStatus.REJECTED and "customTag 'dup1'" in (second.reason or "")
        assert len([o for o in x.accounts["PRAC-1001"].orders.values() if o.client_order_id == "dup1"]) == 1
        found = await a.find_order("dup1")
        assert found is not None and found.broker_order_id == first.broker_order_id and found.filled_qty == 1


async def test_late_answer_is_ambiguous_then_found_by_custom_tag():
    async with px_session(order_timeout_s=0.2) as (x, sim, a, c):
        sim.place_stall_s = 0.5
        with pytest.raises(AmbiguousOutcome, match="ask by customTag"):
            await a.place(order("amb1"))
        sim.place_stall_s = 0.0
        fresh = make_adapter(sim, name="px1b")  # a restarted copytui knows nothing but the tag
        await fresh.connect()
        try:
            info = await fresh.find_order("amb1")
            assert info is not None and info.status is OrderStatus.FILLED and info.client_order_id == "amb1"
            assert await fresh.find_order("never-sent") is None
        finally:
            await fresh.disconnect()


async def test_429_is_rate_limited_and_the_budget_holds_back_requests():
    async with px_session(requests_per_minute=200) as (x, sim, a, c):
        await a.place(order("r0"))  # knows the MES contract now: the next place is one request
        sim.answer_429(1, retry_after_s=2)
        before = len(sim.requests)
        with pytest.raises(RateLimited) as exc:
            await a.place(order("r1"))
        assert exc.value.retry_after_s == 2
        # the client now waits out the gateway's Retry-After: the next order is refused without a request
        with pytest.raises(RateLimited, match="not sent"):
            await a.place(order("r2"))
        assert len(sim.requests) == before + 1
        assert "r1" not in x.accounts["PRAC-1001"].by_client_id and "r2" not in x.accounts["PRAC-1001"].by_client_id


async def test_own_budget_refuses_before_the_gateway_would():
    async with px_session(requests_per_minute=8) as (x, sim, a, c):
        acks, limited = [], 0
        for i in range(8):
            try:
                acks.append(await a.place(order(f"b{i}")))
            except RateLimited as exc:
                limited += 1
                assert exc.retry_after_s > 0
        assert limited and all(ack.status is OrderStatus.WORKING for ack in acks)
        assert sim.answered_429 == 0  # the client held back; the gateway never had to refuse
        assert len(x.accounts["PRAC-1001"].orders) == len(acks)


async def test_accounts_of_one_user_share_the_request_budget():
    async with ProjectXSimulator(PaperExchange(), users={USER: API_KEY}) as sim:
        a = make_adapter(sim, requests_per_minute=6)
        b = make_adapter(sim, name="px2", account_id="1002", requests_per_minute=6)
        assert a.rest.bucket is b.rest.bucket
        await a.connect()  # login, trades, open orders: 3 requests each
        await b.connect()
        try:
            with pytest.raises(RateLimited, match="not sent"):
                await a.place(order("shared1"))
            assert sim.answered_429 == 0
        finally:
            await a.disconnect()
            await b.disconnect()


async def test_token_is_revalidated_before_expiry_and_relogged_after_expiry():
    async with px_session(sim_kw={"token_ttl_s": 0.6}) as (x, sim, a, c):
        await asyncio.sleep(0.9)
        assert a.rest.validations >= 1
        assert (await a.place(order("t1"))).status is OrderStatus.WORKING
        sim.expire_tokens()
        logins = a.rest.logins
        assert [p.symbol for p in await a.positions()] == ["MES"]  # a read: logs in again and asks once more
        assert a.rest.logins == logins + 1


async def test_hub_reconnect_during_a_burst_loses_and_duplicates_nothing():
    async with px_session() as (x, sim, a, c):
        coids = [f"burst{i}" for i in range(12)]
        sim.duplicate_next(6)
        for i, coid in enumerate(coids):
            await a.place(order(coid, side=Side.BUY if i % 2 else Side.SELL))
            if i == 3:
                assert sim.drop_hub() == 1  # orders keep going out while the hub is away
            if i == 8:
                await until(lambda: a.health.reconnects == 1 and a.health.connected, what="hub reconnect")
                assert sim.drop_hub() == 1
        await c.wait(lambda _: all(c.filled(k) == 1 for k in coids))
        await until(lambda: a.health.reconnects >= 2 and a.health.connected, what="second hub reconnect")
        fills = c.kinds(EventKind.FILL)
        assert len(fills) == len(coids)  # each fill exactly once, dropped or duplicated frames or not
        assert a.resyncs >= 2
        assert sim.hub.connects >= 3


async def test_pings_keep_a_quiet_hub_alive_and_silence_reconnects():
    async with px_session(sim_kw={"ping_interval_s": 0.05}, server_timeout_s=0.4) as (x, sim, a, c):
        await asyncio.sleep(0.8)
        assert a.health.reconnects == 0 and a.health.connected
        sim.hub_faults.ping_interval_s = 30.0  # the next connection's pinger stays quiet
        sim.drop_hub()
        await until(lambda: a.health.reconnects == 1 and a.health.connected, what="reconnect after the drop")
        # silence past server_timeout_s: the client gives the connection up and opens a new one
        await until(lambda: a.health.reconnects >= 2, timeout=3.0, what="reconnect after silence")


async def test_what_happened_before_the_session_is_never_news():
    async with px_session() as (x, sim, a, c):
        await a.place(order("old1", qty=2))
        px = x.price("ES") - 10
        await a.place(order("old2", "ES", order_type=OrderType.LIMIT, price=px))
        later = make_adapter(sim, name="px1later")
        await later.connect()
        seen = Collector(later)
        try:
            assert (await later.fills_since(None))[0] == []
            sim.drop_hub(1001)
            await until(lambda: later.health.reconnects == 1 and later.health.connected, what="reconnect")
            await later.place(order("new1"))
            await seen.wait(lambda _: seen.filled("new1") == 1)
            assert not [e for e in seen.events if e.client_order_id in ("old1", "old2")]
            x.set_price("ES", px - 1)  # the old working order fills now: that is news
            await seen.wait(lambda _: seen.filled("old2") == 1)
        finally:
            await later.disconnect()


async def test_malformed_payloads_are_reported_and_skipped():
    async with px_session() as (x, sim, a, c):
        [conn] = list(sim.hub.connections)
        bad_order = {**ORDER, "accountId": 1001, "status": "open"}
        conn.queue.put_nowait(signalr.invocation("GatewayUserOrder", [bad_order]))
        conn.queue.put_nowait(signalr.invocation("GatewayUserTrade", ["not an object"]))
        conn.queue.put_nowait("{garbage" + signalr.RS)
        await a.place(order("after-bad"))
        await c.wait(lambda _: c.filled("after-bad") == 1)
        assert any("GatewayUserOrder.status" in m for m in a.malformed)
        assert any("GatewayUserTrade" in m for m in a.malformed)
        assert a.health.connected


@pytest.mark.parametrize("wrap", ["none", "all"])
async def test_bare_and_wrapped_payloads(wrap):
    async with px_session(sim_kw={"wrap": wrap}, negotiate=True) as (x, sim, a, c):
        await a.place(order("w1", "NQ", side=Side.SELL, qty=3))
        await c.wait(lambda _: c.filled("w1") == 3)
        assert any(e.kind is EventKind.POSITION and e.symbol == "NQ" and e.position == -3 for e in c.events)


async def test_fills_since_cursor_and_flatten():
    async with px_session() as (x, sim, a, c):
        _, cursor = await a.fills_since(None)
        await a.place(order("g1", qty=2))
        await a.place(order("g2", "ES", side=Side.SELL))
        await a.place(order("g3", "ES", qty=1, order_type=OrderType.LIMIT, price=x.price("ES") - 5))
        events, cursor2 = await a.fills_since(cursor)
        assert sorted((e.client_order_id, e.cum_qty) for e in events) == [("g1", 2), ("g2", 1)]
        assert (await a.fills_since(cursor2))[0] == []
        await a.partial_close("MES", 1)
        assert {p.symbol: p.qty for p in await a.positions()} == {"MES": 1, "ES": -1}
        await a.flatten()
        assert await a.positions() == [] and await a.open_orders() == []


async def test_account_by_name_bad_key_and_no_secret_leaks(caplog):
    caplog.set_level(logging.DEBUG)
    async with ProjectXSimulator(PaperExchange(), users={USER: API_KEY}) as sim:
        a = make_adapter(sim, account_id="PRAC-1002")
        await a.connect()
        try:
            assert a.account_id == 1002
        finally:
            await a.disconnect()
        cfg = account_config(sim, name="wrong")
        bad = create_adapter(cfg, AdapterContext(secret=lambda k: "not-the-key-9876"))
        with pytest.raises(AuthFailed) as exc:
            await bad.connect()
        assert "not-the-key-9876" not in str(exc.value) and "errorCode 3" in str(exc.value)
        await bad.disconnect()
        none = create_adapter(account_config(sim, name="nokey"), AdapterContext())
        with pytest.raises(AuthFailed, match="copytui accounts add"):
            await none.connect()
        await none.disconnect()
        tokens = list(sim.tokens)
    assert tokens and not any(t in caplog.text for t in tokens)
    assert API_KEY not in caplog.text


async def test_hub_refuses_a_bad_token():
    async with ProjectXSimulator(PaperExchange()) as sim, aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            await s.ws_connect(sim.hub_url + "?access_token=forged")
        assert exc.value.status == 401


async def test_pysignalr_receives_order_and_trade_events():
    """A SignalR client copytui did not write talks to the simulator's hub (negotiate, handshake, invoke)."""
    from pysignalr.client import SignalRClient

    async with ProjectXSimulator(PaperExchange(seed=5)) as sim, aiohttp.ClientSession() as s:
        r = await s.post(f"{sim.api_url}/api/Auth/loginKey", json={"userName": "any", "apiKey": "k"})
        token = (await r.json())["token"]
        got: dict[str, list] = {"order": [], "trade": [], "completion": []}
        subscribed = asyncio.Event()
        client = SignalRClient(f"{sim.hub_url}?access_token={token}", retry_count=1)

        async def on_order(args):
            got["order"].append(args)

        async def on_trade(args):
            got["trade"].append(args)

        async def on_done(msg):
            got["completion"].append(msg)
            subscribed.set()

        async def on_open():
            await client.send("SubscribeOrders", [1001])
            await client.send("SubscribeTrades", [1001], on_invocation=on_done)

        client.on_open(on_open)
        client.on("GatewayUserOrder", on_order)
        client.on("GatewayUserTrade", on_trade)
        runner = asyncio.get_running_loop().create_task(client.run(), name="pysignalr")
        try:
            await asyncio.wait_for(subscribed.wait(), 5)
            body = {
                "accountId": 1001,
                "contractId": sim.contract_of("MES"),
                "type": 2,
                "side": 0,
                "size": 2,
                "customTag": "pys1",
            }
            r = await s.post(f"{sim.api_url}/api/Order/place", json=body, headers={"Authorization": f"Bearer {token}"})
            order_id = (await r.json())["orderId"]
            async with asyncio.timeout(5):
                while not (got["trade"] and len(got["order"]) >= 2):
                    await asyncio.sleep(0.01)
        finally:
            runner.cancel()
            with pytest.raises(asyncio.CancelledError):
                await runner
        assert got["completion"][0].error is None
        orders = [a[0]["data"] for a in got["order"]]  # the simulator wraps order payloads as {action, data}
        assert orders[0]["customTag"] == "pys1" and orders[-1]["status"] == 2 and orders[-1]["fillVolume"] == 2
        [trade] = got["trade"][0]
        assert trade["orderId"] == order_id and trade["size"] == 2 and trade["side"] == 0


async def test_collector_helper_sees_stream_end():
    async with px_session() as (x, sim, a, c):
        assert isinstance(c, Collector)
    assert c.task.done()


# ----------------------------------------------------------------------------- end to end from a config file


async def test_paper_leader_copies_to_a_projectx_follower_from_a_config_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    async with ProjectXSimulator(PaperExchange(seed=9), users={USER: API_KEY}) as sim:
        path = tmp_path / "config.yaml"
        path.write_text(
            f"""
leader: {{name: lead, broker: paper}}
followers:
  - name: px1
    broker: projectx
    environment: sim
    host: 127.0.0.1
    port: {sim.port}
    username: {USER}
    account_id: "PRAC-1001"
    mode: mirror
    multiplier: 2
    options: {{reconnect_delay_s: 0.02}}
reconcile: {{interval_s: 1}}
""",
            encoding="utf-8",
        )
        journal = tmp_path / "journal.sqlite3"
        rt = build_runtime(load_config(path), journal_path=journal, secret_lookup=secrets_for("px1"))
        rt.walk = False
        follower = sim.exchange.accounts["PRAC-1001"]

        def held(symbol: str) -> int:
            pos = follower.positions.get(symbol)
            return pos.qty if pos else 0

        await rt.start()
        try:
            lead = rt.exchange
            lead.submit("lead", symbol="ES", side=Side.BUY, qty=2)
            await until(lambda: held("ES") == 4, what="follower long 4 ES")
            lead.submit("lead", symbol="ES", side=Side.SELL, qty=1)
            await until(lambda: held("ES") == 2, what="follower long 2 ES")
            px = lead.price("NQ") - 20
            work = lead.submit("lead", symbol="NQ", side=Side.BUY, qty=1, order_type=OrderType.LIMIT, price=px)
            await until(
                lambda: any(o.price == px and o.qty == 2 for o in sim.exchange.open_orders("PRAC-1001")),
                what="mirrored limit order",
            )
            lead.modify("lead", work.id, price=px - 5)
            await until(
                lambda: any(o.price == px - 5 for o in sim.exchange.open_orders("PRAC-1001")), what="mirrored modify"
            )
            lead.cancel("lead", work.id)
            await until(lambda: not sim.exchange.open_orders("PRAC-1001"), what="mirrored cancel")
            lead.submit("lead", symbol="ES", side=Side.SELL, qty=1)
            await until(lambda: held("ES") == 0, what="follower flat")
            await rt.engine.drain(timeout_s=5)
        finally:
            await rt.stop()
    s = await summary(journal)
    assert s["follower_orders"] >= 4 and s["fills"] >= 3
    assert s["duplicate_orders"] == 0 and s["unresolved"] == 0 and s["rejects"] == 0
    assert sim.exchange.duplicate_submissions("PRAC-1001") == 0


async def test_copytui_sim_projectx_runs_standalone():
    import re
    import signal
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "copytui.cli", "sim", "projectx", "--port", "0", "--accounts", "2",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode()
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/api", first)
        assert m, first
        port = int(m.group(1))
        async with aiohttp.ClientSession() as s:
            r = await s.post(f"http://127.0.0.1:{port}/api/Auth/loginKey", json={"userName": "t", "apiKey": "sim-key"})
            token = (await r.json())["token"]
            r = await s.post(
                f"http://127.0.0.1:{port}/api/Account/search",
                json={"onlyActiveAccounts": True},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert [a["id"] for a in (await r.json())["accounts"]] == [1001, 1002]
    finally:
        proc.send_signal(signal.SIGINT)
        out = (await asyncio.wait_for(proc.communicate(), 10))[0].decode()
    assert "projectx simulator stopped" in out and proc.returncode == 0


async def test_tradovate_leader_copies_to_a_projectx_follower_from_a_config_file(tmp_path, monkeypatch):
    """Two brokers, two simulators, two paper exchanges: what the leader does at Tradovate lands at ProjectX."""
    from adapters.tradovate.simulator import TradovateSimulator

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    tv = TradovateSimulator(seed=4)
    tv.add_account("DEMO0001", username="leadtrader")
    await tv.start("127.0.0.1", 0)
    try:
        async with ProjectXSimulator(PaperExchange(seed=9), users={USER: API_KEY}) as px:
            path = tmp_path / "config.yaml"
            path.write_text(
                f"""
leader:
  name: lead
  broker: tradovate
  environment: sim
  host: 127.0.0.1
  port: {tv.port}
  username: leadtrader
  account_id: DEMO0001
followers:
  - name: px1
    broker: projectx
    environment: sim
    host: 127.0.0.1
    port: {px.port}
    username: {USER}
    account_id: "1002"
    mode: mirror
    multiplier: 3
    symbol_map: {{ES: {{symbol: MES, factor: 10}}}}
    options: {{reconnect_delay_s: 0.02}}
reconcile: {{interval_s: 1}}
""",
                encoding="utf-8",
            )
            secrets = {"password": "demo", "sec": "demo", "api_key": API_KEY}
            journal = tmp_path / "journal.sqlite3"
            rt = build_runtime(
                load_config(path), journal_path=journal, secret_lookup=lambda k: secrets.get(k.rsplit(":", 1)[-1])
            )
            rt.walk = False
            follower = px.exchange.accounts["PRAC-1002"]

            def held(symbol: str) -> int:
                pos = follower.positions.get(symbol)
                return pos.qty if pos else 0

            await rt.start()
            try:
                lead = tv.exchange
                lead.submit("DEMO0001", symbol="NQ", side=Side.SELL, qty=1)
                await until(lambda: held("NQ") == -3, what="follower short 3 NQ")
                lead.submit("DEMO0001", symbol="ES", side=Side.BUY, qty=1)
                await until(lambda: held("MES") == 30, what="ES x3 mapped to MES x10: 30 MES")
                px_lim = lead.price("NQ") - 25
                work = lead.submit(
                    "DEMO0001", symbol="NQ", side=Side.BUY, qty=1, order_type=OrderType.LIMIT, price=px_lim
                )
                await until(
                    lambda: any(o.price == px_lim and o.qty == 3 for o in px.exchange.open_orders("PRAC-1002")),
                    what="mirrored limit at ProjectX",
                )
                lead.cancel("DEMO0001", work.id)
                await until(lambda: not px.exchange.open_orders("PRAC-1002"), what="mirrored cancel at ProjectX")
                lead.submit("DEMO0001", symbol="NQ", side=Side.BUY, qty=1)
                lead.submit("DEMO0001", symbol="ES", side=Side.SELL, qty=1)
                await until(lambda: held("NQ") == 0 and held("MES") == 0, what="follower flat")
                await rt.engine.drain(timeout_s=5)
            finally:
                await rt.stop()
    finally:
        await tv.stop()
    s = await summary(journal)
    assert s["fills"] >= 4 and s["duplicate_orders"] == 0 and s["unresolved"] == 0 and s["rejects"] == 0


# ----------------------------------------------------------------------------- the shared conformance suite


class TestProjectXConformance(AdapterConformance):
    """The suite every adapter passes, against the ProjectX simulator, plus a hub drop in the middle
    of a burst of orders and a 429 answer."""

    @pytest.fixture
    async def venue(self) -> AsyncIterator[Venue]:
        exchange = PaperExchange(seed=5)
        async with ProjectXSimulator(exchange, users={USER: API_KEY}, accounts={1001: "PRAC-1001"}) as sim:

            def make() -> BrokerAdapter:
                return make_adapter(sim)

            def drop() -> None:
                assert sim.drop_hub(1001) == 1

            async with Venue.open(exchange, "PRAC-1001", make, drop) as v:
                v.px_sim = sim  # type: ignore[attr-defined]
                yield v

    async def test_hub_reconnect_during_a_burst(self, venue: Venue) -> None:
        sim: ProjectXSimulator = venue.px_sim  # type: ignore[attr-defined]
        before = venue.adapter.health.reconnects
        mark = len(venue.events)
        coids = [venue.coid("burst") for _ in range(10)]
        sim.duplicate_next(8)
        tasks = []
        for i, coid in enumerate(coids):
            side = Side.BUY if i % 2 == 0 else Side.SELL
            tasks.append(asyncio.ensure_future(venue.adapter.place(venue.order(coid, side=side, qty=1 + i % 3))))
            if i == 4:
                venue.drop_stream()
            await asyncio.sleep(0)
        acks = await asyncio.gather(*tasks)
        assert all(a.status is OrderStatus.WORKING for a in acks)
        await venue.until(
            "a reconnect", lambda: venue.adapter.health.reconnects > before and venue.adapter.health.connected
        )

        def cum() -> dict[str, int]:
            out: dict[str, int] = {}
            for e in venue.events[mark:]:
                if e.kind is EventKind.FILL and e.client_order_id in coids:
                    out[e.client_order_id] = max(out.get(e.client_order_id, 0), e.cum_qty)
            return out

        want = {coid: 1 + i % 3 for i, coid in enumerate(coids)}
        await venue.until("every burst order's fills", lambda: cum() == want)
        fills = [e for e in venue.events[mark:] if e.kind is EventKind.FILL and e.client_order_id in coids]
        assert sum(e.fill_qty for e in fills) == sum(want.values())  # nothing lost, nothing twice
        assert all(len(venue.paper_orders(c)) == 1 for c in coids)
        net = sum((1 if i % 2 == 0 else -1) * q for i, q in enumerate(want.values()))
        await venue.until("positions() to match the burst", lambda: _px_qty(venue, net))

    async def test_429_is_rate_limited_and_nothing_is_sent(self, venue: Venue) -> None:
        sim: ProjectXSimulator = venue.px_sim  # type: ignore[attr-defined]
        await venue.adapter.place(venue.order(venue.coid("warm")))  # the contract is known: one request per order
        sim.answer_429(1, retry_after_s=1)
        coid = venue.coid("limited")
        with pytest.raises(RateLimited) as exc:
            await venue.adapter.place(venue.order(coid))
        assert exc.value.retry_after_s == 1
        assert venue.paper_orders(coid) == []
        await asyncio.sleep(1.05)
        ack = await venue.adapter.place(venue.order(coid))
        assert ack.status is OrderStatus.WORKING and len(venue.paper_orders(coid)) == 1


async def _px_qty(venue: Venue, qty: int) -> bool:
    held = {p.symbol: p.qty for p in await venue.adapter.positions()}
    return held.get(venue.symbol, 0) == qty


class TestProjectXConformanceOverAiohttp(AdapterConformance):
    """The same suite with ``order_http: aiohttp``: order requests through the session reads use."""

    @pytest.fixture
    async def venue(self) -> AsyncIterator[Venue]:
        exchange = PaperExchange(seed=5)
        async with ProjectXSimulator(exchange, users={USER: API_KEY}, accounts={1001: "PRAC-1001"}) as sim:

            def make() -> BrokerAdapter:
                return make_adapter(sim, order_http="aiohttp")

            async with Venue.open(exchange, "PRAC-1001", make, lambda: sim.drop_hub(1001)) as v:
                yield v
