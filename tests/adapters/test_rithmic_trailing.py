"""Native trailing stops on Rithmic (issue 23), over real loopback sockets against the simulator.

A follower's TRAILING_STOP reaches Rithmic as a STOP_MARKET order with ``trailing_stop`` and
``trail_by_ticks``; the broker moves the stop as the market rises and fills it when the market
turns; a quantity change is a modify with the trail again and no trigger price. A leader's trailing
stop, sent by a trader's own client as a raw 312, arrives as a TRAILING_STOP with its trail, and
each move of its stop as an ORDER_MODIFIED. The simulator refuses trail fields copytui does not
read, naming the field (adapters/rithmic/trailing.py says what was chosen and why).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from adapters.kit.conformance import Venue
from adapters.paper.exchange import PaperExchange
from adapters.rithmic.enums import Duration, InfraType, PriceType, TransactionType
from adapters.rithmic.order_messages import RequestNewOrder, ResponseNewOrder
from adapters.rithmic.simulator import RithmicSimulator, SimUser
from copytui.models import EventKind, OrderAction, OrderStatus, OrderType, Side
from tests.adapters.rithmic_support import PASSWORD, USER, RawClient, make_adapter

ACCOUNT = "RSIM-1001"


@contextlib.asynccontextmanager
async def venue() -> AsyncIterator[tuple[RithmicSimulator, Venue]]:
    exchange = PaperExchange(seed=5)
    async with RithmicSimulator(exchange, users={USER: SimUser(PASSWORD, [ACCOUNT])}) as sim:
        async with Venue.open(exchange, ACCOUNT, lambda: make_adapter(sim, "r1", ACCOUNT), lambda: None) as v:
            yield sim, v


def received(sim: RithmicSimulator, action: str) -> list[dict[str, Any]]:
    """What the simulator took on the wire for ``action`` (its audit of each request)."""
    return [e.request or {} for e in sim.audit.entries if e.action == action]


def raw_trailing(sim: RithmicSimulator, tag: str, **kw: Any) -> RequestNewOrder:
    """A sell trailing stop as a trader's own client would send it."""
    front = sim.desk.contract("ES")
    fields: dict[str, Any] = {
        "user_msg": [tag], "user_tag": tag, "account_id": ACCOUNT, "symbol": front.symbol,
        "exchange": front.exchange, "quantity": 1, "transaction_type": TransactionType.SELL,
        "duration": Duration.DAY, "price_type": PriceType.STOP_MARKET, "trade_route": sim.desk.route,
        "trailing_stop": True, "trail_by_ticks": 12,
    } | kw  # fmt: skip
    return RequestNewOrder(**fields)


async def test_a_follower_trailing_stop_reaches_rithmic_with_its_ticks_trails_is_resized_and_fills() -> None:
    async with venue() as (sim, v):
        bid, _ = v.exchange.quote("ES")
        placed = v.order(v.coid("trail"), side=Side.SELL, qty=2).model_copy(
            update={"order_type": OrderType.TRAILING_STOP, "trail": 2.0}
        )
        ack = await v.adapter.place(placed)
        assert ack.status is OrderStatus.WORKING, ack.reason
        [sent] = received(sim, "new_order")
        assert (sent["price_type"], sent["trailing_stop"], sent["trail_by_ticks"]) == (PriceType.STOP_MARKET, True, 8)
        assert (sent["trigger_price"], sent["quantity"]) == (0.0, 2)  # the broker starts it 8 ticks from the market
        [paper] = v.paper_orders(placed.client_order_id)
        assert (paper.order_type, paper.trail, paper.stop_price) == (OrderType.TRAILING_STOP, 2.0, bid - 2)
        new = await v.wait_event("ORDER_NEW", Venue.of(EventKind.ORDER_NEW, ack))
        assert (new.order_type, new.trail, new.stop_price) == (OrderType.TRAILING_STOP, 2.0, bid - 2)

        v.exchange.set_price("ES", bid + 3)  # the market rises: the broker raises the stop
        moved = await v.wait_event("the stop's move", Venue.of(EventKind.ORDER_MODIFIED, ack))
        assert (moved.stop_price, moved.trail, moved.qty, moved.order_type) == (
            bid + 1,
            2.0,
            2,
            OrderType.TRAILING_STOP,
        )

        resized = v.change(OrderAction.MODIFY, placed, ack.broker_order_id, qty=1)
        assert (await v.adapter.modify(resized)).status is OrderStatus.WORKING
        [modify] = received(sim, "modify_order")
        assert (modify["quantity"], modify["trailing_stop"], modify["trail_by_ticks"]) == (1, True, 8)
        assert (modify["trigger_price"], modify["price"]) == (0.0, 0.0)
        await v.until("the broker's order at 1", lambda: paper.qty == 1)
        assert (paper.stop_price, paper.trail) == (bid + 1, 2.0)  # a resize leaves the stop where it moved

        v.exchange.set_price("ES", bid + 1)  # the market turns down to the stop
        fill = await v.wait_event("the stop's fill", Venue.of(EventKind.FILL, ack, cum_qty=1))
        assert (fill.fill_qty, fill.fill_price) == (1, bid + 1)
        assert v.paper_position() == -1


async def test_a_known_leader_stop_starts_the_trail_and_a_trail_rounds_to_whole_ticks() -> None:
    async with venue() as (sim, v):
        bid, _ = v.exchange.quote("ES")
        placed = v.order(v.coid("start"), side=Side.SELL, stop_price=bid - 1).model_copy(
            update={"order_type": OrderType.TRAILING_STOP, "trail": 2.1}
        )
        ack = await v.adapter.place(placed)
        assert ack.status is OrderStatus.WORKING, ack.reason
        [sent] = received(sim, "new_order")
        assert (sent["trigger_price"], sent["trail_by_ticks"]) == (bid - 1, 8)
        [paper] = v.paper_orders(placed.client_order_id)
        assert (paper.stop_price, paper.trail) == (bid - 1, 2.0)  # started there, not 2 from the market

        untrailed = v.order(v.coid("notrail"), side=Side.SELL).model_copy(
            update={"order_type": OrderType.TRAILING_STOP}
        )
        refused = await v.adapter.place(untrailed)
        assert refused.status is OrderStatus.REJECTED and "trail_by_ticks" in (refused.reason or "")
        assert len(received(sim, "new_order")) == 1  # refused before the wire


async def test_a_leaders_trailing_stop_arrives_with_its_trail_and_each_move_as_a_modification() -> None:
    async with venue() as (sim, v), RawClient(sim.url) as raw:
        await raw.login(InfraType.ORDER_PLANT)
        bid, _ = v.exchange.quote("ES")
        await raw.send(raw_trailing(sim, "lead-trail"))
        answer, _ = await raw.until(ResponseNewOrder)
        assert isinstance(answer, ResponseNewOrder) and answer.basket_id, answer

        def mine(kind: EventKind) -> Any:
            return lambda e: e.kind is kind and e.order_id == answer.basket_id

        new = await v.wait_event("the leader's ORDER_NEW", mine(EventKind.ORDER_NEW))
        assert (new.order_type, new.trail, new.stop_price, new.side) == (
            OrderType.TRAILING_STOP,
            3.0,
            bid - 3,
            Side.SELL,
        )
        [info] = [o for o in await v.adapter.open_orders() if o.broker_order_id == answer.basket_id]
        assert (info.order_type, info.trail) == (OrderType.TRAILING_STOP, 3.0)

        v.exchange.set_price("ES", bid + 2)
        moved = await v.wait_event("the leader stop's move", mine(EventKind.ORDER_MODIFIED))
        assert (moved.order_type, moved.trail, moved.stop_price) == (OrderType.TRAILING_STOP, 3.0, bid - 1)
        assert moved.version > new.version


async def test_the_simulator_refuses_trail_fields_copytui_does_not_read_and_says_which() -> None:
    async with venue() as (sim, _v), RawClient(sim.url) as raw:
        await raw.login(InfraType.ORDER_PLANT)
        cases = {
            "no-ticks": ({"trail_by_ticks": 0}, "trail_by_ticks of at least 1"),
            "ticks-alone": ({"trailing_stop": False}, "without trailing_stop"),
            "on-a-limit": ({"price_type": PriceType.LIMIT, "price": 1.0}, "STOP_MARKET"),
        }
        for tag, (fields, why) in cases.items():
            await raw.send(raw_trailing(sim, tag, **fields))
            answer, _ = await raw.until(ResponseNewOrder)
            assert isinstance(answer, ResponseNewOrder) and answer.rp_code[0] != "0", (tag, answer)
            assert why in answer.rp_code[1], (tag, answer.rp_code)
        assert not sim.exchange.accounts[ACCOUNT].orders
