"""The Rithmic adapter's session over real sockets: logins refused with Rithmic's text, one session
per user shared by its accounts, ambiguous orders found again by user_tag and never resent,
ForcedLogout waited out once then obeyed, silence noticed, frames refused at the edge, and what
happened while the session was down delivered in order after it came back."""

from __future__ import annotations

import asyncio
import logging

import pytest

from adapters.base import AmbiguousOutcome, AuthFailed, BrokerError, Disconnected, HealthState
from adapters.rithmic import proto
from adapters.rithmic.enums import ExchangeNotify, InfraType
from adapters.rithmic.messages import RequestFrontMonthContract, RequestLogin
from adapters.rithmic.order_messages import ExchangeOrderNotification
from adapters.rithmic.simulator import RithmicSimulator
from copytui.models import EventKind, OrderAction, OrderStatus, OrderType, Side
from tests.adapters.rithmic_support import PASSWORD, USER, connected, make_adapter, order, simulator, until


async def _filled(collector, coid: str, qty: int) -> None:  # type: ignore[no-untyped-def]
    await until(
        lambda: any(
            e.kind is EventKind.FILL and e.client_order_id == coid and e.cum_qty == qty for e in collector.events
        ),
        what=f"{coid} filled {qty}",
    )


# ----------------------------------------------------------------------------- logins and accounts


async def test_a_refused_login_is_auth_failed_with_rithmics_text_and_no_password(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    async with simulator() as sim:
        adapter = make_adapter(sim, password="not-the-password")
        with pytest.raises(AuthFailed) as refused:
            await adapter.connect()
        assert "Rithmic refused the order plant login of trader1 to 'Rithmic Test'" in str(refused.value)
        assert "login failed" in str(refused.value)
        assert adapter.health.state is HealthState.AUTH_FAILED
        await adapter.disconnect()
        async with connected(sim) as (ok, _):
            assert ok.health.connected
    for text in (caplog.text, str(refused.value), adapter.health.detail):
        assert PASSWORD not in text and "not-the-password" not in text
    shown = repr(RequestLogin(user=USER, password=PASSWORD))  # a login request in a traceback or a log
    assert PASSWORD not in shown and "user='trader1'" in shown


async def test_the_account_is_one_of_the_logins_or_the_only_one() -> None:
    async with simulator() as sim:
        adapter = make_adapter(sim, account_id="RSIM-9999")
        with pytest.raises(BrokerError, match="'RSIM-9999' is not among the accounts of trader1.*RSIM-1001, RSIM-1002"):
            await adapter.connect()
        await adapter.disconnect()
        two = make_adapter(sim, account_id=None)
        with pytest.raises(BrokerError, match="has 2 Rithmic accounts.*set account_id"):
            await two.connect()
        await two.disconnect()
        await until(lambda: not sim.sessions(), what="the unused login logged out")
    async with simulator(accounts=["ONLY-1"]) as sim, connected(sim, account_id=None) as (one, _):
        assert one.account_id == "ONLY-1" and one.account_key.endswith("-SimIB-ONLY-1")


async def test_accounts_of_one_user_share_one_session_and_each_gets_its_own_events() -> None:
    async with simulator(max_sessions=1) as sim:
        async with connected(sim, "r1", "RSIM-1001") as (a, ca), connected(sim, "r2", "RSIM-1002") as (b, cb):
            assert a.session is b.session
            plants = (InfraType.ORDER_PLANT, InfraType.TICKER_PLANT, InfraType.PNL_PLANT)
            assert sorted(sim.logins) == sorted((USER, p) for p in plants)  # one login per plant for both
            await a.place(order("one", "r1"))
            await b.place(order("two", "r2", side=Side.SELL, qty=2))
            await _filled(ca, "one", 1)
            await _filled(cb, "two", 2)
            assert {e.client_order_id for e in ca.events if e.client_order_id} == {"one"}
            assert {e.client_order_id for e in cb.events if e.client_order_id} == {"two"}
            assert a.account_key != b.account_key
        # the first adapter out kept the session for the other; the last one logged out
        assert not sim.sessions(InfraType.ORDER_PLANT)


# ----------------------------------------------------------------------------- orders


async def test_the_new_order_frame_carries_the_account_route_contract_and_auto() -> None:
    async with simulator() as sim, connected(sim) as (adapter, _):
        bid, _ = sim.exchange.quote("NQ")
        await adapter.place(order("w1", symbol="NQ", order_type=OrderType.STOP_LIMIT, side=Side.SELL,
                                  price=bid - 3, stop_price=bid - 2, qty=3))  # fmt: skip
        [entry] = sim.audit.entries
        got = entry.request
        assert got is not None
        front = sim.desk.contract("NQ")
        assert (got["user_tag"], got["account_id"], got["symbol"], got["exchange"]) == (
            "w1",
            "RSIM-1001",
            front.symbol,
            "CME",
        )
        assert (got["fcm_id"], got["ib_id"], got["trade_route"]) == (sim.desk.fcm_id, "SimIB", "simulator")
        assert (
            got["quantity"],
            got["transaction_type"],
            got["price_type"],
            got["duration"],
            got["manual_or_auto"],
        ) == (3, 2, 3, 1, 2)
        assert (got["price"], got["trigger_price"]) == (bid - 3, bid - 2)


async def test_a_refusal_is_a_rejected_ack_with_the_text_and_nothing_placed() -> None:
    async with simulator() as sim, connected(sim) as (adapter, _):
        sim.refuse_orders = 1
        ack = await adapter.place(order("no1"))
        assert ack.status is OrderStatus.REJECTED and "refuse_orders" in (ack.reason or "")
        assert sim.exchange.accounts["RSIM-1001"].orders == {}
        again = await adapter.place(order("no1"))
        assert again == ack  # the same id is never sent twice in a session
        assert [e.outcome for e in sim.audit.entries] == ["refused"]
        missing = await adapter.place(order("no2", symbol="MGC", order_type=OrderType.LIMIT))
        assert missing.status is OrderStatus.REJECTED and "needs a limit price" in (missing.reason or "")


async def test_no_answer_is_ambiguous_then_found_by_user_tag_and_never_resent() -> None:
    async with simulator() as sim, connected(sim, order_timeout_s=0.3) as (adapter, coll):
        sim.stall_answers_s = 1.0
        with pytest.raises(AmbiguousOutcome, match="did not answer new order slow1"):
            await adapter.place(order("slow1", qty=2))
        sim.stall_answers_s = 0.0
        await _filled(coll, "slow1", 2)
        info = await adapter.find_order("slow1")
        assert info is not None and info.filled_qty == 2 and info.status is OrderStatus.FILLED
        assert len([o for o in sim.exchange.accounts["RSIM-1001"].orders.values() if o.client_order_id == "slow1"]) == 1


async def test_a_socket_lost_after_the_write_is_ambiguous_and_the_order_is_found_after_reconnect() -> None:
    async with simulator() as sim, connected(sim) as (adapter, coll):
        before = adapter.health.reconnects
        sim.drop_after_orders = 1
        bid, _ = sim.exchange.quote("ES")
        with pytest.raises(AmbiguousOutcome, match="lost after new order cut1 was sent"):
            await adapter.place(order("cut1", order_type=OrderType.LIMIT, price=bid - 10))
        await until(lambda: adapter.health.reconnects > before and adapter.health.connected, what="reconnect")
        info = await adapter.find_order("cut1")
        assert info is not None and info.status is OrderStatus.WORKING and info.price == bid - 10
        # the order made while the session was down is news after it came back
        assert [e.kind for e in coll.events if e.client_order_id == "cut1"] == [EventKind.ORDER_NEW]
        assert sim.exchange.duplicate_submissions("RSIM-1001") == 0


async def test_a_session_down_before_the_write_is_disconnected_and_nothing_is_sent() -> None:
    async with simulator() as sim, connected(sim, reconnect_delay_s=30.0) as (adapter, _):
        sim.drop_sockets("RSIM-1001")
        await until(lambda: adapter.health.state is HealthState.RECONNECTING, what="the session to drop")
        with pytest.raises(Disconnected):
            await adapter.place(order("down1"))
        with pytest.raises(Disconnected):
            await adapter.positions()
        assert sim.audit.entries == []


# ----------------------------------------------------------------------------- session upkeep


async def test_forced_logout_is_waited_out_once_then_a_second_one_stops() -> None:
    async with simulator() as sim, connected(sim, forced_logout_wait_s=0.2) as (adapter, coll):
        assert sim.forced_logout(USER) == 2
        await until(lambda: adapter.health.state is HealthState.RECONNECTING, what="forced out")
        assert "ForcedLogout" in adapter.health.detail
        await until(lambda: adapter.health.connected and adapter.health.reconnects == 1, what="logged in again")
        await adapter.place(order("after-forced"))
        await _filled(coll, "after-forced", 1)
        sim.forced_logout(USER)
        await until(lambda: adapter.health.state is HealthState.STOPPED, what="stopped")
        assert "forced trader1 out twice" in adapter.health.detail and "does not" not in adapter.health.detail
        await asyncio.sleep(0.4)  # longer than the wait: a stopped session does not log in again
        assert not sim.sessions() and adapter.health.state is HealthState.STOPPED
        with pytest.raises(Disconnected):
            await adapter.place(order("while-stopped"))


async def test_silence_from_the_gateway_ends_the_link_and_it_comes_back() -> None:
    sim = simulator(heartbeat_s=0.2)
    async with sim, connected(sim) as (adapter, _):
        sim.mute = True
        await until(lambda: adapter.health.state is HealthState.RECONNECTING, timeout=8, what="silence noticed")
        assert "nothing from the gateway" in adapter.health.detail
        sim.mute = False
        await until(lambda: adapter.health.connected, timeout=8, what="back")


async def test_a_bad_frame_is_dropped_at_the_edge_and_the_session_goes_on() -> None:
    async with simulator() as sim, connected(sim) as (adapter, coll):
        assert sim.inject("RSIM-1001", b"\x00\x00\x00\x09garbage!!") == 1
        assert sim.inject("RSIM-1001", b"\x00\x00") == 1
        nameless = ExchangeOrderNotification(
            notify_type=ExchangeNotify.FILL, account_id="RSIM-1001", fill_id="f", fill_size=1
        )
        foreign = ExchangeOrderNotification(
            notify_type=ExchangeNotify.FILL,
            account_id="RSIM-1001",
            basket_id="B9",
            symbol="6EZ5",
            exchange="CME",
            fill_id="f",
            fill_size=1,
            fill_price=1.1,
        )
        sim.inject("RSIM-1001", proto.frame(nameless) + proto.frame(foreign))
        await until(lambda: adapter.health.dropped >= 3, what="three drops")
        assert "without basket_id" in adapter.health.last_dropped
        await adapter.place(order("fine"))
        await _filled(coll, "fine", 1)
        assert adapter.health.dropped == 3 and adapter.health.connected  # the foreign contract is skipped, not refused
        assert adapter.book is not None and "6EZ5.CME" in adapter.book.foreign


async def test_a_request_a_plant_does_not_take_comes_back_as_its_reject_text() -> None:
    async with simulator() as sim, connected(sim) as (adapter, _):
        assert adapter.session is not None
        link = adapter.session.link(InfraType.ORDER_PLANT)
        answer = await link.call(
            RequestFrontMonthContract(symbol="ES", exchange="CME"), what="front month on the order plant"
        )
        assert not answer.ok and "Reject rp_code 1" in answer.text and "not simulated" in answer.text


# ----------------------------------------------------------------------------- what happened while away


async def test_while_away_orders_fills_and_positions_come_in_order_after_reconnect() -> None:
    async with simulator() as sim, connected(sim) as (adapter, coll):
        ex = sim.exchange
        bid, _ = ex.quote("ES")
        keep = ex.submit("RSIM-1001", symbol="ES", side=Side.BUY, qty=1, order_type=OrderType.LIMIT, price=bid - 8)
        gone = ex.submit("RSIM-1001", symbol="ES", side=Side.BUY, qty=1, order_type=OrderType.LIMIT, price=bid - 9)
        await until(lambda: len([e for e in coll.events if e.kind is EventKind.ORDER_NEW]) == 2, what="two orders")
        mark = len(coll.events)
        before = adapter.health.reconnects
        sim.drop_sockets("RSIM-1001")
        ex.modify("RSIM-1001", keep.id, price=bid - 7)
        ex.cancel("RSIM-1001", gone.id)
        ex.submit("RSIM-1001", symbol="NQ", side=Side.SELL, qty=2)
        fresh = ex.submit("RSIM-1001", symbol="ES", side=Side.SELL, qty=1, order_type=OrderType.LIMIT, price=bid + 30)
        await until(lambda: adapter.health.reconnects > before and adapter.health.connected, what="reconnect")
        await until(
            lambda: any(e.kind is EventKind.POSITION and e.symbol == "NQ" for e in coll.events[mark:]),
            what="NQ position",
        )
        after = [(e.kind, e.order_id) for e in coll.events[mark:]]
        fills = [i for i, (k, _) in enumerate(after) if k is EventKind.FILL]
        orders = [i for i, (k, _) in enumerate(after) if k is not EventKind.FILL and k is not EventKind.POSITION]
        assert fills and max(fills) < min(orders)  # the replayed fills first, then the orders' news
        assert (EventKind.ORDER_MODIFIED, keep.id) in after and (EventKind.ORDER_CANCELLED, gone.id) in after
        assert (EventKind.ORDER_NEW, fresh.id) in after
        modified = next(e for e in coll.events[mark:] if e.kind is EventKind.ORDER_MODIFIED)
        assert modified.price == bid - 7 and modified.version == 1
        assert [e.position for e in coll.events[mark:] if e.kind is EventKind.POSITION and e.symbol == "NQ"] == [-2]
        assert adapter.resyncs == 1


async def test_what_was_working_before_connect_is_not_news_but_its_changes_are() -> None:
    async with simulator() as sim:
        ex = sim.exchange
        bid, _ = ex.quote("ES")
        old = ex.submit("RSIM-1001", symbol="ES", side=Side.BUY, qty=1, order_type=OrderType.LIMIT, price=bid - 8)
        async with connected(sim) as (adapter, coll):
            assert [o.broker_order_id for o in await adapter.open_orders()] == [old.id]
            ex.modify("RSIM-1001", old.id, price=bid - 6)
            await until(lambda: any(e.kind is EventKind.ORDER_MODIFIED for e in coll.events), what="modified")
            assert [(e.kind, e.version, e.client_order_id) for e in coll.events] == [
                (EventKind.ORDER_MODIFIED, 1, None)
            ]


async def test_a_manual_stop_order_is_news_when_pending_trigger_and_cursors_are_checked() -> None:
    async with simulator() as sim, connected(sim) as (adapter, coll):
        bid, _ = sim.exchange.quote("ES")
        sim.exchange.submit(
            "RSIM-1001", symbol="ES", side=Side.SELL, qty=1, order_type=OrderType.STOP, stop_price=bid - 4
        )
        await until(lambda: bool(coll.events), what="the stop's order_new")
        new = coll.events[0]
        assert (new.kind, new.order_type, new.stop_price, new.client_order_id) == (
            EventKind.ORDER_NEW,
            OrderType.STOP,
            bid - 4,
            None,
        )
        with pytest.raises(BrokerError, match="fill cursor looks like"):
            await adapter.fills_since("yesterday")
        events, cursor = await adapter.fills_since(None)
        assert events == [] and cursor is not None and "|" not in cursor


async def test_a_replay_without_fill_ids_fails_loudly() -> None:
    async with simulator() as sim, connected(sim) as (adapter, coll):
        await adapter.place(order("r1"))
        await _filled(coll, "r1", 1)
        real = sim.fill_rows

        def stripped(*args: object) -> list[proto.Message]:
            rows = real(*args)  # type: ignore[arg-type]
            for row in rows:
                row.fill_id = ""  # type: ignore[attr-defined]
            return rows

        sim.fill_rows = stripped  # type: ignore[method-assign]
        with pytest.raises(BrokerError, match="lacks basket_id, fill_id or fill_size.*not guessing"):
            await adapter.fills_since(None)


async def test_modify_and_cancel_by_client_id_alone() -> None:
    async with simulator() as sim, connected(sim) as (adapter, coll):
        bid, _ = sim.exchange.quote("ES")
        placed = order("lim", order_type=OrderType.LIMIT, price=bid - 10)
        await adapter.place(placed)
        mod = placed.model_copy(update={"action": OrderAction.MODIFY, "client_order_id": "lim-m",
                                        "target_client_order_id": "lim", "price": bid - 11})  # fmt: skip
        assert (await adapter.modify(mod)).status is OrderStatus.WORKING
        cancel = placed.model_copy(
            update={"action": OrderAction.CANCEL, "client_order_id": "lim-c", "target_client_order_id": "lim"}
        )
        assert (await adapter.cancel(cancel)).status is OrderStatus.CANCELLED
        await until(lambda: any(e.kind is EventKind.ORDER_CANCELLED for e in coll.events), what="cancelled")
        nothing = placed.model_copy(update={"client_order_id": "x", "target_client_order_id": "never"})
        assert (await adapter.cancel(nothing)).status is OrderStatus.REJECTED
        kinds = [(e.kind, e.version) for e in coll.events]
        assert kinds == [(EventKind.ORDER_NEW, 0), (EventKind.ORDER_MODIFIED, 1), (EventKind.ORDER_CANCELLED, 1)]


async def test_contracts_pinned_in_options_go_on_the_wire() -> None:
    sim: RithmicSimulator = simulator()
    async with sim:
        pinned = sim.desk.contract("ES").symbol
        async with connected(sim, contracts=f"ES={pinned}") as (adapter, _):
            assert adapter.contract_of("ES").symbol == pinned
        wrong = "ESH9" if pinned != "ESH9" else "ESM9"
        async with connected(sim, contracts=f"ES={wrong}") as (adapter, _):
            ack = await adapter.place(order("pin"))
            assert ack.status is OrderStatus.REJECTED and f"unknown contract {wrong}.CME" in (ack.reason or "")
