"""A bracket sent to a follower's broker as one OCO pair (``Capabilities.oco_orders``), on the real
engine, the paper exchange (``options: {native_oco: true}``) and a real journal: the broker keeps
the pair, copytui sends no cancel of its own; legs that come apart, and a refused pair, are kept
by copytui as before."""

from __future__ import annotations

import asyncio
from typing import Any

from adapters.base import AdapterContext
from adapters.kit.tasks import TaskGroup
from adapters.paper import Faults, PaperAdapter, PaperExchange, create_adapter
from copytui.config import AccountConfig
from copytui.engine.lane import Item, OrderLane
from copytui.models import FollowerOrder, OrderAction, OrderStatus, OrderType, Side
from tests.engine_harness import LEADER, Harness, follower, running
from tests.test_oco import bracket, cancels, legs, oco_rows, status


class PairedPaper(PaperAdapter):
    """The paper adapter as ``options: {native_oco: true}`` makes it."""

    def __init__(self, exchange: PaperExchange, account: str) -> None:
        super().__init__(exchange, account, native_oco=True)


def exchange_groups(h: Harness, account: str) -> list[str | None]:
    """The OCO group the paper exchange itself keeps on each of the account's orders."""
    return [o.oco_group for o in h.x.accounts[account].orders.values()]


def brackets(h: Harness, name: str) -> str:
    """What the follower's details on the desk say of its brackets."""
    return {v.name: v for v in h.engine.snapshot().followers}[name].brackets


def sent_at(h: Harness, name: str) -> list[int]:
    return [r[0] for r in h.rows("SELECT sent_ns FROM intents WHERE follower=? AND action='place'", name)]


async def test_a_bracket_goes_as_one_pair_and_the_broker_cancels_the_stop(tmp_path) -> None:
    fs = [follower("n", mode="mirror", multiplier=2), follower("m", mode="mirror")]
    async with running(tmp_path, fs, adapter_types={"n": PairedPaper}) as h:
        stop, target = bracket(h, entry=False)
        await h.settle()
        n_stop, n_target = legs(h, "n")
        assert (n_stop.qty, n_target.qty) == (4, 4)
        groups = exchange_groups(h, "n")
        assert len(groups) == 2 and groups[0] is not None and groups[0] == groups[1]  # the exchange keeps it
        assert len(set(sent_at(h, "n"))) == 1  # one request for both legs
        assert exchange_groups(h, "m") == [None, None]  # no native_oco: copytui keeps that follower's pair
        assert brackets(h, "n") == "native pairs"

        h.x.fill("n", n_target.broker_order_id, 4)  # the broker's OCO cancels the stop
        m_stop, m_target = legs(h, "m")
        h.x.fill("m", m_target.broker_order_id, 2)  # copytui's cancels m's
        await h.settle()
        assert status(h, "n", n_stop.broker_order_id) is OrderStatus.CANCELLED
        assert cancels(h, "n") == 0  # the exchange cancelled it; copytui sent nothing
        assert oco_rows(h, "m") == [("cancel", 0, "oco: target filled")]
        h.x.fill(LEADER, target, 2)
        await h.settle()
        assert status(h, LEADER, stop) is OrderStatus.CANCELLED
        assert cancels(h, "n") == 0 and h.x.open_orders("n") == [] and h.pos("n", "ES") == -4
        assert not [a for a in h.engine.alerts if a.level != "info"]


async def test_legs_that_come_apart_go_one_by_one_and_copytui_keeps_the_pair(tmp_path) -> None:
    async with running(tmp_path, [follower("n", mode="mirror")], adapter_types={"n": PairedPaper}) as h:
        bid, ask = h.x.quote("ES")
        leg: dict[str, Any] = {"symbol": "ES", "side": Side.SELL, "qty": 1, "oco_group": "G7"}
        h.x.submit(LEADER, order_type=OrderType.STOP, stop_price=bid - 10, **leg)
        await h.settle()  # the stop is copied alone before the leader's target exists
        assert exchange_groups(h, "n") == [None]
        h.x.submit(LEADER, order_type=OrderType.LIMIT, price=ask + 10, **leg)
        await h.settle()
        n_stop, n_target = legs(h, "n")
        assert exchange_groups(h, "n") == [None, None]
        assert brackets(h, "n") == "native pairs"
        h.x.fill("n", n_target.broker_order_id, 1)
        await h.settle()
        assert status(h, "n", n_stop.broker_order_id) is OrderStatus.CANCELLED
        assert oco_rows(h, "n") == [("cancel", 0, "oco: target filled")]  # copytui kept this one


async def test_a_refused_pair_is_two_rejected_legs_and_nothing_works(tmp_path) -> None:
    async with running(tmp_path, [follower("n", mode="mirror")], adapter_types={"n": PairedPaper},
                       faults={"n": Faults(reject_rate=1.0)}) as h:  # fmt: skip
        bracket(h, entry=False)
        await h.settle()
        rows = h.rows("SELECT status, reason FROM intents WHERE follower='n' AND action='place'")
        assert [r[0] for r in rows] == ["rejected", "rejected"]
        assert all(r[1].startswith("OCO pair refused: ") for r in rows), rows
        assert h.x.open_orders("n") == []
        log = [(r.status, r.reason[:18]) for r in h.engine.blotter.log_rows if r.follower == "n"]
        assert log[-2:] == [("rejected", "OCO pair refused: ")] * 2, log


def test_native_oco_is_a_paper_option_refused_when_it_is_not_a_flag() -> None:
    ctx = AdapterContext(paper_exchange=PaperExchange())
    on = create_adapter(AccountConfig(name="p1", options={"native_oco": True}), ctx)
    off = create_adapter(AccountConfig(name="p2"), ctx)
    assert on.capabilities.oco_orders and not off.capabilities.oco_orders
    try:
        create_adapter(AccountConfig(name="p3", options={"native_oco": "maybe"}), ctx)
    except ValueError as exc:
        assert "account p3: options.native_oco: must be a valid boolean" in str(exc)
    else:
        raise AssertionError("a non-flag native_oco was accepted")


def _order(n: int, group: str | None = None, action: OrderAction = OrderAction.PLACE) -> FollowerOrder:
    return FollowerOrder(follower="f", signal_id=f"s{n}", client_order_id=f"c{n}", action=action, symbol="ES",
                         side=Side.SELL, qty=1, order_type=OrderType.LIMIT, price=5000.0 + n,
                         oco_group=group)  # fmt: skip


def _names(item: Item) -> str:
    return "+".join(o.client_order_id for o in item) if isinstance(item, tuple) else item.client_order_id


async def test_the_lane_pairs_two_legs_and_keeps_the_journal_order_otherwise() -> None:
    sent: list[str] = []

    async def execute(item: Item) -> None:
        sent.append(_names(item))

    lane = OrderLane("f", execute, TaskGroup(), pairable=lambda o: o.client_order_id in {"c1", "c4", "c6", "c7", "c9"})
    lane.put_nowait(_order(1, "g1"))
    assert sent == [] and not lane.empty()  # held for its second leg
    lane.put_nowait(_order(2, "g1"))
    lane.put_nowait(_order(4, "g2"))
    lane.put_nowait(_order(5))  # not its pair: the held leg goes first, alone
    lane.put_nowait(_order(6, "g3"))
    lane.put_nowait(_order(7, "g4"))  # another bracket's first leg: g3's goes alone, this one waits
    lane.put_nowait(_order(8, "g4"))
    lane.put_nowait(_order(9, "g5"))
    await asyncio.sleep(0.01)  # the end of the pass: the held leg goes alone
    assert sent == ["c1+c2", "c4", "c5", "c6", "c7+c8", "c9"]
    assert lane.empty() and lane.busy == 0


async def test_the_leaders_own_oco_cancel_is_left_to_the_followers_broker(tmp_path) -> None:
    """The leader's target fills first and its OCO cancels its stop: at a follower whose broker keeps
    the pair, copytui does not cancel the stop (where a cancel takes the pair, DTC or NinjaTrader,
    that would cancel the follower's target too); the follower keeps both legs until its own fills."""
    async with running(tmp_path, [follower("n", mode="mirror")], adapter_types={"n": PairedPaper}) as h:
        stop, target = bracket(h, entry=False)
        await h.settle()
        n_stop, n_target = legs(h, "n")
        h.x.fill(LEADER, target, 2)
        await h.settle()
        assert status(h, LEADER, stop) is OrderStatus.CANCELLED
        assert cancels(h, "n") == 0 and len(h.x.open_orders("n")) == 2  # both legs still protect it
        skipped = h.rows("SELECT reason FROM intents WHERE follower='n' AND status='skipped'")
        assert skipped == [("oco: its broker cancels it when the other leg fills",)]
        h.x.fill("n", n_target.broker_order_id, 2)
        await h.settle()
        assert status(h, "n", n_stop.broker_order_id) is OrderStatus.CANCELLED and h.x.open_orders("n") == []
        assert cancels(h, "n") == 0 and h.pos("n", "ES") == -2


async def test_a_pair_its_broker_keeps_is_left_to_it_after_a_restart(tmp_path) -> None:
    """A new process learns from the broker's own view of each working order (its OCO group) which
    pairs the broker keeps: it sends no cancel of its own when the follower's target fills."""
    x = PaperExchange(seed=4)
    fs = [follower("n", mode="mirror")]
    async with running(tmp_path, fs, exchange=x, adapter_types={"n": PairedPaper}) as h:
        bracket(h, entry=False)
        await h.settle()
        n_stop, n_target = legs(h, "n")
    async with running(tmp_path, fs, exchange=x, adapter_types={"n": PairedPaper}) as h:
        h.x.fill("n", n_target.broker_order_id, 2)
        await h.settle()
        assert status(h, "n", n_stop.broker_order_id) is OrderStatus.CANCELLED
        assert cancels(h, "n") == 0 and len(x.accounts["n"].submissions) == 2
        assert not [a for a in h.engine.alerts if a.level != "info"]


async def test_the_leaders_stop_move_moves_the_followers_leg_inside_the_brokers_pair(tmp_path) -> None:
    async with running(tmp_path, [follower("n", mode="mirror", multiplier=2)], adapter_types={"n": PairedPaper}) as h:
        stop, target = bracket(h, entry=False)
        await h.settle()
        n_stop, n_target = legs(h, "n")
        assert n_stop.stop_price is not None
        new_stop = n_stop.stop_price - 2
        h.x.modify(LEADER, stop, stop_price=new_stop)
        await h.settle()
        moved, _ = legs(h, "n")
        assert (moved.broker_order_id, moved.stop_price, moved.qty) == (n_stop.broker_order_id, new_stop, 4)
        assert len(set(exchange_groups(h, "n"))) == 1  # still one pair at the exchange
        h.x.fill("n", n_target.broker_order_id, 4)
        await h.settle()
        assert status(h, "n", n_stop.broker_order_id) is OrderStatus.CANCELLED and cancels(h, "n") == 0


async def test_a_third_leg_makes_copytui_keep_the_whole_group(tmp_path) -> None:
    """The broker's pair holds two legs; a third leg of the leader's group (a second target) is not
    in it, so copytui keeps the group: the stop's fill cancels both targets."""
    async with running(tmp_path, [follower("n", mode="mirror")], adapter_types={"n": PairedPaper}) as h:
        bracket(h, entry=False)
        await h.settle()
        _, ask = h.x.quote("ES")
        h.x.submit(LEADER, symbol="ES", side=Side.SELL, qty=2, order_type=OrderType.LIMIT, price=ask + 20,
                   oco_group="G1")  # fmt: skip
        await h.settle()
        orders = {o.price or o.stop_price: o for o in h.x.open_orders("n")}
        assert len(orders) == 3 and exchange_groups(h, "n")[2] is None  # the third went alone
        n_stop = next(o for o in orders.values() if o.order_type is OrderType.STOP)
        h.x.fill("n", n_stop.broker_order_id, 2)
        await h.settle()
        assert h.x.open_orders("n") == []  # the pair's target by the broker, the third by copytui
        assert [r[2] for r in oco_rows(h, "n") if r[0] == "cancel"] == ["oco: stop filled"]
