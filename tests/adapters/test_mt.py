"""MetaTrader through the bridge: the shared conformance suite against stand-in terminals (a netting
CFD account with a symbol map, a hedging futures account), then what is MetaTrader's own."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from adapters.base import (
    AdapterContext,
    AdapterSpec,
    AmbiguousOutcome,
    AuthFailed,
    BrokerAdapter,
    BrokerError,
    Disconnected,
    HealthState,
    OrderRejected,
)
from adapters.kit.conformance import AdapterConformance, Venue
from adapters.mt import MtAdapter, MtOptions, create_adapter
from adapters.mt.protocol import Heartbeat
from adapters.mt.sim_book import TerminalBook
from adapters.mt.sim_terminal import StandIn
from adapters.mt.simulator import CFD, FUTURES, free_port
from adapters.simkit import Faults
from copytui.config import AccountConfig
from copytui.models import AccountEvent, EventKind, OrderAction, OrderStatus, OrderType, Side
from tests.adapters.mt_support import CFD_MAP, TOKEN, account_config, make_adapter, order, running, until


class TestMtNettingConformance(AdapterConformance):
    """A netting CFD account: US500 at 0.1 lot per ES contract."""

    @pytest.fixture
    async def venue(self) -> AsyncIterator[Venue]:
        async with running() as sim:
            sim.add_terminal(5001, TOKEN, symbols=CFD)

            def make() -> BrokerAdapter:
                return make_adapter(sim.port, "mt1", 5001, symbols=CFD_MAP)

            def drop() -> None:
                assert sim.drop(5001) == 1

            async with Venue.open(sim.exchange, "5001", make, drop) as v:
                yield v


class TestMtHedgingConformance(AdapterConformance):
    """A hedging account listing the futures: sells close tickets before they open any."""

    @pytest.fixture
    async def venue(self) -> AsyncIterator[Venue]:
        async with running() as sim:
            sim.add_terminal(5002, TOKEN, symbols=FUTURES, hedging=True)

            def make() -> BrokerAdapter:
                return make_adapter(sim.port, "mt2", 5002)

            def drop() -> None:
                assert sim.drop(5002) == 1

            async with Venue.open(sim.exchange, "5002", make, drop) as v:
                yield v


# ------------------------------------------------------------------------------- session
async def test_a_wrong_token_is_refused_loudly_and_leaks_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with running() as sim:
        rogue = sim.add_terminal(5001, "not-the-token")
        adapter = make_adapter(sim.port, "mt1", 5001)
        with pytest.raises(AuthFailed) as err:
            await adapter.connect()
        text = str(err.value)
        assert "wrong token for login 5001" in text and "Token input" in text
        assert adapter.health.state is HealthState.AUTH_FAILED and adapter.health.dropped == 1
        assert "wrong token" in adapter.health.last_dropped
        await until("the terminal told", lambda: rogue.refusals)
        assert "wrong token" in rogue.refusals[0]
        assert not sim.book(5001).deals and not sim.audit.entries
    assert TOKEN not in caplog.text and "not-the-token" not in caplog.text


async def test_a_wrong_token_while_running_is_counted_and_the_session_goes_on() -> None:
    async with running() as sim:
        sim.add_terminal(5001, TOKEN)
        adapter = make_adapter(sim.port, "mt1", 5001)
        await adapter.connect()
        try:
            intruder = StandIn(TerminalBook(sim.exchange, "other", 5001), sim.port, "guessed")
            task = asyncio.create_task(intruder.run())
            await until("the intruder refused", lambda: intruder.refusals)
            intruder.stop()
            task.cancel()
            assert adapter.health.connected and adapter.health.dropped == 1
            assert "wrong token for login 5001" in adapter.health.last_dropped
            ack = await adapter.place(order("after-intruder"))
            assert ack.status is OrderStatus.WORKING
        finally:
            await adapter.disconnect()


async def test_no_terminal_is_a_clear_timeout() -> None:
    adapter = make_adapter(free_port(), "mt1", 5001, connect_timeout_s=0.3)
    says = r"no MetaTrader terminal with login 5001 dialed 127\.0\.0\.1:\d+ within 0\.3s"
    with pytest.raises(Disconnected, match=says):
        await adapter.connect()
    assert adapter.health.state is HealthState.DISCONNECTED


async def test_a_missing_token_names_the_command_that_stores_it() -> None:
    cfg = account_config(free_port(), "mt1", 5001)
    adapter = create_adapter(cfg, AdapterContext(secret=lambda _key: None))
    with pytest.raises(AuthFailed, match=r"copytui accounts add mt1 --broker mt"):
        await adapter.connect()


async def test_an_unknown_login_is_refused_and_every_account_hears(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("adapters.mt.bridge.UNCLAIMED_WAIT_S", 0.2)
    async with running() as sim:
        sim.add_terminal(5001, TOKEN)
        stranger = sim.add_terminal(7777, TOKEN)
        adapter = make_adapter(sim.port, "mt1", 5001)
        await adapter.connect()
        try:
            await until("the stranger refused", lambda: stranger.refusals)
            assert "no account with login 7777" in stranger.refusals[0]
            await until("the account told", lambda: adapter.health.dropped)
            assert "7777" in adapter.health.last_dropped and adapter.health.connected
        finally:
            await adapter.disconnect()


async def test_a_terminal_on_another_server_is_refused() -> None:
    async with running() as sim:
        sim.add_terminal(5001, TOKEN)
        adapter = make_adapter(sim.port, "mt1", 5001, server="RealBroker-Live")
        says = r"on server 'CopytuiSim-Demo', the account's options.server says 'RealBroker-Live'"
        with pytest.raises(AuthFailed, match=says):
            await adapter.connect()


async def test_accounts_share_one_listener_and_each_gets_its_own_terminal() -> None:
    async with running() as sim:
        for login in (5001, 5002, 5003):
            sim.add_terminal(login, TOKEN)
        adapters = [make_adapter(sim.port, f"mt{i}", login) for i, login in enumerate((5001, 5002, 5003))]
        await asyncio.gather(*(a.connect() for a in adapters))
        try:
            assert adapters[0].server is adapters[1].server is adapters[2].server
            assert {a.account_key for a in adapters} == {f"mt-CopytuiSim-Demo-{n}" for n in (5001, 5002, 5003)}
            for i, a in enumerate(adapters):
                await a.place(order(f"share-{i}", qty=i + 1))
            for i, login in enumerate((5001, 5002, 5003)):
                await until(f"{login} long {i + 1}", lambda login=login, i=i: sim.book(login).net_lots("ES") == i + 1)
        finally:
            await asyncio.gather(*(a.disconnect() for a in adapters))


async def test_an_account_connects_again_after_a_disconnect() -> None:
    async with running() as sim:
        sim.add_terminal(5001, TOKEN)
        adapter = make_adapter(sim.port, "mt1", 5001)
        await adapter.connect()
        await adapter.place(order("before"))
        await adapter.disconnect()
        assert adapter.health.state is HealthState.DISCONNECTED and adapter.server is None
        await adapter.connect()  # the listener is opened again and the terminal redials into it
        try:
            assert adapter.health.connected
            assert (await adapter.place(order("after"))).status is OrderStatus.WORKING
            await until("long 2", lambda: _net(adapter, 2))
        finally:
            await adapter.disconnect()


async def test_heartbeats_keep_an_idle_link_and_a_silent_one_is_closed() -> None:
    async with running() as sim:
        terminal = sim.add_terminal(5001, TOKEN)
        adapter = make_adapter(sim.port, "mt1", 5001, heartbeat_s=0.2)
        await adapter.connect()
        try:
            await asyncio.sleep(1.0)  # five intervals with nothing to say: heartbeats keep it
            assert adapter.health.connected and adapter.health.reconnects == 0
            assert any(isinstance(m, Heartbeat) for m in terminal.received)
            before = terminal.welcomes
            terminal.muted = True  # the terminal hangs: copytui closes the silent link
            await until("the silent link closed", lambda: adapter.health.state is HealthState.RECONNECTING)
            assert "silent for 0.6s" in adapter.health.detail
            terminal.muted = False
            await until("a reconnect", lambda: adapter.health.reconnects == 1 and adapter.health.connected)
            assert terminal.welcomes > before
        finally:
            await adapter.disconnect()


# ------------------------------------------------------------------------------- orders
async def test_lots_follow_the_symbol_map_and_its_limits() -> None:
    async with running() as sim:
        sim.add_terminal(5001, TOKEN, symbols=CFD)
        adapter = make_adapter(sim.port, "mt1", 5001, symbols="ES=US500:0.1, NQ=USTEC:0.05")
        await adapter.connect()
        try:
            assert any("not a multiple of USTEC's volume step 0.1" in n for n in [adapter.health.detail])
            ack = await adapter.place(order("lots-3", qty=3))
            assert ack.status is OrderStatus.WORKING
            await until("0.3 lots of US500", lambda: sim.book(5001).net_lots("US500") == 0.3)
            assert (sim.audit.entries[-1].request or {})["volume"] == 0.3
            too_big = await adapter.place(order("lots-600", qty=600))
            assert too_big.status is OrderStatus.REJECTED and "above its maximum 50" in (too_big.reason or "")
            odd = await adapter.place(order("lots-nq", qty=1, symbol="NQ"))
            assert odd.status is OrderStatus.REJECTED and "not a multiple of its volume step" in (odd.reason or "")
            unknown = await adapter.place(order("lots-cl", qty=1, symbol="CL"))
            assert unknown.status is OrderStatus.REJECTED
            assert "CL is not in the terminal's Market Watch" in (unknown.reason or "")
            assert len(sim.audit.entries) == 1  # refused here: nothing reached the terminal
            assert {p.symbol: p.qty for p in await adapter.positions()} == {"ES": 3}
        finally:
            await adapter.disconnect()


async def test_a_requote_is_sent_again_and_gives_up_with_its_retcode() -> None:
    async with running() as sim:
        terminal = sim.add_terminal(5001, TOKEN, requote_prob=1.0)
        adapter = make_adapter(sim.port, "mt1", 5001, requote_retries=2)
        await adapter.connect()
        try:
            ack = await adapter.place(order("requoted"))
            assert ack.status is OrderStatus.REJECTED and "MetaTrader 10004 REQUOTE" in (ack.reason or "")
            tries = [e for e in sim.audit.entries if e.client_order_id == "requoted"]
            assert [e.outcome for e in tries] == ["refused"] * 3 and adapter.orders.requotes == 2
            terminal.book.requote_prob = 0.0
            limit = await adapter.place(order("no-requote-for-limits", order_type=OrderType.LIMIT, price=4000.0))
            assert limit.status is OrderStatus.WORKING
            assert not [o for o in sim.exchange.accounts["5001"].orders.values() if o.client_order_id == "requoted"]
        finally:
            await adapter.disconnect()


async def test_terminal_rejects_carry_metatraders_retcode() -> None:
    async with running(faults=Faults(reject_rate=1.0)) as sim:
        sim.add_terminal(5001, TOKEN)
        adapter = make_adapter(sim.port, "mt1", 5001)
        await adapter.connect()
        try:
            ack = await adapter.place(order("rejected"))
            assert ack.status is OrderStatus.REJECTED and ack.broker_order_id is None
            assert (ack.reason or "").startswith("MetaTrader 10006 REJECT: simulated reject")
            [entry] = sim.audit.entries
            assert (entry.action, entry.outcome, entry.client_order_id) == ("place", "refused", "rejected")
        finally:
            await adapter.disconnect()


async def test_no_answer_is_ambiguous_and_resolved_by_asking_not_by_resending() -> None:
    async with running(faults=Faults(latency_ms=800)) as sim:
        sim.add_terminal(5001, TOKEN)
        adapter = make_adapter(sim.port, "mt1", 5001, order_timeout_s=0.2, request_timeout_s=5.0)
        await adapter.connect()
        try:
            with pytest.raises(AmbiguousOutcome, match="gave no answer"):
                await adapter.place(order("slow", qty=2))
            info = await until("the order to be found", lambda: adapter.find_order("slow"))
            assert (info.client_order_id, info.qty) == ("slow", 2)
            await until("filled", lambda: _filled(adapter, "slow", 2))
            assert len([e for e in sim.audit.entries if e.client_order_id == "slow"]) == 1
            assert sim.exchange.duplicate_submissions("5001") == 0
        finally:
            await adapter.disconnect()


async def _filled(adapter: MtAdapter, coid: str, qty: int) -> bool:
    info = await adapter.find_order(coid)
    return info is not None and info.filled_qty == qty and info.status is OrderStatus.FILLED


async def test_a_place_while_no_terminal_is_connected_is_not_sent() -> None:
    async with running() as sim:
        terminal = sim.add_terminal(5001, TOKEN)
        adapter = make_adapter(sim.port, "mt1", 5001, reconnect_wait_s=0.2)
        await adapter.connect()
        try:
            terminal.stop()
            await until("the link lost", lambda: not adapter.health.connected)
            with pytest.raises(Disconnected, match="terminal 5001 is not connected"):
                await adapter.place(order("while-down"))
            assert not sim.audit.entries
        finally:
            await adapter.disconnect()


async def test_hedging_sells_close_tickets_oldest_first_and_partial_closes_by_ticket() -> None:
    async with running() as sim:
        sim.add_terminal(5002, TOKEN, hedging=True)
        adapter = make_adapter(sim.port, "mt2", 5002)
        events = _collect(adapter)
        await adapter.connect()
        try:
            for i, qty in enumerate((2, 3)):
                await adapter.place(order(f"open-{i}", qty=qty))
            book = sim.book(5002)
            await until("two long tickets", lambda: len(book.positions) == 2)
            first, second = sorted(book.positions)
            ack = await adapter.place(order("sell-4", side=Side.SELL, qty=4))
            left = [(second, 1.0)]
            await until("one ticket of 1 left", lambda: [(p.ticket, p.volume) for p in book.positions.values()] == left)

            def fills() -> list[AccountEvent]:
                return [e for e in events if e.kind is EventKind.FILL and e.client_order_id == "sell-4"]

            await until("both legs reported", lambda: [e.cum_qty for e in fills()][-1:] == [4])
            assert {e.order_id for e in fills()} == {ack.broker_order_id} and [e.cum_qty for e in fills()] == [2, 4]
            info = await adapter.find_order("sell-4")
            assert info is not None and (info.qty, info.filled_qty, info.status) == (4, 4, OrderStatus.FILLED)
            legs = [o for o in book.orders.values() if o.comment == "sell-4"]
            assert [(o.position, o.volume) for o in legs] == [(first, 2.0), (second, 2.0)]
            await adapter.place(order("open-2", qty=2))
            await until("two tickets", lambda: len(book.positions) == 2)
            tickets = await adapter.tickets()
            newest = max(t.ticket for t in tickets)
            await adapter.close_position(newest, 1)
            await until("a partial close", lambda: book.positions[newest].volume == 1.0)
            await adapter.set_stops(newest, sl=4900.0, tp=5100.0)
            assert (book.positions[newest].sl, book.positions[newest].tp) == (4900.0, 5100.0)
            await until("net 2", lambda: _net(adapter, 2))
            await adapter.close_position(newest)
            await until("net 1", lambda: _net(adapter, 1))
            with pytest.raises(OrderRejected, match="10036 POSITION_CLOSED"):
                await adapter.close_position(newest)
        finally:
            await adapter.disconnect()


async def _net(adapter: MtAdapter, qty: int) -> bool:
    return {p.symbol: p.qty for p in await adapter.positions()}.get("ES", 0) == qty


def _collect(adapter: MtAdapter) -> list[AccountEvent]:
    got: list[AccountEvent] = []

    async def read() -> None:
        async for ev in adapter.subscribe():
            got.append(ev)

    asyncio.get_running_loop().create_task(read())
    return got


async def test_a_pending_orders_volume_cannot_be_modified_but_its_price_can() -> None:
    async with running() as sim:
        sim.add_terminal(5001, TOKEN)
        adapter = make_adapter(sim.port, "mt1", 5001)
        events = _collect(adapter)
        await adapter.connect()
        try:
            placed = order("resting", qty=2, order_type=OrderType.LIMIT, price=4900.0)
            ack = await adapter.place(placed)
            await until("order_new", lambda: any(e.kind is EventKind.ORDER_NEW for e in events))
            change = placed.model_copy(
                update={"action": OrderAction.MODIFY, "client_order_id": "resting-m",
                        "target_client_order_id": "resting", "broker_order_id": ack.broker_order_id}
            )  # fmt: skip
            refused = await adapter.modify(change.model_copy(update={"qty": 3}))
            assert refused.status is OrderStatus.REJECTED
            assert "cannot change a pending order's volume" in (refused.reason or "")
            moved = await adapter.modify(change.model_copy(update={"price": 4890.0}))
            assert moved.status is OrderStatus.WORKING
            ev = await until(
                "order_modified", lambda: next((e for e in events if e.kind is EventKind.ORDER_MODIFIED), None)
            )
            assert (ev.price, ev.qty, ev.version) == (4890.0, 2, 1)
        finally:
            await adapter.disconnect()


# ------------------------------------------------------------------------------- events
async def test_a_manual_trade_on_the_terminal_comes_as_events_in_contracts() -> None:
    async with running() as sim:
        sim.add_terminal(5001, TOKEN, symbols=CFD)
        adapter = make_adapter(sim.port, "mt1", 5001, symbols=CFD_MAP)
        events = _collect(adapter)
        await adapter.connect()
        try:
            book = sim.book(5001)
            book.place("US500", "buy", "market", 0.3)
            book.place("XAUUSD", "buy", "market", 0.1)  # not mapped: said once, never copied
            book.place("XAUUSD", "sell", "market", 0.1)
            book.place("US500", "sell", "limit", 0.2, price=5100.0)
            await until("the limit's order_new", lambda: any(e.order_type is OrderType.LIMIT for e in events))
            kinds = [(e.kind.value, e.symbol, e.qty, e.cum_qty, e.position) for e in events]
            assert kinds[:4] == [
                ("order_new", "ES", 3, 0, None), ("fill", "ES", 3, 3, None), ("position", "ES", 0, 0, 3),
                ("order_new", "ES", 2, 0, None),
            ]  # fmt: skip
            fill = events[1]
            assert fill.client_order_id is None and fill.fill_id and fill.order_type is OrderType.MARKET
            assert adapter.health.dropped == 1
            assert "XAUUSD is not a symbol copytui trades" in adapter.health.last_dropped
        finally:
            await adapter.disconnect()


async def test_what_happened_before_the_first_session_is_history() -> None:
    async with running() as sim:
        sim.add_terminal(5001, TOKEN)
        book = sim.book(5001)
        book.place("ES", "buy", "market", 2.0)  # kept in the EA's outbox while copytui is not listening
        adapter = make_adapter(sim.port, "mt1", 5001)
        events = _collect(adapter)
        await adapter.connect()
        try:
            assert await adapter.fills_since(None) == ([], f"{book.deals[0].time_ms}:{book.deals[0].ticket}")
            book.place("ES", "buy", "market", 1.0)
            await until("the new fill", lambda: any(e.kind is EventKind.FILL for e in events))
            sim.drop(5001)
            await until("back", lambda: adapter.health.reconnects == 1 and adapter.health.connected)
            await asyncio.sleep(0.1)  # time for a wrongly reported old fill to show
            assert [e.fill_qty for e in events if e.kind is EventKind.FILL] == [1]
            assert {p.symbol: p.qty for p in await adapter.positions()} == {"ES": 3}
        finally:
            await adapter.disconnect()


async def test_a_drop_during_a_burst_loses_and_doubles_no_fill() -> None:
    async with running() as sim:
        terminal = sim.add_terminal(5001, TOKEN)
        adapter = make_adapter(sim.port, "mt1", 5001)
        events = _collect(adapter)
        await adapter.connect()
        try:
            book = sim.book(5001)
            for _ in range(3):
                book.place("ES", "buy", "market", 1.0)
            sim.drop(5001)
            for _ in range(4):
                book.place("ES", "buy", "market", 1.0)  # while the terminal is cut off
            assert len(terminal.outbox) >= 12
            await until("back", lambda: adapter.health.reconnects == 1 and adapter.health.connected)
            for _ in range(2):
                book.place("ES", "buy", "market", 1.0)
            await until("nine fills", lambda: len([e for e in events if e.kind is EventKind.FILL]) >= 9)
            await asyncio.sleep(0.1)  # time for a wrongly doubled fill to show
            fills = [e for e in events if e.kind is EventKind.FILL]
            assert [int(e.fill_id or 0) for e in fills] == sorted(int(d.ticket) for d in book.deals)
            assert adapter.intake.replayed > 0 and adapter.resyncs == 1
            assert [e.position for e in events if e.kind is EventKind.POSITION][-1] == 9
        finally:
            await adapter.disconnect()


async def test_a_garbled_line_is_counted_and_the_lost_deal_read_back() -> None:
    async with running() as sim:
        terminal = sim.add_terminal(5001, TOKEN)
        adapter = make_adapter(sim.port, "mt1", 5001)
        events = _collect(adapter)
        await adapter.connect()
        try:
            terminal.garble_events = 2  # the order's event and its deal's
            sim.book(5001).place("ES", "buy", "market", 2.0)
            await until("the fill read back", lambda: [e for e in events if e.kind is EventKind.FILL])
            assert adapter.health.dropped == 2 and "deal refused" in adapter.health.last_dropped
            assert adapter.resyncs >= 1 and adapter.health.connected
        finally:
            await adapter.disconnect()


async def test_duplicated_and_reordered_events_give_each_fill_once() -> None:
    async with running(faults=Faults(duplicate_prob=1.0, reorder_prob=0.5)) as sim:
        sim.add_terminal(5001, TOKEN)
        adapter = make_adapter(sim.port, "mt1", 5001)
        events = _collect(adapter)
        await adapter.connect()
        try:
            for i in range(6):
                await adapter.place(order(f"dup-{i}", qty=1))
            await until("six fills", lambda: len({e.fill_id for e in events if e.kind is EventKind.FILL}) == 6)
            await asyncio.sleep(0.1)
            fills = [e for e in events if e.kind is EventKind.FILL]
            assert len(fills) == 6 and sim.exchange.duplicate_submissions("5001") == 0
        finally:
            await adapter.disconnect()


async def test_partial_fills_come_as_deals_with_cumulative_quantity() -> None:
    async with running(faults=Faults(partial_fill_prob=1.0)) as sim:
        sim.add_terminal(5001, TOKEN, symbols=CFD)
        adapter = make_adapter(sim.port, "mt1", 5001, symbols=CFD_MAP)
        events = _collect(adapter)
        await adapter.connect()
        try:
            ack = await adapter.place(order("in-parts", qty=4))

            def cums() -> list[int]:
                return [e.cum_qty for e in events if e.kind is EventKind.FILL and e.order_id == ack.broker_order_id]

            while not cums() or cums()[-1] < 4:  # the rest of a market order fills as the market moves
                sim.exchange.step()
                await asyncio.sleep(0.01)
            assert len(cums()) >= 2 and cums() == sorted(cums()) and cums()[-1] == 4
            fills = [e for e in events if e.kind is EventKind.FILL]
            assert sum(e.fill_qty for e in fills) == 4 and {e.qty for e in fills} == {4}
            info = await adapter.find_order("in-parts")
            assert info is not None and (info.filled_qty, info.status) == (4, OrderStatus.FILLED)
        finally:
            await adapter.disconnect()


async def test_random_drops_lose_and_double_nothing() -> None:
    async with running(faults=Faults(drop_stream_prob=0.2)) as sim:
        sim.add_terminal(5002, TOKEN, hedging=True)
        adapter = make_adapter(sim.port, "mt2", 5002)
        events = _collect(adapter)
        await adapter.connect()
        try:
            book = sim.book(5002)
            for i in range(12):
                side = Side.BUY if i % 3 else Side.SELL
                try:
                    await adapter.place(order(f"drops-{i}", side=side))
                except (AmbiguousOutcome, Disconnected):
                    pass  # said so, never resent: the books below tell what happened
                await until("connected", lambda: adapter.health.connected)
            await until(
                "every deal reported",
                lambda: len({e.fill_id for e in events if e.kind is EventKind.FILL}) == len(book.deals),
            )
            await asyncio.sleep(0.1)
            fills = [e for e in events if e.kind is EventKind.FILL]
            assert len(fills) == len(book.deals) and adapter.health.reconnects > 0
            places = [e.client_order_id for e in sim.audit.entries if e.action == "place"]
            assert len(places) == len(set(places))  # each order reached the terminal at most once
            assert {p.symbol: p.qty for p in await adapter.positions()}.get("ES", 0) == book.net_lots("ES")
        finally:
            await adapter.disconnect()


async def test_fills_since_pages_through_a_long_history() -> None:
    async with running() as sim:
        sim.add_terminal(5001, TOKEN)
        adapter = make_adapter(sim.port, "mt1", 5001)
        await adapter.connect()
        try:
            _, cursor = await adapter.fills_since(None)
            book = sim.book(5001)
            for _ in range(12):
                book.place("ES", "buy", "market", 1.0)
            import adapters.mt.reads as reads_module

            reads_module.DEALS_PAGE, saved = 5, reads_module.DEALS_PAGE
            try:
                fills, after = await adapter.fills_since(cursor)
            finally:
                reads_module.DEALS_PAGE = saved
            assert [e.fill_id for e in fills] == [str(d.ticket) for d in book.deals]
            assert after == f"{book.deals[-1].time_ms}:{book.deals[-1].ticket}"
            with pytest.raises(BrokerError, match="fill cursor must look like"):
                await adapter.fills_since("yesterday")
        finally:
            await adapter.disconnect()


# ------------------------------------------------------------------------------- configuration
@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"account_id": "abc"}, "account_id must be the MetaTrader login"),
        ({"port": None}, "set port"),
        ({"options": {"symbol": "ES=US500"}}, "unknown option(s) symbol; known:"),
        ({"options": {"symbols": "ES=US500:zero"}}, "options.symbols: 'ES=US500:zero': lots per contract"),
        ({"options": {"symbols": "EURUSD=EURUSD"}}, "'EURUSD' is not a symbol copytui knows"),
        ({"options": {"connect_timeout_s": True}}, "options.connect_timeout_s: must be a positive number"),
        ({"options": {"requote_retries": 9}}, "options.requote_retries"),
    ],
)
def test_config_problems_are_one_clear_line(fields: dict[str, object], says: str) -> None:
    base: dict[str, object] = {"name": "mt1", "broker": "mt", "host": "127.0.0.1", "port": 5555, "account_id": "5001"}
    cfg = AccountConfig.model_validate({**base, **fields})
    with pytest.raises(ValueError) as err:
        create_adapter(cfg, AdapterContext())
    text = str(err.value)
    assert says in text and text.startswith("mt account mt1") and "\n" not in text


def test_the_spec_declares_options_secrets_simulator_and_bench() -> None:
    from adapters.mt.spec import SPEC

    assert AdapterSpec.load(SPEC.options) is MtOptions
    assert [s.field for s in SPEC.secrets] == ["token"]
    assert callable(AdapterSpec.load(SPEC.simulator or "")) and callable(AdapterSpec.load(SPEC.bench or ""))


def test_the_live_adapter_loads_neither_the_stand_in_nor_the_paper_exchange() -> None:
    probe = (
        "import sys\n"
        "import adapters.mt\n"
        "stand_ins = ('adapters.mt.sim', 'adapters.paper', 'adapters.simkit')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(stand_ins))\n"
        "print(loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
