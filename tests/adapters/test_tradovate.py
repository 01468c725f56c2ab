"""Tradovate: the shared conformance suite against the simulator over real sockets, then what is
Tradovate's own: contract tests from the public sample frames, tokens, rate limits, penalty tickets,
dropped sockets, duplicated props, and the engine with Tradovate leader and followers."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from pydantic import ValidationError

from adapters.base import AdapterContext, AuthFailed, BrokerAdapter, RateLimited
from adapters.kit.conformance import AdapterConformance, Venue
from adapters.paper import PaperAdapter
from adapters.tradovate import ConfigProblem, create_adapter
from adapters.tradovate.book import AccountBook
from adapters.tradovate.entities import EntityError, root_symbol, validate
from adapters.tradovate.frames import (
    Event,
    FrameError,
    Response,
    classify,
    encode_request,
    parse_client_message,
    parse_server_frame,
)
from adapters.tradovate.rest import penalty_of
from adapters.tradovate.settings import TradovateOptions
from copytui.config import AccountConfig, FollowerConfig, load_config
from copytui.engine import Engine
from copytui.journal import Journal, summary
from copytui.models import EventKind, FollowerOrder, OrderAction, OrderStatus, OrderType, Side
from tests.adapters.tv_support import PASSWORD, SEC, follower_config, make_adapter, running_sim, secrets_for


class TestTradovateConformance(AdapterConformance):
    @pytest.fixture
    async def venue(self) -> AsyncIterator[Venue]:
        async with running_sim("DEMO0001") as sim:

            def make() -> BrokerAdapter:
                return make_adapter(sim, "tv1", "DEMO0001")

            def drop() -> None:
                assert sim.drop_sockets("DEMO0001") == 1

            async with Venue.open(sim.exchange, "DEMO0001", make, drop) as v:
                yield v


class TestTradovateRestOrdersConformance(AdapterConformance):
    """The same contract with orders over REST (``options.order_transport: rest``)."""

    @pytest.fixture
    async def venue(self) -> AsyncIterator[Venue]:
        async with running_sim("DEMO0001") as sim:

            def make() -> BrokerAdapter:
                return make_adapter(sim, "tv1", "DEMO0001", order_transport="rest")

            def drop() -> None:
                assert sim.drop_sockets("DEMO0001") == 1

            async with Venue.open(sim.exchange, "DEMO0001", make, drop) as v:
                yield v


def order(coid: str, side: Side = Side.BUY, qty: int = 1, **kw: object) -> FollowerOrder:
    return FollowerOrder(
        follower="tv",
        signal_id=f"s-{coid}",
        client_order_id=coid,
        action=OrderAction.PLACE,
        symbol="ES",
        side=side,
        qty=qty,
        **kw,
    )


def venue_on(sim, account: str = "DEMO0001", **options: object):  # type: ignore[no-untyped-def]
    return Venue.open(sim.exchange, account, lambda: make_adapter(sim, "tv1", account, **options), lambda: None)


# ---------------------------------------------------------------- contract tests: PROTOCOLS.md samples
SAMPLE_PROPS = (
    'a[{"e":"props","d":{"entityType":"order","eventType":"Created","entity":{"id":210518,"accountId":25,'
    '"contractId":560901,"timestamp":"2016-11-04T00:02:36.626Z","action":"Sell","ordStatus":"PendingNew"}}}]'
)
ES = 560901


def test_server_frames_decode() -> None:
    assert parse_server_frame("o").kind == "open"
    assert parse_server_frame("h").kind == "heartbeat"
    closed = parse_server_frame('c[1000,"Normal closure"]')
    assert (closed.kind, closed.code, closed.reason) == ("close", 1000, "Normal closure")
    ev = classify(parse_server_frame(SAMPLE_PROPS).items[0])
    assert isinstance(ev, Event) and ev.name == "props" and ev.data["entity"]["id"] == 210518
    assert classify(parse_server_frame('a[{"i":3,"s":200,"d":{"orderId":5}}]').items[0]) == Response(
        3, 200, {"orderId": 5}
    )
    limited = classify(parse_server_frame('a[{"s": 429, "i": "7"}]').items[0])  # the docs' sample quotes the id
    assert isinstance(limited, Response) and (limited.id, limited.status) == (7, 429)


@pytest.mark.parametrize(
    ("frame", "says"),
    [
        ("", "empty"),
        ("x", "unknown frame type"),
        ("a[1,", "not a JSON array"),
        ('a{"i":1}', "JSON array"),
        ("c[]", "code"),
        ('a[{"x":1}]', "neither an event"),
    ],
)
def test_malformed_frames_fail_loudly(frame: str, says: str) -> None:
    with pytest.raises(FrameError, match=says):
        for item in parse_server_frame(frame).items:
            classify(item)


def test_client_requests_encode_as_documented() -> None:
    assert encode_request("authorize", 0, "TOKEN") == "authorize\n0\n\nTOKEN"
    req = parse_client_message(encode_request("order/placeorder", 12, {"orderQty": 1}))
    assert req is not None and (req.endpoint, req.id, req.query, req.json_body()) == (
        "order/placeorder",
        12,
        "",
        {"orderQty": 1},
    )
    assert parse_client_message("[]") is None
    with pytest.raises(FrameError, match="endpoint"):
        parse_client_message("order/placeorder")


def test_props_order_sample_decodes_to_account_events() -> None:
    book = AccountBook("A25", 25)
    book.contracts[ES] = "ESZ6"
    d = classify(parse_server_frame(SAMPLE_PROPS).items[0]).data  # type: ignore[union-attr]
    assert book.apply(d["entityType"], d["entity"]) == []  # an Order has no quantity: wait for its OrderVersion
    [new] = book.apply(
        "orderVersion", {"id": 1, "orderId": 210518, "orderQty": 2, "orderType": "Limit", "price": 4999.5}
    )
    assert (new.kind, new.account, new.order_id, new.symbol, new.side, new.order_type, new.qty, new.price) == (
        EventKind.ORDER_NEW,
        "A25",
        "210518",
        "ES",
        Side.SELL,
        OrderType.LIMIT,
        2,
        4999.5,
    )
    [moved] = book.apply(
        "orderVersion", {"id": 2, "orderId": 210518, "orderQty": 2, "orderType": "Limit", "price": 4999}
    )
    assert (moved.kind, moved.price, moved.version) == (EventKind.ORDER_MODIFIED, 4999, 1)
    [gone] = book.apply("order", {**d["entity"], "ordStatus": "Canceled"})
    assert gone.kind is EventKind.ORDER_CANCELLED
    assert book.apply("order", {**d["entity"], "ordStatus": "Working"}) == []  # late Working: final is sticky
    assert book.open_orders() == []


def test_fills_and_positions_from_entities() -> None:
    book = AccountBook("A25", 25)
    book.contracts[ES] = "ESZ6"
    book.apply("order", {"id": 7, "accountId": 25, "contractId": ES, "action": "Buy", "ordStatus": "Working"})
    book.apply("orderVersion", {"id": 1, "orderId": 7, "orderQty": 3, "orderType": "Market"})
    book.apply("command", {"id": 3, "orderId": 7, "clOrdId": "ct123", "commandType": "New"})
    fill = {"orderId": 7, "contractId": ES, "timestamp": "2016-11-04T00:02:37Z", "action": "Buy", "price": 5000.25}
    [late] = book.apply("fill", {**fill, "id": 11, "qty": 2})  # the second fill overtakes the first
    assert (late.fill_id, late.fill_qty, late.cum_qty, late.client_order_id, late.symbol) == ("11", 2, 2, "ct123", "ES")
    [early] = book.apply("fill", {**fill, "id": 10, "qty": 1})
    assert early.cum_qty == 3  # still adds up
    assert book.apply("fill", {**fill, "id": 10, "qty": 1}) == []  # a repeat counts once
    assert [(e.fill_id, e.cum_qty) for e in book.fills_after(0)] == [("10", 1), ("11", 3)]
    pos = {
        "id": 1,
        "accountId": 25,
        "contractId": ES,
        "timestamp": "2016-11-04T00:02:37Z",
        "tradeDate": {"year": 2016, "month": 11, "day": 4},
        "netPrice": 5000.1,
        "prevPos": 0,
    }
    [p] = book.apply("position", {**pos, "netPos": 3, "bought": 3, "sold": 0})
    assert (p.kind, p.symbol, p.position, p.avg_price) == (EventKind.POSITION, "ES", 3, 5000.1)
    assert book.apply("position", {**pos, "netPos": 1, "bought": 1, "sold": 0}) == []  # an older update, late
    info = book.find("ct123")
    assert info is not None and (info.broker_order_id, info.filled_qty, info.qty) == ("7", 3, 3)


def test_other_accounts_and_bad_entities_stay_out() -> None:
    book = AccountBook("A25", 25)
    book.contracts[1] = "NQH6"
    assert (
        book.apply("order", {"id": 8, "accountId": 99, "contractId": 1, "action": "Buy", "ordStatus": "Working"}) == []
    )
    fill = {"id": 20, "orderId": 8, "contractId": 1, "action": "Buy", "qty": 1, "price": 1.0}
    assert book.apply("fill", fill) == []
    with pytest.raises(EntityError, match="fill 21: field 'qty'"):
        book.apply("fill", {**fill, "id": 21, "orderId": 9, "qty": -1})
    with pytest.raises(EntityError, match="field 'action'"):
        validate("order", {"id": 1, "accountId": 25, "action": "Hold", "ordStatus": "Working"})
    assert root_symbol("MESZ5") == "MES" and root_symbol("M2KH6") == "M2K" and root_symbol("NQU25") == "NQ"
    with pytest.raises(EntityError, match="'ZZZ'"):
        root_symbol("ZZZZ5")


def test_penalty_answer_vocabulary() -> None:
    pen = penalty_of({"p-ticket": "abc", "p-time": 60, "p-captcha": True})
    assert pen is not None and (pen.ticket, pen.seconds, pen.captcha) == ("abc", 60.0, True)
    assert penalty_of({"accessToken": "x", "expirationTime": "2030-01-01T00:00:00Z"}) is None


async def test_order_requests_carry_the_documented_fields() -> None:
    async with running_sim("DEMO0001") as sim, venue_on(sim) as v:
        bid, _ = v.exchange.quote("ES")
        first = order(v.coid("body"), order_type=OrderType.LIMIT, price=bid - 5)
        ack = await v.adapter.place(first)
        await v.adapter.modify(v.change(OrderAction.MODIFY, first, ack.broker_order_id, price=bid - 6))
        await v.adapter.cancel(v.change(OrderAction.CANCEL, first, ack.broker_order_id, qty=0))
        (e1, place), (e2, modify), (e3, cancel) = sim.order_bodies
    assert (e1, e2, e3) == ("order/placeorder", "order/modifyorder", "order/cancelorder")
    assert set(place) == {
        "accountSpec",
        "accountId",
        "clOrdId",
        "action",
        "symbol",
        "orderQty",
        "orderType",
        "price",
        "timeInForce",
        "isAutomated",
    }
    assert (place["accountSpec"], place["action"], place["orderType"], place["timeInForce"], place["isAutomated"]) == (
        "DEMO0001",
        "Buy",
        "Limit",
        "Day",
        True,
    )
    assert re.fullmatch(r"ES[HMUZ]\d", place["symbol"]) and isinstance(place["accountId"], int)
    assert set(modify) == {"orderId", "clOrdId", "orderQty", "orderType", "price", "isAutomated"}
    assert set(cancel) == {"orderId", "clOrdId", "isAutomated"}
    assert modify["orderId"] == cancel["orderId"] == int(ack.broker_order_id or 0)


# ------------------------------------------------------------------------------ login and config
async def test_login_penalty_ticket_is_waited_out_and_redeemed() -> None:
    async with running_sim("DEMO0001") as sim:
        sim.penalize("auth/accesstokenrequest", times=1, seconds=0.2)
        adapter = make_adapter(sim, "tv1", "DEMO0001")
        await adapter.connect()
        try:
            assert adapter.health.connected
            assert (sim.tickets_redeemed, sim.logins, sim.requests["auth/accesstokenrequest"]) == (1, 1, 2)
        finally:
            await adapter.disconnect()


async def test_captcha_stops_the_login_with_a_clear_error() -> None:
    async with running_sim("DEMO0001") as sim:
        sim.penalize("auth/accesstokenrequest", times=1, seconds=0.1, captcha=True)
        adapter = make_adapter(sim, "tv1", "DEMO0001")
        with pytest.raises(AuthFailed, match=r"captcha.*trader1.*an hour"):
            await adapter.connect()
        assert adapter.health.state == "auth failed" and sim.logins == 0


async def test_wrong_password_says_what_to_fix_and_leaks_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_sim("DEMO0001") as sim:
        from tests.adapters.tv_support import account_config

        wrong = "wrong-pass-8d1e"
        ctx = AdapterContext(secret={"tv1:password": wrong, "tv1:sec": SEC}.get)
        adapter = create_adapter(account_config(sim, "tv1", "DEMO0001"), ctx)
        with pytest.raises(AuthFailed) as info:
            await adapter.connect()
    text = str(info.value)
    assert "trader1" in text and "Incorrect username or password" in text and "copytui accounts add" in text
    assert wrong not in text + caplog.text and SEC not in text + caplog.text


async def test_missing_password_for_a_live_account_names_the_fix() -> None:
    adapter = create_adapter(
        AccountConfig(name="live1", broker="tradovate", environment="live", username="bob"), AdapterContext()
    )
    with pytest.raises(AuthFailed, match=r"no Tradovate password for account live1.*copytui accounts add live1"):
        await adapter.connect()


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"environment": "sim", "port": 1, "options": {"colour": "red"}}, "options.colour"),
        ({"environment": "sim"}, "needs port"),
        ({"environment": "demo"}, "needs username"),
        ({"environment": "sim", "port": 1, "options": {"contracts": "ES:ESZ5"}}, "ES=ESZ5"),
    ],
)
def test_config_problems_are_one_clear_line(fields: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigProblem, match=says):
        create_adapter(AccountConfig(name="x", broker="tradovate", **fields), AdapterContext())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("requestTimeoutS", "request_timeout_s"),
        ("orderTransport", "order_transport"),
        ("appId", "app_id"),
        ("renewMarginS", "renew_margin_s"),
    ],
)
def test_an_old_camel_case_option_is_refused_with_its_new_name(old: str, new: str) -> None:
    cfg = AccountConfig(name="x", broker="tradovate", environment="sim", port=1, options={old: "1"})
    with pytest.raises(ConfigProblem) as info:
        create_adapter(cfg, AdapterContext())
    assert str(info.value) == f"account x: options.{old} is now {new}: rename it in your config"
    with pytest.raises(ValidationError, match=f"options.{old} is now {new}"):
        TradovateOptions.model_validate({old: "1"})  # what reads the spec's options model gets too


def test_the_live_adapter_loads_neither_the_simulator_nor_the_paper_exchange() -> None:
    """Only ``host: embedded`` brings the in-process simulator, and only the factory loads it."""
    probe = (
        "import sys\n"
        "from adapters.base import AdapterContext\n"
        "from adapters.tradovate import create_adapter\n"
        "from copytui.config import AccountConfig\n"
        "create_adapter(AccountConfig(name='x', broker='tradovate', username='u'), AdapterContext())\n"
        "print(sorted(m for m in sys.modules if m.startswith(('adapters.paper', 'adapters.simkit', "
        "'adapters.tradovate.sim', 'adapters.tradovate.embedded', 'aiohttp.web'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


async def test_an_unknown_account_id_lists_the_accounts_there() -> None:
    async with running_sim("DEMO0001") as sim:
        cfg = AccountConfig(
            name="tv1",
            broker="tradovate",
            environment="sim",
            host="127.0.0.1",
            port=sim.port,
            username="trader1",
            account_id="DEMO9999",
        )
        adapter = create_adapter(cfg, AdapterContext(secret=secrets_for("tv1")))
        with pytest.raises(ConfigProblem, match=r"no account 'DEMO9999'; it has DEMO0001 \(id \d+\)"):
            await adapter.connect()


# ----------------------------------------------------------------------------- tokens mid-session
async def test_token_expiring_mid_session_loses_and_doubles_no_order(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_sim("DEMO0001", token_lifetime_s=0.8) as sim, venue_on(sim) as v:
        acks = []
        for i in range(5):  # two seconds: the token is renewed on the way, before it expires
            acks.append(await v.adapter.place(order(v.coid(f"exp{i}"))))
            await v.adapter.fills_since(None)  # a REST read with whatever token is current
            await asyncio.sleep(0.4)
        assert sim.renewals >= 1
        # the server now refuses every token and every renewal: REST logs in again by itself
        sim.expire_tokens()
        sim.faults.renew_fails = True
        logins = sim.logins
        await v.adapter.fills_since(None)
        assert sim.logins == logins + 1
        # the open socket stays authorized (as documented); a new one needs the new token
        acks.append(await v.adapter.place(order(v.coid("exp-socket"))))
        assert sim.drop_sockets("DEMO0001") == 1
        acks.append(await v.adapter.place(order(v.coid("exp-after-drop"))))
        assert [a.status for a in acks if a.status is OrderStatus.REJECTED] == []
        await v.until("7 fills", lambda: v.paper_position() == 7)
        assert all(len(v.paper_orders(a.client_order_id)) == 1 for a in acks)
        assert len(v.exchange.accounts["DEMO0001"].orders) == 7
        token = v.adapter.auth.token
    assert token is not None and token.value not in caplog.text
    assert PASSWORD not in caplog.text and SEC not in caplog.text


# ------------------------------------------------------------------------ rate limits and penalties
async def test_429_is_waited_out_and_the_order_sent_once() -> None:
    async with running_sim("DEMO0001") as sim, venue_on(sim) as v:
        coid = v.coid("429")
        sim.rate_limit(0.4)
        ack = await v.adapter.place(order(coid))
        assert ack.status is not OrderStatus.REJECTED, ack.reason
        assert sim.requests["order/placeorder"] >= 2  # refused at least once, then handled once
        await v.until("the fill", lambda: v.paper_position() == 1)
        assert len(v.paper_orders(coid)) == 1


async def test_429_longer_than_the_budget_is_rate_limited_and_not_sent() -> None:
    async with running_sim("DEMO0001") as sim, venue_on(sim, rate_limit_wait_s=0.3) as v:
        coid = v.coid("429-long")
        sim.rate_limit(30)
        with pytest.raises(RateLimited, match="not sent") as info:
            await v.adapter.place(order(coid))
        assert info.value.retry_after_s > 0
        with pytest.raises(RateLimited):
            await v.adapter.fills_since(None)  # reads say so too, at once
        sim.rate_limit(0)
        assert v.paper_orders(coid) == []


async def test_penalty_ticket_on_an_order_is_redeemed_and_the_order_made_once() -> None:
    async with running_sim("DEMO0001") as sim, venue_on(sim) as v:
        coid = v.coid("pticket")
        sim.penalize("order/placeorder", times=1, seconds=0.2)
        ack = await v.adapter.place(order(coid))
        assert ack.status is not OrderStatus.REJECTED, ack.reason
        assert sim.tickets_redeemed == 1
        (_, refused), (_, resent) = sim.order_bodies
        assert "p-ticket" not in refused and resent["p-ticket"] and resent["clOrdId"] == coid
        await v.until("the fill", lambda: v.paper_position() == 1)
        assert len(v.paper_orders(coid)) == 1


async def test_penalty_with_captcha_on_an_order_is_rate_limited() -> None:
    async with running_sim("DEMO0001") as sim, venue_on(sim) as v:
        sim.penalize("order/placeorder", times=1, seconds=0.1, captcha=True)
        with pytest.raises(RateLimited, match="captcha") as info:
            await v.adapter.place(order(v.coid("captcha")))
        assert info.value.retry_after_s == 3600.0
        assert v.exchange.accounts["DEMO0001"].orders == {}


# -------------------------------------------------------------------------- sockets and props
@pytest.mark.parametrize("mode", ["after", "before"])
async def test_socket_dropped_during_a_burst_misses_and_doubles_nothing(mode: str) -> None:
    async with running_sim("DEMO0001") as sim, venue_on(sim) as v:
        sim.faults.drop_after_requests, sim.faults.drop_mode = 7, mode  # type: ignore[assignment]
        burst = [order(v.coid(f"burst{i}")) for i in range(20)]
        acks = await asyncio.gather(*(v.adapter.place(o) for o in burst))
        assert [a.reason for a in acks if a.status is OrderStatus.REJECTED] == []
        assert v.adapter.health.reconnects >= 1
        await v.until("20 fills", lambda: v.paper_position() == 20)
        assert [len(v.paper_orders(o.client_order_id)) for o in burst] == [1] * 20
        assert len({a.broker_order_id for a in acks}) == 20
        assert v.exchange.duplicate_submissions("DEMO0001") == 0
        fills = [e for e in v.events if e.kind is EventKind.FILL]
        assert sorted(e.client_order_id or "" for e in fills) == sorted(o.client_order_id for o in burst)


async def test_shutdown_event_reconnects_and_keeps_trading() -> None:
    async with running_sim("DEMO0001") as sim, venue_on(sim) as v:
        sim.shutdown("Maintenance")
        await v.until("a reconnect", lambda: v.adapter.health.reconnects >= 1 and v.adapter.health.connected)
        ack = await v.adapter.place(order(v.coid("after-shutdown")))
        await v.wait_event("fill", v.of(EventKind.FILL, ack))


async def test_duplicated_and_reordered_props_give_each_event_once() -> None:
    async with running_sim("DEMO0001") as sim, venue_on(sim) as v:
        sim.faults.duplicate_props, sim.faults.reorder_props = 1.0, 0.4
        bid, _ = v.exchange.quote("ES")
        limit = await v.adapter.place(order(v.coid("dup-limit"), qty=3, order_type=OrderType.LIMIT, price=bid - 2))
        paper = v.paper_orders(limit.client_order_id)[0]
        v.exchange.fill("DEMO0001", paper.id, 1)
        v.exchange.fill("DEMO0001", paper.id, 2)
        market = await v.adapter.place(order(v.coid("dup-market"), qty=2))
        await v.wait_event("last limit fill", v.of(EventKind.FILL, limit, 3))
        await v.wait_event("market fill", v.of(EventKind.FILL, market, 2))
        await v.until("position 5", lambda: v.paper_position() == 5)
        await asyncio.sleep(0.05)
        fills = [e for e in v.events if e.kind is EventKind.FILL]
        assert sorted(e.cum_qty for e in fills) == [1, 2, 3] and len({e.fill_id for e in fills}) == 3
        news = [e for e in v.events if e.kind is EventKind.ORDER_NEW]
        assert len(news) == len({e.order_id for e in news})
        assert {p.symbol: p.qty for p in await v.adapter.positions()} == {"ES": 5}


async def test_malformed_frames_are_reported_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    async with running_sim("DEMO0001") as sim, venue_on(sim) as v:
        bad_fill = {"id": 1, "orderId": 2, "contractId": 3, "action": "Buy", "qty": -1, "price": 1.0}
        sim.inject("DEMO0001", "x-garbage")
        sim.inject(
            "DEMO0001",
            "a" + json.dumps([{"e": "props", "d": {"entityType": "fill", "eventType": "Created", "entity": bad_fill}}]),
        )
        sim.inject("DEMO0001", 'a[{"e":"props","d":{"entityType":"order"}}]')
        await v.until("three bad frames", lambda: v.adapter.bad_frames >= 3)
        assert "field 'qty'" in caplog.text and "unknown frame type" in caplog.text
        assert v.adapter.health.connected and "bad frame" in v.adapter.health.detail
        ack = await v.adapter.place(order(v.coid("still-alive")))
        await v.wait_event("fill after bad frames", v.of(EventKind.FILL, ack))


# ------------------------------------------------------------------------------- with the engine
async def test_engine_copies_a_tradovate_leader_through_duplicated_props_and_a_drop(tmp_path: Path) -> None:
    async with running_sim("DEMO0001", "DEMO0002") as sim:
        sim.faults.duplicate_props = 1.0
        x = sim.exchange
        x.account("paperf")
        leader = make_adapter(sim, "lead", "DEMO0001")
        tvf = follower_config(sim, "tvf", "DEMO0002")
        paperf = FollowerConfig(name="paperf", broker="paper")
        followers = [(tvf, make_adapter(sim, "tvf", "DEMO0002")), (paperf, PaperAdapter(x, "paperf"))]
        journal = Journal(tmp_path / "journal.sqlite3")
        engine = Engine(
            leader_cfg=AccountConfig(name="lead", broker="tradovate"),
            leader=leader,
            followers=followers,
            journal=journal,
            reconcile_interval_s=3600,
        )

        def pos(account: str) -> int:
            p = x.accounts[account].positions.get("ES")
            return p.qty if p else 0

        async def both(qty: int) -> None:
            deadline = time.monotonic() + 8
            while (pos("DEMO0002"), pos("paperf")) != (qty, qty):
                assert time.monotonic() < deadline, f"followers at {(pos('DEMO0002'), pos('paperf'))}, leader {qty}"
                await asyncio.sleep(0.01)

        await engine.start()
        try:
            sim.place_raw("DEMO0001", Side.BUY, 2, "ES")
            await both(2)
            assert sim.drop_sockets() == 2  # the leader's and the Tradovate follower's streams
            sim.place_raw("DEMO0001", Side.BUY, 1, "ES")  # filled while the leader's stream is down
            await both(3)
            sim.place_raw("DEMO0001", Side.SELL, 3, "ES")
            await both(0)
            assert await engine.drain(timeout_s=5)
        finally:
            await engine.stop(settle=False)
        rows = list(journal.db.execute("SELECT follower, status, send_count FROM intents WHERE action = 'place'"))
        journal.close()
    assert sorted((f, s) for f, s, _ in rows) == sorted([(f, "filled") for f in ("tvf", "paperf") for _ in range(3)])
    assert all(n == 1 for _, _, n in rows)
    assert len(x.accounts["DEMO0002"].orders) == 3 and len(x.accounts["paperf"].orders) == 3
    assert x.duplicate_submissions("DEMO0002") == 0


# ------------------------------------------------------------------ end to end, from a config file
CONFIG = """
leader:
  name: lead
  broker: tradovate
  environment: sim
  host: 127.0.0.1
  port: {port}
  username: trader1
  account_id: DEMO0001
followers:
  - name: tvf
    broker: tradovate
    environment: sim
    host: 127.0.0.1
    port: {port}
    username: trader2
    account_id: DEMO0002
    multiplier: 2
  - name: papf
    broker: paper
reconcile:
  interval_s: 1
"""


class Trader:
    """A script playing the leader through the simulator's REST API, as a trading platform would."""

    def __init__(self, base: str, user: str) -> None:
        self.base, self.user = base, user
        self.http = aiohttp.ClientSession()
        self.headers: dict[str, str] = {}

    async def call(self, method: str, path: str, **kw: object) -> object:
        async with self.http.request(method, f"{self.base}/{path}", headers=self.headers, **kw) as r:  # type: ignore[arg-type]
            assert r.status == 200, await r.text()
            return await r.json()

    async def login(self) -> None:
        tok = await self.call(
            "POST",
            "auth/accesstokenrequest",
            json={"name": self.user, "password": "demo", "appId": "script", "appVersion": "1", "cid": 0, "sec": "demo"},
        )
        self.headers = {"Authorization": f"Bearer {tok['accessToken']}"}  # type: ignore[index]
        [self.account] = await self.call("GET", "account/list")  # type: ignore[misc]
        self.contract = (await self.call("GET", "contract/suggest", params={"t": "ES", "l": 1}))[0]["name"]  # type: ignore[index]

    async def market(self, action: str, qty: int) -> int:
        body = {
            "accountSpec": self.account["name"],
            "accountId": self.account["id"],
            "action": action,
            "symbol": self.contract,
            "orderQty": qty,
            "orderType": "Market",
            "isAutomated": False,
        }
        answer = await self.call("POST", "order/placeorder", json=body)
        return answer["orderId"]  # type: ignore[index]

    async def net(self) -> int:
        return sum(p["netPos"] for p in await self.call("GET", "position/list"))  # type: ignore[union-attr,index]


def _start(args: list[str], **kw: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "copytui.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        **kw,
    )  # type: ignore[call-overload]


async def _line(proc: subprocess.Popen[str], pattern: str, timeout: float = 15.0) -> re.Match[str]:
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


async def test_standalone_simulator_leader_copies_to_paper_and_tradovate_followers(tmp_path: Path) -> None:
    sim = _start(["sim", "tradovate", "--port", "0", "--accounts", "2", "--seed", "3"])
    run = None
    try:
        port = int((await _line(sim, r"listening on http://127\.0\.0\.1:(\d+)/v1"))[1])
        await _line(sim, r"username trader2\s+account_id DEMO0002")
        config = tmp_path / "copytui.yaml"
        config.write_text(CONFIG.format(port=port))
        assert load_config(config).followers[0].broker == "tradovate"
        journal = tmp_path / "journal.sqlite3"
        run = _start(
            ["run", "--config", str(config), "--headless", "--duration", "4", "--journal", str(journal)], cwd=tmp_path
        )
        await _line(run, r'copytui: copying leader "lead" \(tradovate\) to 2 followers')
        leader = Trader(f"http://127.0.0.1:{port}/v1", "trader1")
        follower = Trader(f"http://127.0.0.1:{port}/v1", "trader2")
        try:
            await leader.login()
            await follower.login()
            await leader.market("Buy", 2)
            deadline = time.monotonic() + 10
            while await follower.net() != 4:
                assert time.monotonic() < deadline, "the Tradovate follower never reached 4 (2 x leader)"
                await asyncio.sleep(0.05)
            await leader.market("Sell", 1)
            while await follower.net() != 2:
                assert time.monotonic() < deadline, "the Tradovate follower never came back to 2"
                await asyncio.sleep(0.05)
        finally:
            await leader.http.close()
            await follower.http.close()
        out, _ = await asyncio.to_thread(run.communicate, timeout=20)
        assert run.returncode == 0, out
    finally:
        for proc in (run, sim):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    await asyncio.to_thread(proc.wait, timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    s = await summary(journal)
    assert (s["follower_orders"], s["rejects"], s["duplicate_orders"], s["unresolved"]) == (4, 0, 0, 0), s
    assert s["fills"] == 4 and set(s["latency_ms"]) == {"tvf", "papf"}
    assert "tvf" in out and "papf" in out


async def test_embedded_simulator_lets_the_demo_run_the_real_adapter(tmp_path: Path) -> None:
    """What the demo gets with one follower `broker: tradovate, host: embedded` (no runtime change)."""
    from copytui.config import parse_config
    from copytui.runtime import build_runtime

    cfg = parse_config(
        "leader: {name: leader, broker: paper}\n"
        "followers:\n"
        "  - {name: alpha, broker: paper}\n"
        "  - {name: tango, broker: tradovate, host: embedded, faults: {partial_fill_prob: 0.3}}\n"
        "paper: {seed: 4, tick_interval_s: 0.05}\n"
    )
    rt = build_runtime(cfg, demo=True, seed=4, journal_path=tmp_path / "journal.sqlite3")
    assert rt.trader is not None
    rt.trader.pace_s = (0.02, 0.06)
    await rt.start()
    tango = rt.engine.followers["tango"]
    try:
        assert tango.adapter.broker == "tradovate" and tango.adapter.health.state == "connected"
        deadline = time.monotonic() + 10
        while tango.stats.fills < 4:
            assert time.monotonic() < deadline, "the embedded Tradovate follower never filled"
            await asyncio.sleep(0.05)
    finally:
        await rt.stop()
    s = await summary(tmp_path / "journal.sqlite3")
    assert s["duplicate_orders"] == 0 and s["unresolved"] == 0, s
    assert s["latency_ms"]["tango"]["n"] >= 1
    from adapters.tradovate.embedded import simulator_for

    assert simulator_for(rt.exchange) is None  # stopped with the last adapter


async def test_heartbeats_go_out_and_a_silent_socket_is_reopened() -> None:
    async with (
        running_sim("DEMO0001", heartbeat_s=60.0) as sim,
        venue_on(sim, heartbeat_s=0.05, idle_timeout_s=0.4) as v,
    ):
        await v.until("client heartbeats", lambda: sim.heartbeats >= 3)
        # the server says nothing for longer than idle_timeout_s: the adapter treats the socket as dead
        await v.until("a reconnect after silence", lambda: v.adapter.health.reconnects >= 1, timeout=3)
        assert "no frame" in v.adapter.health.detail or v.adapter.health.connected
        ack = await v.adapter.place(order(v.coid("after-silence")))
        await v.wait_event("fill", v.of(EventKind.FILL, ack))


async def test_sync_request_accounts_form() -> None:
    async with running_sim("DEMO0001") as sim, venue_on(sim, sync_request="accounts") as v:
        ack = await v.adapter.place(order(v.coid("accounts-form")))
        await v.wait_event("fill", v.of(EventKind.FILL, ack))
        assert sim.requests["user/syncrequest"] == 1


async def test_no_answer_is_ambiguous_and_resolved_by_asking_not_by_resending() -> None:
    from adapters.base import AmbiguousOutcome

    async with running_sim("DEMO0001") as sim, venue_on(sim, request_timeout_s=0.15) as v:
        coid = v.coid("slow")
        v.exchange.accounts["DEMO0001"].faults.latency_ms = 800  # the broker sits on it for 0.4 s
        with pytest.raises(AmbiguousOutcome, match="no answer"):
            await v.adapter.place(order(coid))
        v.exchange.accounts["DEMO0001"].faults.latency_ms = 0
        info = await v.until("the broker to know it", lambda: v.adapter.find_order(coid))
        assert info.client_order_id == coid and info.filled_qty == 1
        again = await v.adapter.place(order(coid))  # what a careless retry would do: no second order
        assert again.broker_order_id == info.broker_order_id
        assert len(v.paper_orders(coid)) == 1


def test_events_wait_for_an_unknown_contract_and_are_then_released() -> None:
    book = AccountBook("A25", 25)
    assert (
        book.apply("order", {"id": 7, "accountId": 25, "contractId": ES, "action": "Sell", "ordStatus": "Working"})
        == []
    )
    assert book.apply("orderVersion", {"id": 1, "orderId": 7, "orderQty": 1, "orderType": "Limit", "price": 5001}) == []
    fill = {"id": 30, "orderId": 7, "contractId": ES, "action": "Sell", "qty": 1, "price": 5001.0}
    assert book.apply("fill", fill) == []
    released = book.apply("contract", {"id": ES, "name": "ESZ6"})
    assert [(e.kind, e.symbol, e.cum_qty) for e in released] == [
        (EventKind.ORDER_NEW, "ES", 0),
        (EventKind.FILL, "ES", 1),
    ]
