"""Trailing stops on Tradovate (issue 23), over real loopback sockets against the simulator.

A follower's TRAILING_STOP reaches Tradovate as ``orderType: TrailingStop`` with its trail in
``pegDifference``; the broker moves the stop as the market rises and fills it when the market turns;
a quantity change is a modify of the quantity alone. A leader's TrailingStop, placed the way a
trader's own script places it, arrives as a TRAILING_STOP with its trail, and each move of its stop
as an ORDER_MODIFIED. The simulator refuses the readings of ``pegDifference`` copytui did not
choose, naming the field (adapters/tradovate/trailing.py says what was chosen and why).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from adapters.kit.conformance import Venue
from adapters.paper.exchange import PaperOrder
from adapters.tradovate.simulator import TradovateSimulator
from copytui.models import AccountEvent, EventKind, OrderAction, OrderStatus, OrderType, Side
from tests.adapters.tv_support import RawClient, make_adapter, running_sim

ACCOUNT = "DEMO0001"


def venue_on(sim: TradovateSimulator, name: str = "tv1") -> contextlib.AbstractAsyncContextManager[Venue]:
    return Venue.open(sim.exchange, ACCOUNT, lambda: make_adapter(sim, name, ACCOUNT), lambda: None)


@contextlib.asynccontextmanager
async def script(sim: TradovateSimulator) -> AsyncIterator[RawClient]:
    """A trader's own script on the account, logged in over REST."""
    client = RawClient.of(sim)
    await client.login("trader1")
    try:
        yield client
    finally:
        await client.close()


def trailing_body(sim: TradovateSimulator, client: RawClient, **kw: Any) -> dict[str, Any]:
    account = client.accounts[0]
    return {
        "accountSpec": account["name"], "accountId": account["id"], "action": "Sell", "orderQty": 2,
        "symbol": sim.ledger.front("ES")["name"], "orderType": "TrailingStop", "isAutomated": True,
    } | kw  # fmt: skip


def bodies(sim: TradovateSimulator, endpoint: str) -> list[dict[str, Any]]:
    return [body for e, body in sim.order_bodies if e == endpoint]


def kind_of(kind: EventKind, order_id: str) -> Callable[[AccountEvent], bool]:
    return lambda e: e.kind is kind and e.order_id == order_id


def working(sim: TradovateSimulator) -> list[PaperOrder]:
    """The orders the broker holds on the account (live objects, not snapshots)."""
    return [o for o in sim.exchange.accounts[ACCOUNT].orders.values() if not o.status.final]


async def test_a_follower_trailing_stop_is_sent_as_trailingstop_trails_is_resized_and_fills() -> None:
    async with running_sim(ACCOUNT) as sim, venue_on(sim) as v:
        x = v.exchange
        bid, _ = x.quote("ES")
        placed = v.order(v.coid("trail"), side=Side.SELL, qty=2).model_copy(
            update={"order_type": OrderType.TRAILING_STOP, "trail": 5.0}
        )
        ack = await v.adapter.place(placed)
        assert ack.status is OrderStatus.WORKING, ack.reason
        [body] = bodies(sim, "order/placeorder")
        assert (body["orderType"], body["pegDifference"], body["orderQty"]) == ("TrailingStop", 5.0, 2)
        assert "stopPrice" not in body and "price" not in body  # the broker starts it 5 from the market
        [paper] = v.paper_orders(placed.client_order_id)
        assert (paper.order_type, paper.trail, paper.stop_price) == (OrderType.TRAILING_STOP, 5.0, bid - 5)
        new = await v.wait_event("ORDER_NEW", Venue.of(EventKind.ORDER_NEW, ack))
        assert (new.order_type, new.trail, new.stop_price) == (OrderType.TRAILING_STOP, 5.0, bid - 5)

        x.set_price("ES", bid + 3)  # the market rises: the broker raises the stop
        moved = await v.wait_event("the stop's move", Venue.of(EventKind.ORDER_MODIFIED, ack))
        assert (moved.stop_price, moved.trail, moved.qty) == (bid - 2, 5.0, 2)

        resized = v.change(OrderAction.MODIFY, placed, ack.broker_order_id, qty=1)
        assert (await v.adapter.modify(resized)).status is OrderStatus.WORKING
        [modify] = bodies(sim, "order/modifyorder")
        assert modify == {
            "orderId": int(ack.broker_order_id or 0), "clOrdId": resized.client_order_id, "orderQty": 1,
            "orderType": "TrailingStop", "pegDifference": 5.0, "isAutomated": True,
        }  # fmt: skip
        await v.until("the broker's order at 1", lambda: paper.qty == 1)
        assert paper.stop_price == bid - 2  # a resize leaves the stop where the broker moved it

        x.set_price("ES", bid - 2)  # the market turns down to the stop
        fill = await v.wait_event("the stop's fill", Venue.of(EventKind.FILL, ack, cum_qty=1))
        assert (fill.fill_qty, fill.fill_price, fill.order_type) == (1, bid - 2, OrderType.TRAILING_STOP)
        assert v.paper_position() == -1


async def test_a_known_leader_stop_is_where_the_follower_starts_and_a_new_trail_is_refused_unsent() -> None:
    async with running_sim(ACCOUNT) as sim, venue_on(sim) as v:
        bid, _ = v.exchange.quote("ES")
        placed = v.order(v.coid("start"), side=Side.SELL, qty=1, stop_price=bid - 3).model_copy(
            update={"order_type": OrderType.TRAILING_STOP, "trail": 5.0}
        )
        ack = await v.adapter.place(placed)
        [body] = bodies(sim, "order/placeorder")
        assert (body["stopPrice"], body["pegDifference"]) == (bid - 3, 5.0)
        [paper] = v.paper_orders(placed.client_order_id)
        assert paper.stop_price == bid - 3
        await v.wait_event("ORDER_NEW", Venue.of(EventKind.ORDER_NEW, ack))

        wider = await v.adapter.modify(v.change(OrderAction.MODIFY, placed, ack.broker_order_id, trail=8.0))
        assert wider.status is OrderStatus.REJECTED
        assert "TrailingStopNonOrderQtyModify" in (wider.reason or "") and "cancel" in (wider.reason or "")
        assert bodies(sim, "order/modifyorder") == [] and paper.trail == 5.0

        untrailed = v.order(v.coid("notrail"), side=Side.SELL).model_copy(
            update={"order_type": OrderType.TRAILING_STOP}
        )
        refused = await v.adapter.place(untrailed)
        assert refused.status is OrderStatus.REJECTED and "pegDifference" in (refused.reason or "")
        assert len(bodies(sim, "order/placeorder")) == 1


async def test_a_leaders_trailingstop_arrives_with_its_trail_and_each_move_as_a_modification() -> None:
    async with running_sim(ACCOUNT) as sim, script(sim) as trader, venue_on(sim, "lead") as v:
        x = v.exchange
        bid, _ = x.quote("ES")
        status, answer = await trader.rest("POST", "order/placeorder", json=trailing_body(sim, trader, pegDifference=4))
        assert status == 200 and "failureReason" not in answer, answer
        oid = str(answer["orderId"])
        new = await v.wait_event("the leader's ORDER_NEW", kind_of(EventKind.ORDER_NEW, oid))
        assert (new.order_type, new.trail, new.stop_price, new.qty) == (OrderType.TRAILING_STOP, 4.0, bid - 4, 2)
        [listed] = await v.adapter.open_orders()
        assert (listed.order_type, listed.trail, listed.stop_price) == (OrderType.TRAILING_STOP, 4.0, bid - 4)

        x.set_price("ES", bid + 1)
        x.set_price("ES", bid + 2.5)
        x.set_price("ES", bid + 0.5)  # a dip above the stop: the stop stays
        moved = kind_of(EventKind.ORDER_MODIFIED, oid)
        await v.wait_event("the second move", lambda e: moved(e) and e.stop_price == bid - 1.5)
        moves = [e for e in v.events if moved(e)]
        assert [(e.stop_price, e.trail) for e in moves] == [(bid - 3, 4.0), (bid - 1.5, 4.0)]
        status, versions = await trader.rest("GET", "orderVersion/list")
        assert status == 200
        assert [(o["stopPrice"], o["pegDifference"]) for o in versions if o["orderId"] == int(oid)] == [
            (bid - 4, 4),
            (bid - 3, 4),
            (bid - 1.5, 4),
        ]  # fmt: skip  the broker's own record: a new version per move, each with the trail

        x.set_price("ES", bid - 1.5)
        fill = await v.wait_event("the leader's fill", kind_of(EventKind.FILL, oid))
        assert (fill.cum_qty, fill.fill_price, fill.trail) == (2, bid - 1.5, 4.0)


async def test_a_leaders_trailingstop_placed_by_its_stop_alone_has_no_trail_to_copy() -> None:
    """Without ``pegDifference`` the broker's record says no distance: copytui copies the stop's moves."""
    async with running_sim(ACCOUNT) as sim, script(sim) as trader, venue_on(sim, "lead") as v:
        bid, _ = v.exchange.quote("ES")
        body = trailing_body(sim, trader, stopPrice=bid - 6, orderQty=1)
        status, answer = await trader.rest("POST", "order/placeorder", json=body)
        assert status == 200 and "failureReason" not in answer, answer
        oid = str(answer["orderId"])
        new = await v.wait_event("the leader's ORDER_NEW", kind_of(EventKind.ORDER_NEW, oid))
        assert (new.order_type, new.trail, new.stop_price) == (OrderType.TRAILING_STOP, None, bid - 6)
        v.exchange.set_price("ES", bid + 2)
        moved = await v.wait_event("the move", kind_of(EventKind.ORDER_MODIFIED, oid))
        assert (moved.stop_price, moved.trail) == (bid - 4, None)
        assert "pegDifference" not in sim.ledger.latest_version[int(oid)]


async def test_the_simulator_refuses_the_readings_copytui_did_not_choose() -> None:
    async with running_sim(ACCOUNT) as sim, script(sim) as trader:
        bid, _ = sim.exchange.quote("ES")
        refusals = {}
        for name, fields in {
            "negative": {"pegDifference": -5},
            "a price": {"pegDifference": bid},
            "off the grid": {"pegDifference": 5.1},
            "neither": {},
            "stop above a sell": {"stopPrice": bid + 1},
        }.items():
            status, answer = await trader.rest("POST", "order/placeorder", json=trailing_body(sim, trader, **fields))
            assert status == 200 and answer["failureReason"] == "InvalidPrice", (name, answer)
            refusals[name] = answer["failureText"]
        assert "positive distance" in refusals["negative"] and "reads as a price" in refusals["a price"]
        assert "tick grid" in refusals["off the grid"] and "pegDifference" in refusals["neither"]
        assert "wrong side" in refusals["stop above a sell"]
        assert working(sim) == []

        status, answer = await trader.rest("POST", "order/placeorder", json=trailing_body(sim, trader, pegDifference=5))
        oid = answer["orderId"]
        change = {"orderId": oid, "orderQty": 1, "orderType": "TrailingStop", "isAutomated": True}
        for fields, says in (
            ({"pegDifference": 6}, "pegDifference 6"),
            ({}, "pegDifference None"),  # left out: a modify replaces the whole version
            ({"pegDifference": 5, "stopPrice": bid - 1}, "stopPrice"),
            ({"pegDifference": 5, "orderType": "Stop"}, "orderType Stop"),
        ):
            status, answer = await trader.rest("POST", "order/modifyorder", json=change | fields)
            assert answer["failureReason"] == "TrailingStopNonOrderQtyModify" and says in answer["failureText"], answer
        [paper] = working(sim)
        assert (paper.qty, paper.trail) == (2, 5.0)
        status, answer = await trader.rest("POST", "order/modifyorder", json=change | {"pegDifference": 5})
        assert status == 200 and "failureReason" not in answer and paper.qty == 1
