"""A Sierra Chart leader's OCO pairs and brackets (SUBMIT_NEW_OCO_ORDER, sent by the trader's own
DTC tool): the simulator links the legs and names the other leg (OCOLinkedOrderServerOrderID) and
the parent (ParentServerOrderID) in each ORDER_UPDATE; the adapter reads one ``oco_group`` for both
legs, in its events and in the open orders it reads after a reconnect; and the engine copies a
bracket to a paper mirror follower as one OCO group, so the leader's filled target cancels the
follower's stop. Over real loopback sockets, against the simulator."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from adapters.kit.conformance import Venue
from adapters.paper import PaperAdapter
from adapters.sierrachart.simulator import SierraChartSimulator
from adapters.sierrachart.wire import Msg, Reason, Status
from copytui.config import AccountConfig, FollowerConfig
from copytui.engine import Engine
from copytui.journal import Journal
from copytui.models import AccountEvent, EventKind, OrderStatus, OrderType
from tests.adapters.sierrachart_support import RawDtc, make_adapter, running_sim, until

ACCOUNT = "Sim1"


@contextlib.asynccontextmanager
async def trader(sim: SierraChartSimulator) -> AsyncIterator[RawDtc]:
    """The leader's own DTC tool, logged on to the trade account."""
    client = RawDtc(sim.port)
    await client.open()
    await client.logon(ACCOUNT)
    try:
        yield client
    finally:
        await client.close()


def leader(sim: SierraChartSimulator) -> contextlib.AbstractAsyncContextManager[Venue]:
    """copytui's adapter on the leader's account, its events collected."""
    return Venue.open(sim.exchange, ACCOUNT, lambda: make_adapter(sim, "lead", ACCOUNT), lambda: None)


def send_oco(
    client: RawDtc, sim: SierraChartSimulator, stop: str, target: str, qty: int = 2, parent: str = "", **kw: Any
) -> None:
    """A sell stop 10 below the market, OCO with a sell limit 10 above: the protection of a long."""
    bid, ask = sim.exchange.quote("ES")
    client.send(
        {
            "Type": Msg.SUBMIT_NEW_OCO_ORDER,
            "Symbol": sim.contracts["ES"],
            "Exchange": "",
            "TradeAccount": ACCOUNT,
            "ClientOrderID_1": stop,
            "OrderType_1": 3,
            "BuySell_1": 2,
            "Price1_1": bid - 10,
            "Quantity_1": qty,
            "ClientOrderID_2": target,
            "OrderType_2": 2,
            "BuySell_2": 2,
            "Price1_2": ask + 10,
            "Quantity_2": qty,
            "TimeInForce": 2,
            "IsAutomatedOrder": 0,
            "ParentTriggerClientOrderID": parent,
        }
        | kw  # fmt: skip
    )


def send_parent(client: RawDtc, sim: SierraChartSimulator, coid: str, qty: int = 2, limit: float | None = None) -> None:
    """A bracket's parent (IsParentOrder 1): a buy at the market, or a buy limit at ``limit``."""
    prices = {"OrderType": 2, "Price1": limit} if limit is not None else {"OrderType": 1}
    client.send(
        {
            "Type": Msg.SUBMIT_NEW_SINGLE_ORDER,
            "Symbol": sim.contracts["ES"],
            "Exchange": "",
            "TradeAccount": ACCOUNT,
            "ClientOrderID": coid,
            "BuySell": 1,
            "Quantity": qty,
            "TimeInForce": 2,
            "IsAutomatedOrder": 0,
            "IsParentOrder": 1,
            **prices,
        }  # fmt: skip
    )


async def update(client: RawDtc, coid: str, status: int) -> dict[str, Any]:
    """The first ORDER_UPDATE the trader's tool reads for ``coid`` with ``status``."""
    return await client.wait(
        lambda m: m["Type"] == 301 and m.get("ClientOrderID") == coid and m["OrderStatus"] == status
    )


def of(v: Venue, kind: EventKind, coid: str) -> list[AccountEvent]:
    return [e for e in v.events if e.kind is kind and e.client_order_id == coid]


def paper_id(sim: SierraChartSimulator, coid: str) -> str:
    return sim.exchange.accounts[ACCOUNT].by_client_id[coid].id


# ------------------------------------------------------------------ the adapter, a leader
async def test_an_oco_pairs_legs_arrive_with_one_group_and_a_plain_order_with_none() -> None:
    async with running_sim(ACCOUNT) as sim, trader(sim) as tool, leader(sim) as v:
        await tool.market(ACCOUNT, sim.contracts["ES"], 1, 2, "lead-entry")
        bid, _ = sim.exchange.quote("ES")
        tool.send({"Type": 208, "Symbol": sim.contracts["ES"], "TradeAccount": ACCOUNT, "ClientOrderID": "lead-add",
                   "OrderType": 2, "BuySell": 1, "Price1": bid - 20, "Quantity": 1, "TimeInForce": 2})  # fmt: skip
        send_oco(tool, sim, "lead-stop", "lead-target")
        stop_open, target_open = await update(tool, "lead-stop", 4), await update(tool, "lead-target", 4)
        assert stop_open["OCOLinkedOrderServerOrderID"] == target_open["ServerOrderID"]
        assert target_open["OCOLinkedOrderServerOrderID"] == stop_open["ServerOrderID"]
        assert stop_open["ParentServerOrderID"] == "" and stop_open["ServerOrderID"] != target_open["ServerOrderID"]

        [stop] = await v.until("the stop's ORDER_NEW", lambda: of(v, EventKind.ORDER_NEW, "lead-stop"))
        [target] = await v.until("the target's ORDER_NEW", lambda: of(v, EventKind.ORDER_NEW, "lead-target"))
        [plain] = of(v, EventKind.ORDER_NEW, "lead-add")
        assert stop.oco_group is not None and stop.oco_group == target.oco_group
        assert stop.order_id == stop_open["ServerOrderID"] and stop.order_type is OrderType.STOP
        assert plain.oco_group is None and all(e.oco_group is None for e in of(v, EventKind.FILL, "lead-entry"))

        sim.exchange.fill(ACCOUNT, paper_id(sim, "lead-target"), 2)  # the target is hit: the server cancels the stop
        [cancel] = await v.until("the stop's cancel", lambda: of(v, EventKind.ORDER_CANCELLED, "lead-stop"))
        assert cancel.oco_group == stop.oco_group
        assert [(e.fill_qty, e.oco_group) for e in of(v, EventKind.FILL, "lead-target")] == [(2, stop.oco_group)]
        assert {o.client_order_id: o.oco_group for o in await v.adapter.open_orders()} == {"lead-add": None}


async def test_the_open_orders_read_after_a_reconnect_carry_the_group() -> None:
    async with running_sim(ACCOUNT) as sim, trader(sim) as tool, leader(sim) as v:
        send_oco(tool, sim, "lead-stop", "lead-target", qty=1)
        [stop] = await v.until("the stop's ORDER_NEW", lambda: of(v, EventKind.ORDER_NEW, "lead-stop"))
        group = stop.oco_group
        assert group is not None
        assert sim.drop_sockets(ACCOUNT) == 2  # the adapter's connection and the trader's
        await v.until("a resync", lambda: getattr(v.adapter, "resyncs", 0) >= 1 and v.adapter.health.connected)
        assert {o.client_order_id: o.oco_group for o in await v.adapter.open_orders()} == {
            "lead-stop": group, "lead-target": group,
        }  # fmt: skip
        fresh = make_adapter(sim, "lead2", ACCOUNT)  # another process reading the same account: the same name
        await fresh.connect()
        try:
            assert {o.oco_group for o in await fresh.open_orders()} == {group}
        finally:
            await fresh.disconnect()


async def test_a_brackets_legs_wait_for_their_parent_then_arrive_as_one_group() -> None:
    async with running_sim(ACCOUNT) as sim, trader(sim) as tool, leader(sim) as v:
        bid, _ = sim.exchange.quote("ES")
        send_parent(tool, sim, "lead-entry", limit=bid - 5)
        send_oco(tool, sim, "lead-stop", "lead-target", parent="lead-entry", Price1_1=bid - 15)
        parent = await update(tool, "lead-entry", Status.OPEN)
        held = await update(tool, "lead-stop", Status.PENDING_CHILD)
        await update(tool, "lead-target", Status.PENDING_CHILD)
        assert held["ParentServerOrderID"] == parent["ServerOrderID"] and held["OCOLinkedOrderServerOrderID"]
        listed = await tool.request(Msg.OPEN_ORDERS_REQUEST, 301, TradeAccount=ACCOUNT)
        assert {m["ClientOrderID"]: m["OrderStatus"] for m in listed} == {
            "lead-entry": Status.OPEN, "lead-stop": Status.PENDING_CHILD, "lead-target": Status.PENDING_CHILD,
        }  # fmt: skip
        await v.until("the legs known to the adapter", lambda: v.adapter.book.find("lead-target"))  # type: ignore[attr-defined]
        assert of(v, EventKind.ORDER_NEW, "lead-stop") == of(v, EventKind.ORDER_NEW, "lead-target") == []

        sim.exchange.fill(ACCOUNT, paper_id(sim, "lead-entry"), 2)
        [stop] = await v.until("the stop's ORDER_NEW", lambda: of(v, EventKind.ORDER_NEW, "lead-stop"))
        [target] = await v.until("the target's ORDER_NEW", lambda: of(v, EventKind.ORDER_NEW, "lead-target"))
        assert stop.oco_group is not None and stop.oco_group == target.oco_group
        assert stop.order_id == held["ServerOrderID"]  # the leg keeps its ServerOrderID once it works
        assert [e.oco_group for e in of(v, EventKind.FILL, "lead-entry")] == [None]
        [entry_fill] = of(v, EventKind.FILL, "lead-entry")
        assert v.events.index(entry_fill) < v.events.index(stop)  # the entry's fill is told before its legs


# ------------------------------------------------------------------ the simulator's OCO
async def test_a_cancelled_leg_takes_its_partner_unless_the_pair_has_a_parent() -> None:
    async with running_sim(ACCOUNT) as sim, trader(sim) as tool:
        send_oco(tool, sim, "solo-stop", "solo-target")
        stop = await update(tool, "solo-stop", Status.OPEN)
        tool.send({"Type": Msg.CANCEL_ORDER, "ServerOrderID": stop["ServerOrderID"], "ClientOrderID": "solo-stop"})
        await update(tool, "solo-target", Status.CANCELED)

        bid, _ = sim.exchange.quote("ES")
        send_parent(tool, sim, "kid-entry", limit=bid - 5)
        send_oco(tool, sim, "kid-stop", "kid-target", parent="kid-entry", Price1_1=bid - 15)
        held = await update(tool, "kid-stop", Status.PENDING_CHILD)
        tool.send({"Type": Msg.CANCEL_ORDER, "ServerOrderID": held["ServerOrderID"], "ClientOrderID": "kid-stop"})
        await update(tool, "kid-stop", Status.CANCELED)
        sim.exchange.fill(ACCOUNT, paper_id(sim, "kid-entry"), 2)
        await update(tool, "kid-target", Status.OPEN)  # its partner's cancel left it: it has a parent
        assert [o.client_order_id for o in sim.exchange.open_orders(ACCOUNT)] == ["kid-target"]


async def test_a_refused_pair_is_two_rejections_and_a_refused_bracket_takes_its_parent() -> None:
    async with running_sim(ACCOUNT) as sim, trader(sim) as tool:
        send_oco(tool, sim, "bad-stop", "bad-target", Quantity_2=0)
        for coid in ("bad-stop", "bad-target"):
            refused = await update(tool, coid, Status.REJECTED)
            assert refused["OrderUpdateReason"] == Reason.NEW_ORDER_REJECTED
            assert "Quantity_2 0 is not a positive whole number" in refused["InfoText"]
        send_parent(tool, sim, "lone-entry")
        send_oco(tool, sim, "lone-stop", "lone-target", parent="lone-entry", UseOffsets=1)
        for coid in ("lone-stop", "lone-target", "lone-entry"):
            assert "UseOffsets" in (await update(tool, coid, Status.REJECTED))["InfoText"]
        send_oco(tool, sim, "orphan-stop", "orphan-target", parent="nobody")
        assert "no parent order nobody" in (await update(tool, "orphan-target", Status.REJECTED))["InfoText"]
        assert sim.exchange.accounts[ACCOUNT].orders == {}
        assert [e.outcome for e in sim.audit.entries] == ["refused", "accepted", "refused", "refused"]


# ------------------------------------------------------------------ with the engine
async def test_engine_copies_a_sierrachart_bracket_to_a_paper_mirror_follower_as_one_group(tmp_path: Path) -> None:
    """The leader buys 2 at the market as a bracket's parent; the paper mirror follower copies the
    entry, then the stop and the target as one follower OCO group; the leader's target fills, the
    server's OCO cancels the leader's stop, and the follower's stop is cancelled (once)."""
    async with running_sim(ACCOUNT) as sim, trader(sim) as tool:
        x = sim.exchange
        x.account("m")
        journal = Journal(tmp_path / "journal.sqlite3")
        engine = Engine(
            leader_cfg=AccountConfig(name="lead", broker="sierrachart"),
            leader=make_adapter(sim, "lead", ACCOUNT),
            followers=[(FollowerConfig(name="m", broker="paper", mode="mirror"), PaperAdapter(x, "m"))],
            journal=journal,
            reconcile_interval_s=3600,
        )
        await engine.start()
        try:

            def legs() -> dict[OrderType, Any]:
                return {o.order_type: o for o in x.open_orders("m")}

            def held(account: str) -> int:
                p = x.accounts[account].positions.get("ES")
                return p.qty if p else 0

            send_parent(tool, sim, "lead-entry")
            send_oco(tool, sim, "lead-stop", "lead-target", parent="lead-entry")
            await until("both legs at the follower", lambda: set(legs()) == {OrderType.STOP, OrderType.LIMIT})
            assert held("m") == 2
            copies = legs()
            its = engine.followers["m"].state.intents
            groups = {its[c.client_order_id or ""].order.oco_group for c in copies.values()}
            assert len(groups) == 1 and None not in groups  # one follower OCO group for both copies
            m_stop = copies[OrderType.STOP]

            x.fill(ACCOUNT, paper_id(sim, "lead-target"), 2)
            m_stop_order = x.accounts["m"].orders[m_stop.broker_order_id]
            await until("the follower's stop cancelled", lambda: m_stop_order.status is OrderStatus.CANCELLED)
            assert held(ACCOUNT) == 0 and held("m") == 2  # mirror: the follower's target fills at its market
            x.fill("m", copies[OrderType.LIMIT].broker_order_id, 2)
            await until("the follower flat", lambda: held("m") == 0)
            assert await engine.drain(timeout_s=5)
            journal.flush()
            cancels = list(journal.db.execute("SELECT target_client_order_id FROM intents WHERE action='cancel'"))
            assert cancels == [(m_stop.client_order_id,)]
            assert x.open_orders("m") == [] and x.duplicate_submissions("m") == 0
            assert not [a for a in engine.alerts if a.level != "info"]
        finally:
            await engine.stop(settle=False)
            journal.close()
