"""Rithmic keeps a follower's bracket OCO itself with ``options.native_oco``: once both legs work, the
adapter sends RequestLinkOrders (344) with their basket ids; the simulator links them in the paper
exchange (a filled leg cancels the other, told as Rithmic's notifications), answers 345, and
refuses links it cannot make; a failed link is reported at the edge; and the engine journals the
sibling's cancel as Rithmic's, sending none of its own. Over real loopback sockets, against the
simulator. async-rithmic 1.6.6 ships no class for 344, so no outside client sends one here."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from adapters.paper.exchange import PaperExchange
from adapters.rithmic import proto
from adapters.rithmic.enums import InfraType, OrderNotify
from adapters.rithmic.messages import TEMPLATES, WIRE_TEMPLATES
from adapters.rithmic.options import parse_options
from adapters.rithmic.order_messages import RequestLinkOrders, ResponseLinkOrders, RithmicOrderNotification
from adapters.rithmic.proto import Message
from adapters.rithmic.simulator import RithmicSimulator, SimUser
from copytui.config import AccountConfig, FollowerConfig
from copytui.models import EventKind, OrderAction, OrderStatus, OrderType, Side
from tests.adapters.rithmic_support import PASSWORD, USER, RawClient, connected, make_adapter, order, simulator, until
from tests.engine_harness import paper_leader_engine

ACCOUNT = "RSIM-1001"


def links(sim: RithmicSimulator, outcome: str = "accepted") -> list[list[str]]:
    """The basket ids of each link request the simulator received with ``outcome``."""
    return [
        list((e.request or {})["basket_id"])
        for e in sim.audit.entries
        if e.action == "link_orders" and e.outcome == outcome
    ]


def protective_legs(x: PaperExchange, group: str | None, qty: int = 2) -> tuple[Any, Any]:
    """A sell stop 10 below and a sell limit 10 above the market, both of follower OCO ``group``."""
    bid, ask = x.quote("ES")
    leg: dict[str, Any] = {"side": Side.SELL, "qty": qty, "oco_group": group}
    return (
        order("ct-stop", order_type=OrderType.STOP, stop_price=bid - 10, **leg),
        order("ct-target", order_type=OrderType.LIMIT, price=ask + 10, **leg),
    )


def paper_id(x: PaperExchange, coid: str) -> str:
    return x.accounts[ACCOUNT].by_client_id[coid].id


async def answer(raw: RawClient, cls: type[Message]) -> Message:
    """The next message of ``cls`` on a raw connection (345 is read with the link templates)."""
    assert raw.ws is not None
    async with asyncio.timeout(5):
        while True:
            got = await raw.ws.receive()
            for body in proto.unframe(got.data):
                msg = proto.decode(body, WIRE_TEMPLATES)
                if isinstance(msg, cls):
                    return msg


# ----------------------------------------------------------------------------- the wire


def test_link_orders_carries_rithmics_field_numbers_and_reads_back() -> None:
    request = RequestLinkOrders(
        user_msg=["q1"], fcm_id=["F"], ib_id=["I"], account_id=[ACCOUNT], basket_id=["P1", "P2"]
    )
    body = proto.encode(request)
    assert proto.decode(body, WIRE_TEMPLATES) == request
    assert proto.decode(body, TEMPLATES) == 344  # not among the templates async-rithmic checks
    fields = {f.name: f.number for f in proto.spec_of(RequestLinkOrders).fields if f.name}
    assert fields == {"user_msg": 132760, "fcm_id": 154013, "ib_id": 154014, "account_id": 154008, "basket_id": 110300}
    assert {f.name: f.number for f in proto.spec_of(ResponseLinkOrders).fields if f.name} == {
        "user_msg": 132760,
        "rp_code": 132766,
    }
    assert OrderNotify.LINK_ORDERS_FAILED == 20


def test_native_oco_is_off_unless_set_true_or_false() -> None:
    def options(**kw: Any) -> AccountConfig:
        return AccountConfig.model_validate({"name": "r1", "broker": "rithmic", "username": "u", "options": kw})

    assert parse_options(options()).native_oco is False
    assert parse_options(options(native_oco=True)).native_oco is True
    with pytest.raises(ValueError, match="options.native_oco"):
        parse_options(options(native_oco="yes"))


# ----------------------------------------------------------------------------- the simulator, by hand


async def test_the_simulator_links_working_orders_and_refuses_what_it_cannot_link() -> None:
    async with simulator() as sim, RawClient(sim.url) as raw:
        x = sim.exchange
        await raw.login(InfraType.ORDER_PLANT)
        bid, ask = x.quote("ES")
        stop = x.submit(ACCOUNT, symbol="ES", side=Side.SELL, qty=1, order_type=OrderType.STOP, stop_price=bid - 5)
        target = x.submit(ACCOUNT, symbol="ES", side=Side.SELL, qty=1, order_type=OrderType.LIMIT, price=ask + 5)
        done = x.submit(ACCOUNT, symbol="ES", side=Side.BUY, qty=1)  # a market order: filled at once

        def link(*baskets: str, tag: str) -> RequestLinkOrders:
            return RequestLinkOrders(
                user_msg=[tag], fcm_id=[sim.desk.fcm_id], ib_id=[sim.desk.ib_id], account_id=[ACCOUNT],
                basket_id=list(baskets),
            )  # fmt: skip

        for baskets, code, says in (
            ((stop.id, "P404"), "5", "no order with basket id P404"),
            ((stop.id, done.id), "5", f"order {done.id} is filled"),
            ((stop.id,), "3", "two basket ids or more"),
        ):
            await raw.send(link(*baskets, tag=f"bad-{len(baskets)}-{code}"))
            refused = await answer(raw, ResponseLinkOrders)
            assert isinstance(refused, ResponseLinkOrders) and refused.rp_code[0] == code, baskets
            assert says in refused.rp_code[1]
        assert stop.oco_group is None and target.oco_group is None  # a refused link links nothing
        assert len(links(sim, "refused")) == 3

        await raw.send(link(stop.id, target.id, tag="good"))
        ok = await answer(raw, ResponseLinkOrders)
        assert isinstance(ok, ResponseLinkOrders) and ok.user_msg == ["good"] and ok.rp_code == ["0"]
        assert stop.oco_group is not None and stop.oco_group == target.oco_group
        x.fill(ACCOUNT, target.id, 1)
        assert stop.status is OrderStatus.CANCELLED


# ----------------------------------------------------------------------------- the adapter


async def test_the_link_request_goes_out_with_both_basket_ids_once_both_legs_work() -> None:
    async with simulator() as sim, connected(sim, native_oco=True) as (adapter, _):
        assert adapter.capabilities.brackets
        stop, target = protective_legs(sim.exchange, "g1")
        first = await adapter.place(stop)
        assert first.status is OrderStatus.WORKING and links(sim) == []  # one leg: nothing to link yet
        second = await adapter.place(target)
        await until(lambda: bool(links(sim)), what="the link request")
        assert links(sim) == [[first.broker_order_id, second.broker_order_id]]
        x = sim.exchange
        assert x.accounts[ACCOUNT].orders[first.broker_order_id or ""].oco_group is not None
        await adapter.place(target)  # the same client id again: answered from the first, no second link
        await adapter.place(order("ct-after", side=Side.BUY, order_type=OrderType.LIMIT, price=x.quote("ES")[0] - 20))
        # the simulator takes order requests in the order they came: a link sent before is recorded by now
        await until(lambda: "ct-after" in [e.client_order_id for e in sim.audit.entries], what="the next order")
        assert len(links(sim)) == 1 and adapter.health.dropped == 0


async def test_a_filled_target_cancels_the_stop_at_rithmic_and_copytui_sends_no_cancel() -> None:
    async with simulator() as sim, connected(sim, native_oco=True) as (adapter, c):
        x = sim.exchange
        for leg in protective_legs(x, "g1"):
            await adapter.place(leg)
        await until(lambda: bool(links(sim)), what="the link")
        x.fill(ACCOUNT, paper_id(x, "ct-target"), 2)

        def cancelled() -> list[Any]:
            return [e for e in c.events if e.kind is EventKind.ORDER_CANCELLED and e.client_order_id == "ct-stop"]

        await until(lambda: bool(cancelled()), what="the stop's cancel")
        [cancel] = cancelled()
        assert cancel.reason and "ct-target filled (linked at Rithmic" in cancel.reason
        assert [e.fill_qty for e in c.events if e.kind is EventKind.FILL] == [2]
        assert await adapter.open_orders() == []
        assert [e.action for e in sim.audit.entries] == ["new_order", "new_order", "link_orders"]


async def test_a_cancelled_leg_goes_alone_at_the_simulator() -> None:
    """What Rithmic's link does on a cancel is not public: the simulator cancels only that leg."""
    async with simulator() as sim, connected(sim, native_oco=True) as (adapter, _):
        for leg in protective_legs(sim.exchange, "g1"):
            await adapter.place(leg)
        await until(lambda: bool(links(sim)), what="the link")
        cancel = order("ct-cancel", side=Side.SELL).model_copy(
            update={"action": OrderAction.CANCEL, "target_client_order_id": "ct-stop"}
        )
        assert (await adapter.cancel(cancel)).status is OrderStatus.CANCELLED
        assert [o.client_order_id for o in await adapter.open_orders()] == ["ct-target"]


async def test_a_refused_link_is_reported_and_the_legs_stay_apart() -> None:
    async with simulator() as sim, connected(sim, native_oco=True) as (adapter, c):
        sim.refuse_links = 1
        x = sim.exchange
        for leg in protective_legs(x, "g1"):
            assert (await adapter.place(leg)).status is OrderStatus.WORKING  # the orders themselves stand
        await until(lambda: adapter.health.dropped > 0, what="the refused link's report")
        assert len(links(sim, "refused")) == 1 and links(sim) == []
        assert adapter.health.dropped == 1
        assert "OCO group g1 are not known to be linked at Rithmic (refused" in adapter.health.last_dropped
        x.fill(ACCOUNT, paper_id(x, "ct-target"), 2)
        await until(lambda: any(e.kind is EventKind.FILL for e in c.events), what="the target's fill")
        assert [o.client_order_id for o in await adapter.open_orders()] == ["ct-stop"]


async def test_link_orders_failed_from_rithmic_is_reported_once_for_its_group() -> None:
    async with simulator() as sim, connected(sim, native_oco=True) as (adapter, _):
        for leg in protective_legs(sim.exchange, "g1"):
            await adapter.place(leg)
        await until(lambda: bool(links(sim)), what="the link")
        assert adapter.health.dropped == 0
        failed = [
            RithmicOrderNotification(
                notify_type=OrderNotify.LINK_ORDERS_FAILED, basket_id=paper_id(sim.exchange, coid),
                account_id=ACCOUNT, user_tag=coid, text="link rejected by the gateway",
            )
            for coid in ("ct-stop", "ct-target")
        ]  # fmt: skip
        assert sim.inject(ACCOUNT, b"".join(proto.frame(n) for n in failed)) == 1
        await until(lambda: adapter.health.dropped > 0, what="the failed link's report")
        assert adapter.health.dropped == 1  # both notifications came in one frame, read in one pass
        assert "OCO group g1 are not known to be linked at Rithmic (LINK_ORDERS_FAILED" in adapter.health.last_dropped
        assert "link rejected by the gateway" in adapter.health.last_dropped


async def test_without_native_oco_no_link_goes_out_and_copytui_keeps_the_oco() -> None:
    async with simulator() as sim, connected(sim) as (adapter, _):
        assert not adapter.capabilities.brackets
        for leg in protective_legs(sim.exchange, "g1"):
            assert (await adapter.place(leg)).status is OrderStatus.WORKING
        assert [e.action for e in sim.audit.entries] == ["new_order", "new_order"]
        assert all(o.oco_group is None for o in sim.exchange.accounts[ACCOUNT].orders.values())


# ----------------------------------------------------------------------------- with the engine


async def test_engine_mirrors_a_bracket_as_one_rithmic_link_and_journals_its_cancel(tmp_path: Path) -> None:
    """A paper leader's bracket, mirrored to a Rithmic follower with native_oco: both legs are
    linked at Rithmic; the follower's target fills first and Rithmic cancels its stop, which the
    engine journals as the broker's cancel; copytui sends no cancel, then or when the leader's OCO acts."""
    x = PaperExchange(seed=4)
    x.account("lead")
    async with RithmicSimulator(x, users={USER: SimUser(PASSWORD, [ACCOUNT])}) as sim:
        follower = make_adapter(sim, "r1", ACCOUNT, native_oco=True)
        cfg = FollowerConfig(name="r1", broker="rithmic", mode="mirror")
        async with paper_leader_engine(tmp_path, x, (cfg, follower)) as (engine, rows):

            def working() -> dict[OrderType, Any]:
                return {o.order_type: o for o in x.open_orders(ACCOUNT)}

            x.submit("lead", symbol="ES", side=Side.BUY, qty=2)
            bid, ask = x.quote("ES")
            leg: dict[str, Any] = {"symbol": "ES", "side": Side.SELL, "qty": 2, "oco_group": "G1"}
            x.submit("lead", order_type=OrderType.STOP, stop_price=bid - 10, **leg)
            target = x.submit("lead", order_type=OrderType.LIMIT, price=ask + 10, **leg).id
            await until(lambda: bool(links(sim)), what="the follower's legs linked at Rithmic")
            await until(lambda: bool(follower.links.linked), what="Rithmic's answer read: it keeps the group")
            copies = working()
            assert set(copies) == {OrderType.STOP, OrderType.LIMIT}
            assert links(sim) == [[copies[OrderType.STOP].broker_order_id, copies[OrderType.LIMIT].broker_order_id]]
            stop_coid = copies[OrderType.STOP].client_order_id or ""

            x.fill(ACCOUNT, copies[OrderType.LIMIT].broker_order_id, 2)  # the follower's target, first
            sql = "SELECT status, reason FROM intents WHERE client_order_id=?"
            await until(lambda: rows(sql, stop_coid) and rows(sql, stop_coid)[0][0] == "cancelled",
                        what="the stop journaled cancelled")  # fmt: skip
            [(_, reason)] = rows(sql, stop_coid)
            assert reason and "linked at Rithmic" in reason
            x.fill("lead", target, 2)  # now the leader's: its own OCO cancels its stop
            assert await engine.drain(timeout_s=5)
            assert x.accounts[ACCOUNT].positions["ES"].qty == 0 and x.open_orders(ACCOUNT) == []
            assert rows("SELECT 1 FROM intents WHERE follower='r1' AND action='cancel'") == []
            assert "cancel_order" not in [e.action for e in sim.audit.entries]
            assert not [a for a in engine.alerts if a.level != "info"]


async def test_engine_keeps_a_group_itself_when_rithmic_refuses_its_link(tmp_path: Path) -> None:
    """native_oco, but the link is refused: the engine does not leave the follower's stop working
    after its target filled; it cancels the stop itself, as where the broker has no OCO."""
    x = PaperExchange(seed=4)
    x.account("lead")
    async with RithmicSimulator(x, users={USER: SimUser(PASSWORD, [ACCOUNT])}) as sim:
        sim.refuse_links = 1
        follower = make_adapter(sim, "r1", ACCOUNT, native_oco=True)
        cfg = FollowerConfig(name="r1", broker="rithmic", mode="mirror")
        async with paper_leader_engine(tmp_path, x, (cfg, follower)) as (engine, rows):
            x.submit("lead", symbol="ES", side=Side.BUY, qty=2)
            bid, ask = x.quote("ES")
            leg: dict[str, Any] = {"symbol": "ES", "side": Side.SELL, "qty": 2, "oco_group": "G1"}
            x.submit("lead", order_type=OrderType.STOP, stop_price=bid - 10, **leg)
            x.submit("lead", order_type=OrderType.LIMIT, price=ask + 10, **leg)
            await until(lambda: follower.health.dropped > 0, what="the refused link's report")
            copies = {o.order_type: o for o in x.open_orders(ACCOUNT)}
            x.fill(ACCOUNT, copies[OrderType.LIMIT].broker_order_id, 2)  # the follower's target fills
            await until(lambda: x.open_orders(ACCOUNT) == [], what="the stop cancelled by copytui")
            reasons = [r for (r,) in rows("SELECT reason FROM intents WHERE action='cancel'")]
            assert reasons == ["oco: target filled"]
            assert "cancel_order" in [e.action for e in sim.audit.entries]
