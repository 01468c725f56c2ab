"""Brackets copied safely: copytui keeps a mirror follower's OCO pair itself (its broker has none),
on the real engine, the paper exchange and a real journal."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from adapters.paper import Faults, PaperAdapter
from copytui.models import OrderInfo, OrderStatus, OrderType, Side
from tests.engine_harness import LEADER, Harness, follower, running
from tests.test_engine import NoModifyPaper


def bracket(h: Harness, qty: int = 2, group: str = "G1", entry: bool = True) -> tuple[str, str]:
    """The leader buys ``qty`` ES at market (unless not ``entry``), then protects it: a sell stop
    10 below and a sell limit 10 above, one OCO group. Returns (stop id, target id)."""
    if entry:
        h.buy("ES", qty)
    bid, ask = h.x.quote("ES")
    leg: dict[str, Any] = {"symbol": "ES", "side": Side.SELL, "qty": qty, "oco_group": group}
    stop = h.x.submit(LEADER, order_type=OrderType.STOP, stop_price=bid - 10, **leg).id
    target = h.x.submit(LEADER, order_type=OrderType.LIMIT, price=ask + 10, **leg).id
    return stop, target


def legs(h: Harness, account: str) -> tuple[OrderInfo, OrderInfo]:
    """The account's working (stop, target)."""
    orders = {o.order_type: o for o in h.x.open_orders(account)}
    assert set(orders) == {OrderType.STOP, OrderType.LIMIT}, orders
    return orders[OrderType.STOP], orders[OrderType.LIMIT]


def oco_rows(h: Harness, name: str) -> list[tuple[Any, ...]]:
    sql = "SELECT action, qty, reason FROM intents WHERE follower=? AND reason LIKE 'oco:%' ORDER BY rowid"
    return h.rows(sql, name)


def cancels(h: Harness, name: str) -> int:
    return len(h.rows("SELECT 1 FROM intents WHERE follower=? AND action='cancel'", name))


def status(h: Harness, account: str, order_id: str) -> OrderStatus:
    return h.x.accounts[account].orders[order_id].status


async def test_a_filled_target_cancels_each_mirror_followers_stop_before_the_leader_does(tmp_path) -> None:
    fs = [follower("m", mode="mirror"), follower("m2", mode="mirror", multiplier=2), follower("fl")]
    async with running(tmp_path, fs) as h:
        stop, target = bracket(h)
        await h.settle()
        assert h.pos("m", "ES") == 2 and h.pos("m2", "ES") == 4 and h.pos("fl", "ES") == 2
        assert h.x.open_orders("fl") == []  # fills mode copies fills only
        copies = {name: legs(h, name) for name in ("m", "m2")}
        assert [c.qty for c in copies["m2"]] == [4, 4]
        assert [c.oco_group for c in copies["m"]] == [None, None]  # the paper follower has no OCO: copytui's job
        for name, (_, m_target) in copies.items():  # the followers' targets fill; the leader's not yet
            h.x.fill(name, m_target.broker_order_id, m_target.qty)
        await h.settle()
        for name, (m_stop, _) in copies.items():
            assert h.pos(name, "ES") == 0
            assert status(h, name, m_stop.broker_order_id) is OrderStatus.CANCELLED
            assert oco_rows(h, name) == [("cancel", 0, "oco: target filled")]
        assert status(h, LEADER, stop) is OrderStatus.WORKING  # copytui did not wait for the leader
        logged = [r.reason for r in h.engine.blotter.log_rows if r.follower == "m" and r.action == "cancel"]
        assert logged == ["oco: target filled"]

        h.x.fill(LEADER, target, 2)  # now the leader's target: its own OCO cancels its stop
        await h.settle()
        assert status(h, LEADER, stop) is OrderStatus.CANCELLED and h.pos(LEADER, "ES") == 0
        for name in ("m", "m2"):  # the leader's cancel is a no-op: no second cancel, nothing re-placed
            assert cancels(h, name) == 1 and h.x.open_orders(name) == []
            assert len(h.x.accounts[name].submissions) == 3
        assert h.pos("fl", "ES") == 0 and len(h.x.accounts["fl"].submissions) == 2
        h.x.set_price("ES", h.x.price("ES") - 40)  # through where the stops were: no second fill
        await h.settle()
        assert [h.pos(n, "ES") for n in ("m", "m2", "fl")] == [0, 0, 0]
        assert not [a for a in h.engine.alerts if a.level != "info"]


async def test_the_market_reaching_the_target_everywhere_leaves_one_cancel_per_stop(tmp_path) -> None:
    """The leader's OCO cancel and the follower's own fill race; whichever comes first, one cancel."""
    fs = [follower("m", mode="mirror"), follower("n", mode="mirror", multiplier=3)]
    async with running(tmp_path, fs) as h:
        _, target = bracket(h)
        await h.settle()
        target_price = h.x.accounts[LEADER].orders[target].price
        assert target_price is not None
        h.x.set_price("ES", target_price + 1)
        await h.settle()
        for name in ("m", "n"):
            assert h.pos(name, "ES") == 0 and h.x.open_orders(name) == []
            assert cancels(h, name) == 1
        assert not [r for r in h.rows("SELECT status FROM intents") if r[0] == "rejected"]
        assert not [a for a in h.engine.alerts if a.level != "info"]


async def test_the_leaders_cancel_while_copytuis_own_is_on_its_way_is_a_no_op(tmp_path) -> None:
    slow = {"m": Faults(latency_ms=400)}  # a request reaches the follower's exchange 0.2 s after it is written
    async with running(tmp_path, [follower("m", mode="mirror")], faults=slow) as h:
        stop, target = bracket(h)
        await h.settle()
        m_stop, m_target = legs(h, "m")
        h.x.fill("m", m_target.broker_order_id, 2)
        for _ in range(100):  # copytui read the fill and its cancel of the stop is on its way
            await asyncio.sleep(0.005)
            if h.engine.followers["m"].state.cancelling:
                break
        assert status(h, "m", m_stop.broker_order_id) is OrderStatus.WORKING
        h.x.fill(LEADER, target, 2)  # ...when the leader's own OCO cancel of its stop arrives
        await h.settle()
        assert status(h, "m", m_stop.broker_order_id) is OrderStatus.CANCELLED and h.pos("m", "ES") == 0
        assert cancels(h, "m") == 1 and oco_rows(h, "m") == [("cancel", 0, "oco: target filled")]
        assert not h.rows("SELECT 1 FROM intents WHERE status='rejected'")
        assert not [a for a in h.engine.alerts if a.level != "info"]


async def test_a_partly_filled_target_shrinks_the_stop_and_the_leaders_own_shrink_is_a_no_op(tmp_path) -> None:
    async with running(tmp_path, [follower("m", mode="mirror", multiplier=2)]) as h:
        stop, target = bracket(h)
        await h.settle()
        m_stop, m_target = legs(h, "m")
        h.x.fill("m", m_target.broker_order_id, 2)  # 2 of the follower's 4
        await h.settle()
        m_stop, _ = legs(h, "m")
        assert (m_stop.qty, h.pos("m", "ES")) == (2, 2)
        assert oco_rows(h, "m") == [("modify", 2, "oco: target partly filled (2 of 4)")]
        h.x.fill(LEADER, target, 1)  # the leader's own OCO shrinks its stop to 1: rule 2 x 1 = 2
        await h.settle()
        assert h.x.accounts[LEADER].orders[stop].qty == 1
        assert len(h.rows("SELECT 1 FROM intents WHERE follower='m' AND action='modify'")) == 1
        assert legs(h, "m")[0].qty == 2
        h.x.fill("m", m_target.broker_order_id, 2)  # the rest of the follower's target
        await h.settle()
        assert h.pos("m", "ES") == 0 and h.x.open_orders("m") == []
        assert [r[2] for r in oco_rows(h, "m")] == ["oco: target partly filled (2 of 4)", "oco: target filled"]
        h.x.fill(LEADER, target, 1)
        await h.settle()
        assert cancels(h, "m") == 1 and h.pos(LEADER, "ES") == 0
        assert not [a for a in h.engine.alerts if a.level != "info"]


async def test_a_broker_without_modify_gets_the_smaller_stop_by_cancel_and_replace(tmp_path) -> None:
    async with running(tmp_path, [follower("m", mode="mirror")], adapter_types={"m": NoModifyPaper}) as h:
        _, target = bracket(h, qty=3)
        await h.settle()
        m_stop, m_target = legs(h, "m")
        h.x.fill("m", m_target.broker_order_id, 1)
        await h.settle()
        smaller, _ = legs(h, "m")
        assert smaller.qty == 2 and smaller.broker_order_id != m_stop.broker_order_id
        assert smaller.stop_price == m_stop.stop_price
        assert status(h, "m", m_stop.broker_order_id) is OrderStatus.CANCELLED
        h.x.fill(LEADER, target, 1)  # the leader's own shrink to 2: already done, nothing re-placed
        await h.settle()
        assert len(h.x.accounts["m"].submissions) == 4  # entry, stop, target, the smaller stop
        h.x.fill("m", m_target.broker_order_id, 2)
        await h.settle()
        assert h.pos("m", "ES") == 0 and h.x.open_orders("m") == []
        assert status(h, "m", smaller.broker_order_id) is OrderStatus.CANCELLED


class NativeOcoPaper(PaperAdapter):
    """A broker that keeps OCO groups itself."""

    capabilities = replace(PaperAdapter.capabilities, brackets=True)


async def test_a_broker_with_native_oco_gets_the_group_and_copytui_sends_no_cancel(tmp_path) -> None:
    async with running(tmp_path, [follower("n", mode="mirror")], adapter_types={"n": NativeOcoPaper}) as h:
        stop, target = bracket(h)
        await h.settle()
        n_stop, n_target = legs(h, "n")
        orders = h.x.accounts["n"].orders
        group = orders[n_stop.broker_order_id].oco_group
        assert group and group == orders[n_target.broker_order_id].oco_group and group != "G1"
        h.x.fill("n", n_target.broker_order_id, 2)  # the broker's own OCO cancels the stop
        await h.settle()
        assert status(h, "n", n_stop.broker_order_id) is OrderStatus.CANCELLED
        h.x.fill(LEADER, target, 2)
        await h.settle()
        assert cancels(h, "n") == 0 and h.pos("n", "ES") == 0 and status(h, LEADER, stop) is OrderStatus.CANCELLED
        assert not [a for a in h.engine.alerts if a.level != "info"]


async def test_both_legs_filling_at_the_follower_before_the_cancel_lands_is_reported_as_drift(tmp_path) -> None:
    async with running(tmp_path, [follower("m", mode="mirror")]) as h:
        bracket(h)
        await h.settle()
        m_stop, m_target = legs(h, "m")
        h.x.fill("m", m_target.broker_order_id, 2)  # both before copytui reads either fill: a broker fact
        h.x.fill("m", m_stop.broker_order_id, 2)
        await h.settle()
        assert h.pos("m", "ES") == -2 and h.pos(LEADER, "ES") == 2
        await h.engine.reconcile_now()
        drift = [a.message for a in h.engine.alerts if a.kind == "drift" and a.follower == "m"]
        assert drift == ["ES expected +2, broker -2: wrong size"]
        assert len(h.x.accounts["m"].submissions) == 3  # nothing sent on top of it


async def test_a_trailing_leader_stop_is_followed_modification_by_modification(tmp_path) -> None:
    async with running(tmp_path, [follower("m", mode="mirror", multiplier=2), follower("r", mode="mirror")],
                       adapter_types={"r": NoModifyPaper}) as h:  # fmt: skip
        stop, _ = bracket(h)
        await h.settle()
        price = h.x.accounts[LEADER].orders[stop].stop_price
        assert price is not None
        for step in (1, 2, 3):
            h.x.modify(LEADER, stop, stop_price=price + 2 * step)
            await h.settle()
            for name, qty in (("m", 4), ("r", 2)):
                m_stop, _ = legs(h, name)
                assert (m_stop.stop_price, m_stop.qty) == (price + 2 * step, qty), (name, step)
        assert len(h.rows("SELECT 1 FROM intents WHERE follower='m' AND action='modify'")) == 3
        assert h.x.open_orders("m")[0].stop_price == price + 6


async def test_a_close_only_follower_gets_both_legs_protecting_what_it_holds(tmp_path) -> None:
    """A bracket's second leg opens nothing: with the first, the pair closes the position once."""
    async with running(tmp_path, [follower("c", mode="mirror", close_only=True)]) as h:
        h.engine.pause("c")
        h.buy("ES", 2)
        await h.settle()
        assert h.pos("c", "ES") == 0
        h.engine.resume("c")  # the trader syncs it by hand (an operator's sync may open)
        await h.settle()
        assert h.pos("c", "ES") == 2
        bracket(h, entry=False)
        await h.settle()
        c_stop, c_target = legs(h, "c")
        assert (c_stop.qty, c_target.qty) == (2, 2)
        h.x.fill("c", c_target.broker_order_id, 2)
        await h.settle()
        assert h.pos("c", "ES") == 0 and h.x.open_orders("c") == []
