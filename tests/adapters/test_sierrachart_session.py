"""Sierra Chart over real loopback sockets: what the adapter writes (field by field, against the
message definitions), the logon and its refusals (a binary server, trading not allowed, a wrong
password, an unknown trade account), LOGOFF, reconnects with gap recovery, bad messages, duplicated
and reordered ORDER_UPDATEs, server-side rejects with the server's text, and ambiguous orders
resolved by asking, never by sending again."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys

import pytest

from adapters.base import AdapterContext, AmbiguousOutcome, AuthFailed, BrokerError
from adapters.kit.conformance import Venue
from adapters.sierrachart import create_adapter
from adapters.sierrachart.link import EncodingRefused, TradingNotAllowed
from adapters.sierrachart.wire import FIELDS, Msg
from copytui.config import AccountConfig
from copytui.models import EventKind, FollowerOrder, OrderAction, OrderStatus, OrderType, Side
from tests.adapters.sierrachart_support import PASSWORD, account_config, make_adapter, running_sim, until


def order(coid: str, side: Side = Side.BUY, qty: int = 1, **kw: object) -> FollowerOrder:
    return FollowerOrder(
        follower="sc", signal_id=f"s-{coid}", client_order_id=coid, action=OrderAction.PLACE, symbol="ES",
        side=side, qty=qty, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def venue_on(sim, account: str = "Sim1", **options: object):  # type: ignore[no-untyped-def]
    return Venue.open(sim.exchange, account, lambda: make_adapter(sim, "sc1", account, **options), lambda: None)


# ------------------------------------------------------------------ what goes on the wire
async def test_every_message_sent_is_a_dtc_structure_with_the_documented_fields() -> None:
    async with running_sim("Sim1") as sim, venue_on(sim) as v:
        bid, _ = v.exchange.quote("ES")
        limit = order(v.coid("lim"), order_type=OrderType.LIMIT, price=bid - 5)
        ack = await v.adapter.place(limit)
        await v.adapter.modify(v.change(OrderAction.MODIFY, limit, ack.broker_order_id, price=bid - 6, qty=2))
        await v.adapter.cancel(v.change(OrderAction.CANCEL, limit, ack.broker_order_id, qty=0))
        stop_limit = order(v.coid("sl"), Side.SELL, order_type=OrderType.STOP_LIMIT, stop_price=bid - 8, price=bid - 9)
        await v.adapter.place(stop_limit)
        await v.adapter.place(order(v.coid("mkt"), qty=2))
        await v.until("long 2", lambda: v.paper_position() == 2)
        await v.adapter.flatten()
        await v.until("flat", lambda: v.paper_position() == 0)
    for msg in sim.messages:
        assert set(msg) - {"Type"} <= set(FIELDS[msg["Type"]]), msg
    logon = next(x for x in sim.messages if x["Type"] == Msg.LOGON_REQUEST)
    assert (logon["ProtocolVersion"], logon["TradeAccount"], logon["HeartbeatIntervalInSeconds"]) == (8, "Sim1", 10)
    by_type = [(x["Type"], x) for x in sim.order_requests]
    place, modify, cancel, sl, mkt, cancel_sl, flatten = (x for _, x in by_type)
    assert [t for t, _ in by_type] == [208, 204, 203, 208, 208, 203, 209]
    assert place == {
        "Type": 208, "Symbol": sim.contracts["ES"], "Exchange": "", "TradeAccount": "Sim1",
        "ClientOrderID": limit.client_order_id, "OrderType": 2, "BuySell": 1, "Price1": bid - 5, "Quantity": 1,
        "TimeInForce": 1, "IsAutomatedOrder": 1,
    }  # fmt: skip
    assert modify == {
        "Type": 204, "ServerOrderID": ack.broker_order_id, "ClientOrderID": limit.client_order_id,
        "Price1": bid - 6, "Price1IsSet": 1, "Price2IsSet": 0, "Quantity": 2,
    }  # fmt: skip
    assert cancel == {"Type": 203, "ServerOrderID": ack.broker_order_id, "ClientOrderID": limit.client_order_id}
    assert (sl["OrderType"], sl["BuySell"], sl["Price1"], sl["Price2"]) == (4, 2, bid - 8, bid - 9)
    assert (mkt["OrderType"], mkt["Quantity"]) == (1, 2) and "Price1" not in mkt
    assert cancel_sl["ClientOrderID"] == stop_limit.client_order_id
    assert set(flatten) == {"Type", "Symbol", "Exchange", "TradeAccount", "ClientOrderID", "IsAutomatedOrder"}
    requests = {x["Type"] for x in sim.messages}
    assert {Msg.TRADE_ACCOUNTS_REQUEST, Msg.OPEN_ORDERS_REQUEST, Msg.HISTORICAL_ORDER_FILLS_REQUEST,
            Msg.CURRENT_POSITIONS_REQUEST} <= requests  # fmt: skip


async def test_balance_is_read_with_account_balance_request() -> None:
    async with running_sim("Sim1") as sim, venue_on(sim) as v:
        balance = await v.adapter.balance()  # type: ignore[attr-defined]
        assert (balance.trade_account, balance.cash_balance, balance.currency) == ("Sim1", 50_000.0, "USD")


# ------------------------------------------------------------------ logon and its refusals
async def test_a_login_and_its_password_never_reach_a_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_sim("Sim1", users={"trader": PASSWORD}) as sim:
        good = create_adapter(
            account_config(sim, "sc1", "Sim1", username="trader"), AdapterContext(secret={"sc1:password": PASSWORD}.get)
        )
        await good.connect()
        await good.disconnect()
        wrong = "wrong-pass-e71c"
        bad = create_adapter(
            account_config(sim, "sc2", "Sim1", username="trader"), AdapterContext(secret={"sc2:password": wrong}.get)
        )
        with pytest.raises(AuthFailed) as refused:
            await bad.connect()
    text = str(refused.value)
    assert "Invalid username or password" in text and "copytui accounts add sc2" in text
    assert bad.health.state == "auth failed"
    assert PASSWORD not in caplog.text + text and wrong not in caplog.text + text
    assert all(x.get("Password") in (None, "***") for x in sim.messages)


@pytest.mark.parametrize("negotiate", [False, True])
async def test_a_server_not_on_json_encoding_is_refused_with_what_to_change(negotiate: bool) -> None:
    async with running_sim("Sim1", encoding="binary") as sim:
        adapter = make_adapter(sim, "sc1", "Sim1", encoding_request=negotiate)
        with pytest.raises(EncodingRefused, match=r"set the DTC server's encoding to JSON.*Encoding: JSON"):
            await adapter.connect()
        assert "encoding" in adapter.health.detail


async def test_encoding_request_to_a_json_server_then_trades() -> None:
    async with running_sim("Sim1") as sim, venue_on(sim, encoding_request=True) as v:
        ack = await v.adapter.place(order(v.coid("negotiated")))
        await v.wait_event("fill", v.of(EventKind.FILL, ack))


async def test_trading_not_allowed_says_where_to_allow_it() -> None:
    async with running_sim("Sim1", allow_trading=False) as sim:
        with pytest.raises(TradingNotAllowed, match="Allow Trading"):
            await make_adapter(sim, "sc1", "Sim1").connect()


async def test_trade_accounts_are_checked_and_adopted() -> None:
    async with running_sim("Sim1", "Sim2") as sim:
        with pytest.raises(BrokerError, match=r"no trade account 'Sim9'; it has Sim1, Sim2"):
            await make_adapter(sim, "sc1", "Sim9").connect()
        cfg = account_config(sim, "sc1", "Sim1").model_copy(update={"account_id": None})
        with pytest.raises(BrokerError, match="2 trade accounts .*set account_id"):
            await create_adapter(cfg, AdapterContext()).connect()
        spelled = make_adapter(sim, "sc1", "sim2")
        await spelled.connect()
        try:
            assert spelled.account_key == f"sierrachart-127.0.0.1:{sim.port}-Sim2"
        finally:
            await spelled.disconnect()
    async with running_sim("Solo") as sim:
        cfg = account_config(sim, "sc1", "Solo").model_copy(update={"account_id": None})
        only = create_adapter(cfg, AdapterContext())
        await only.connect()
        assert only.account_key.endswith("-Solo")
        await only.disconnect()


def test_config_problems_are_one_line() -> None:
    cfg = AccountConfig(name="x", broker="sierrachart", options={"colour": "red"})
    with pytest.raises(
        ValueError, match=r"account x: unknown Sierra Chart option\(s\) colour; known: connect_timeout_s, contracts"
    ):
        create_adapter(cfg, AdapterContext())
    cfg = AccountConfig(name="x", broker="sierrachart", options={"heartbeat_interval_s": 0})
    with pytest.raises(ValueError, match="options.heartbeat_interval_s: .*positive whole number"):
        create_adapter(cfg, AdapterContext())


def test_the_live_adapter_loads_neither_the_simulator_nor_the_paper_exchange() -> None:
    probe = (
        "import sys\n"
        "from adapters.base import AdapterContext\n"
        "from adapters.sierrachart import create_adapter\n"
        "from copytui.config import AccountConfig\n"
        "create_adapter(AccountConfig(name='x', broker='sierrachart'), AdapterContext())\n"
        "print(sorted(m for m in sys.modules if m.startswith(('adapters.paper', 'adapters.simkit', "
        "'adapters.sierrachart.sim'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------------ the session going and coming back
async def test_logoff_reconnects_and_keeps_trading_and_do_not_reconnect_stops() -> None:
    async with running_sim("Sim1") as sim, venue_on(sim) as v:
        assert sim.logoff("Server maintenance") == 1
        await v.until("a reconnect", lambda: v.adapter.health.reconnects >= 1 and v.adapter.health.connected)
        ack = await v.adapter.place(order(v.coid("after-logoff")))
        await v.wait_event("fill", v.of(EventKind.FILL, ack))
        sim.logoff("Sierra Chart is closing", do_not_reconnect=True)
        await v.until("stopped", lambda: v.adapter.health.state == "stopped")
        assert "Sierra Chart is closing" in v.adapter.health.detail


async def test_heartbeats_go_out_and_a_silent_server_is_left_and_reopened() -> None:
    async with running_sim("Sim1") as sim, venue_on(sim, heartbeat_interval_s=1, idle_timeout_s=1.5) as v:
        await v.until("a client heartbeat", lambda: sim.received[Msg.HEARTBEAT] >= 1)
        sim.heartbeats = False
        await v.until("a reconnect after silence", lambda: v.adapter.health.reconnects >= 1)
        sim.heartbeats = True
        ack = await v.adapter.place(order(v.coid("after-silence")))
        await v.wait_event("fill", v.of(EventKind.FILL, ack))


async def test_orders_changed_while_away_are_reported_after_the_missed_fills() -> None:
    async with running_sim("Sim1") as sim, venue_on(sim) as v:
        bid, _ = v.exchange.quote("ES")
        resting = await v.adapter.place(order(v.coid("rest"), qty=2, order_type=OrderType.LIMIT, price=bid - 10))
        doomed = await v.adapter.place(order(v.coid("doomed"), order_type=OrderType.LIMIT, price=bid - 12))
        await v.wait_event("new", v.of(EventKind.ORDER_NEW, doomed))
        mark = len(v.events)
        assert sim.drop_sockets("Sim1") == 1
        x = v.exchange
        x.fill("Sim1", resting.broker_order_id or "", 1)
        x.cancel("Sim1", doomed.broker_order_id or "")
        sim.place_raw("Sim1", Side.SELL, 1)
        await v.until("a reconnect", lambda: v.adapter.health.reconnects >= 1 and v.adapter.health.connected)
        await v.wait_event("the resting order's fill", v.of(EventKind.FILL, resting, 1), since=mark)
        await v.wait_event("the cancel", v.of(EventKind.ORDER_CANCELLED, doomed), since=mark)
        kinds = [e.kind for e in v.events[mark:]]
        assert kinds.index(EventKind.FILL) < kinds.index(EventKind.ORDER_CANCELLED)
        assert v.adapter.resyncs == 1  # type: ignore[attr-defined]
        await v.until("position 0", lambda: v.paper_position() == 0)


# ------------------------------------------------------------------ bad, repeated and reordered messages
async def test_bad_messages_are_counted_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    async with running_sim("Sim1") as sim, venue_on(sim) as v:
        sim.inject("Sim1", b"not json\x00[1,2]\x00")
        sim.say("Sim1", Msg.ORDER_UPDATE, {"ServerOrderID": "1", "Symbol": "ESZ25", "OrderQuantity": 1.5})
        sim.say(
            "Sim1", Msg.POSITION_UPDATE, {"Symbol": "AAPL", "Quantity": 3, "TradeAccount": "Sim1", "Unsolicited": 1}
        )
        sim.say("Sim1", Msg.USER_MESSAGE, {"UserMessage": "Trading is disabled for this account"})
        await v.until("four drops", lambda: v.adapter.health.dropped >= 4)
        assert "not JSON" in caplog.text and "'OrderQuantity'" in caplog.text and "'AAPL'" in caplog.text
        await v.until("the user message", lambda: "Trading is disabled" in caplog.text)
        sim.say("Sim1", Msg.ORDER_UPDATE, {"ServerOrderID": "2", "Symbol": "ESZ25", "TradeAccount": "Sim2"})
        ack = await v.adapter.place(order(v.coid("still-alive")))
        await v.wait_event("fill after bad messages", v.of(EventKind.FILL, ack))
        assert v.adapter.health.dropped == 4 and v.adapter.health.connected


async def test_duplicated_and_reordered_updates_give_each_fill_once() -> None:
    async with running_sim("Sim1") as sim, venue_on(sim) as v:
        faults = v.exchange.accounts["Sim1"].faults
        faults.duplicate_prob, faults.reorder_prob = 1.0, 0.4
        bid, _ = v.exchange.quote("ES")
        limit = await v.adapter.place(order(v.coid("dup-limit"), qty=3, order_type=OrderType.LIMIT, price=bid - 2))
        paper = v.paper_orders(limit.client_order_id)[0]
        v.exchange.fill("Sim1", paper.id, 1)
        v.exchange.fill("Sim1", paper.id, 2)
        market = await v.adapter.place(order(v.coid("dup-market"), qty=2))
        v.exchange.flush_held("Sim1")
        await v.wait_event("last limit fill", v.of(EventKind.FILL, limit, 3))
        await v.wait_event("market fill", v.of(EventKind.FILL, market, 2))
        for ack, qty in ((limit, 3), (market, 2)):
            fills = [e for e in v.events if e.kind is EventKind.FILL and e.order_id == ack.broker_order_id]
            assert sum(e.fill_qty for e in fills) == qty
            assert [e.cum_qty for e in fills] == sorted({e.cum_qty for e in fills})
        news = [e for e in v.events if e.kind is EventKind.ORDER_NEW]
        assert len(news) == len({e.order_id for e in news})
        assert {p.symbol: p.qty for p in await v.adapter.positions()} == {"ES": 5}


# ------------------------------------------------------------------ rejects and ambiguity
async def test_server_side_rejects_come_back_with_the_servers_text() -> None:
    async with running_sim("Sim1") as sim, venue_on(sim, contracts="ES=ESZ99_NOPE, MES=" + sim.contracts["MES"]) as v:
        ack = await v.adapter.place(order(v.coid("bad-symbol")))
        assert ack.status is OrderStatus.REJECTED and "unknown symbol 'ESZ99_NOPE'" in (ack.reason or "")
        unmapped = await v.adapter.place(order(v.coid("nq")).model_copy(update={"symbol": "NQ"}))
        assert unmapped.status is OrderStatus.REJECTED and "not sent" in (unmapped.reason or "")
        assert "options.contracts" in (unmapped.reason or "")
        [refused] = [e for e in sim.audit.entries if e.outcome == "refused"]
        assert refused.action == "SUBMIT_NEW_SINGLE_ORDER" and "unknown symbol" in refused.reason


async def test_no_answer_is_ambiguous_and_resolved_by_asking_not_by_sending_again() -> None:
    async with running_sim("Sim1") as sim, venue_on(sim, order_timeout_s=0.15) as v:
        coid = v.coid("slow")
        v.exchange.accounts["Sim1"].faults.latency_ms = 600
        with pytest.raises(AmbiguousOutcome, match="no ORDER_UPDATE"):
            await v.adapter.place(order(coid))
        v.exchange.accounts["Sim1"].faults.latency_ms = 0
        info = await v.until("the broker to know it", lambda: v.adapter.find_order(coid))
        assert info.client_order_id == coid and info.filled_qty == 1
        again = await v.adapter.place(order(coid))
        assert again.broker_order_id == info.broker_order_id
        assert len(v.paper_orders(coid)) == 1 and sim.received[Msg.SUBMIT_NEW_SINGLE_ORDER] == 1


async def test_an_answer_lost_with_the_connection_is_resolved_by_the_accounts_fills() -> None:
    """The server read the order, then the connection dropped before its answer: after the reconnect
    the adapter finds it by its fills (DTC's fills carry no ClientOrderID) and never makes a second order."""
    async with running_sim("Sim1") as sim, venue_on(sim) as v:
        coid = v.coid("lost")
        v.exchange.accounts["Sim1"].faults.latency_ms = 300
        placing = asyncio.ensure_future(v.adapter.place(order(coid, Side.SELL, qty=2)))
        await until("the order to reach the server", lambda: sim.received[Msg.SUBMIT_NEW_SINGLE_ORDER] == 1)
        sim.drop_sockets("Sim1")
        try:  # answered after the reconnect, or ambiguous: which, depends on how fast the server was
            answered = (await placing).broker_order_id
        except AmbiguousOutcome:
            answered = None
        v.exchange.accounts["Sim1"].faults.latency_ms = 0
        await v.until("the order to be filled", lambda: v.paper_position() == -2)
        info = await v.until("the order found by its fills", lambda: v.adapter.find_order(coid))
        assert (info.filled_qty, info.side, info.broker_order_id) == (2, Side.SELL, v.paper_orders(coid)[0].id)
        assert answered in (None, info.broker_order_id)
        assert (await v.adapter.place(order(coid, Side.SELL, qty=2))).broker_order_id == info.broker_order_id
        assert len(v.paper_orders(coid)) == 1 and v.exchange.duplicate_submissions("Sim1") == 0


async def test_an_order_written_to_a_dead_connection_is_sent_once_it_is_back() -> None:
    async with running_sim("Sim1") as sim, venue_on(sim) as v:
        assert sim.drop_sockets("Sim1") == 1  # the adapter has not noticed yet
        ack = await v.adapter.place(order(v.coid("after-drop"), qty=3))
        assert ack.status is OrderStatus.WORKING and v.adapter.health.reconnects >= 1
        await v.until("the fill", lambda: v.paper_position() == 3)
        assert len(v.paper_orders(ack.client_order_id)) == 1
