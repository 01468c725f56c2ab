"""The paper exchange's own OCO groups, as a broker's: a filled leg shrinks and then cancels the
other legs, each change an ordinary order event carrying the group."""

from __future__ import annotations

import pydantic
import pytest

from adapters.base import OrderRejected
from adapters.paper import PaperExchange
from copytui.models import AccountEvent, EventKind, OrderStatus, OrderType, Side


def protected(x: PaperExchange, qty: int = 2) -> tuple[str, str, list[AccountEvent]]:
    """Account A long ``qty`` ES with a sell stop and a sell limit in group G1; returns their ids
    and the list the account's events go to from now on."""
    x.account("A")
    x.submit("A", symbol="ES", side=Side.BUY, qty=qty)
    bid, ask = x.quote("ES")
    stop = x.submit("A", symbol="ES", side=Side.SELL, qty=qty, order_type=OrderType.STOP, stop_price=bid - 10,
                    oco_group="G1").id  # fmt: skip
    target = x.submit("A", symbol="ES", side=Side.SELL, qty=qty, order_type=OrderType.LIMIT, price=ask + 10,
                      oco_group="G1").id  # fmt: skip
    events: list[AccountEvent] = []
    x.listen("A", events.append)
    return stop, target, events


def test_a_partly_filled_leg_shrinks_the_other_and_a_complete_one_cancels_it() -> None:
    x = PaperExchange(seed=1)
    stop, target, events = protected(x, qty=3)
    assert {o.broker_order_id: o.oco_group for o in x.open_orders("A")} == {stop: "G1", target: "G1"}
    x.fill("A", target, 1)
    kinds = [(e.kind, e.order_id, e.qty, e.oco_group) for e in events]
    assert kinds == [(EventKind.FILL, target, 3, "G1"), (EventKind.POSITION, None, 0, None),
                     (EventKind.ORDER_MODIFIED, stop, 2, "G1")]  # fmt: skip
    assert events[-1].version == 1 and events[-1].reason == f"oco: {target} filled 1 of 3"
    events.clear()
    x.fill("A", target, 2)
    assert [(e.kind, e.order_id) for e in events][-1] == (EventKind.ORDER_CANCELLED, stop)
    assert x.accounts["A"].orders[stop].status is OrderStatus.CANCELLED
    assert x.position_list("A")[0].qty == 0 and x.open_orders("A") == []


def test_the_market_through_the_stop_fills_it_and_never_the_target_too() -> None:
    x = PaperExchange(seed=1)
    stop, target, events = protected(x)
    x.set_price("ES", x.price("ES") - 30)
    assert x.accounts["A"].orders[stop].status is OrderStatus.FILLED
    assert x.accounts["A"].orders[target].status is OrderStatus.CANCELLED
    x.set_price("ES", x.price("ES") + 80)  # up through where the target was: nothing more fills
    assert x.position_list("A")[0].qty == 0
    assert [e.order_id for e in events if e.kind is EventKind.FILL] == [stop]


def test_orders_outside_a_group_are_untouched() -> None:
    x = PaperExchange(seed=1)
    stop, target, _ = protected(x)
    bid, _ = x.quote("ES")
    other = x.submit("A", symbol="ES", side=Side.BUY, qty=1, order_type=OrderType.LIMIT, price=bid - 5).id
    x.fill("A", target, 2)
    assert x.accounts["A"].orders[other].status is OrderStatus.WORKING
    assert x.accounts["A"].orders[other].info().oco_group is None


def test_an_impossible_group_is_refused_with_what_is_wrong() -> None:
    x = PaperExchange(seed=1)
    x.account("A")
    with pytest.raises(OrderRejected, match="OCO group must be 1 to 64 characters"):
        x.submit("A", symbol="ES", side=Side.SELL, qty=1, order_type=OrderType.LIMIT, price=6000, oco_group="")
    with pytest.raises(pydantic.ValidationError, match="oco_group"):
        AccountEvent(account="A", kind=EventKind.ORDER_NEW, order_id="1", symbol="ES", side=Side.BUY,
                     order_type=OrderType.LIMIT, qty=1, price=1.0, oco_group="G" * 65)  # fmt: skip
