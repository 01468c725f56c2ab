"""A Tradovate leader's OCO pair (``/order/placeOCO``, sent the way a leader's own script sends it):
the simulator links the legs and says so in each order's ``ocoId``; the adapter reads one group for
both legs, in its events and in ``open_orders()``; and the engine copies the pair to a mirror
follower on paper as one OCO group, so the leader's filled target cancels the follower's stop.
Over real loopback sockets, against the simulator."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.paper import PaperAdapter
from adapters.tradovate.book import AccountBook
from adapters.tradovate.simulator import TradovateSimulator
from copytui.config import AccountConfig, FollowerConfig
from copytui.engine import Engine
from copytui.journal import Journal
from copytui.models import EventKind, OrderStatus, OrderType, Side
from tests.adapters.tv_support import Events, RawClient, make_adapter, running_sim

WAIT_S = 8.0  # a hang guard, never a timing assertion


async def until(cond: Callable[[], object], what: str) -> None:
    try:
        async with asyncio.timeout(WAIT_S):
            while not cond():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"{what} did not happen within {WAIT_S}s") from None


@contextlib.asynccontextmanager
async def script(sim: TradovateSimulator, user: str = "trader1") -> AsyncIterator[RawClient]:
    """The leader's own script, logged in over REST."""
    client = RawClient.of(sim)
    await client.login(user)
    try:
        yield client
    finally:
        await client.close()


async def place_oco(client: RawClient, sim: TradovateSimulator, qty: int = 2, **kw: Any) -> dict[str, Any]:
    """A sell stop 10 below the market, OCO with a sell limit 10 above (``other``): the bracket of a long."""
    bid, ask = sim.exchange.quote("ES")
    account = client.accounts[0]
    body = {
        "accountSpec": account["name"], "accountId": account["id"], "action": "Sell",
        "symbol": sim.ledger.front("ES")["name"], "orderQty": qty, "orderType": "Stop", "stopPrice": bid - 10,
        "isAutomated": True, "other": {"action": "Sell", "orderType": "Limit", "price": ask + 10},
    } | kw  # fmt: skip
    status, answer = await client.rest("POST", "order/placeOCO", json=body)
    assert status == 200, answer
    return dict(answer)


async def test_a_leaders_placeoco_pair_is_one_group_in_its_events_and_its_open_orders() -> None:
    async with running_sim("DEMO0001") as sim, script(sim) as leader_script:
        adapter = make_adapter(sim, "lead", "DEMO0001")
        await adapter.connect()
        events = Events(adapter)
        try:
            answer = await place_oco(leader_script, sim, clOrdId="lead-stop")
            stop_id, target_id = answer["orderId"], answer["ocoId"]
            assert "failureReason" not in answer and stop_id != target_id
            await until(lambda: events.of(EventKind.ORDER_NEW, target_id), "the target's ORDER_NEW")
            [stop_new] = events.of(EventKind.ORDER_NEW, stop_id)
            [target_new] = events.of(EventKind.ORDER_NEW, target_id)
            assert (stop_new.order_type, target_new.order_type) == (OrderType.STOP, OrderType.LIMIT)
            assert (stop_new.qty, target_new.qty) == (2, 2) and stop_new.client_order_id == "lead-stop"
            group = stop_new.oco_group
            assert group and target_new.oco_group == group
            assert {o.broker_order_id: o.oco_group for o in await adapter.open_orders()} == {
                str(stop_id): group, str(target_id): group,
            }  # fmt: skip
            status, listed = await leader_script.rest("GET", "order/list")
            assert status == 200
            assert {o["id"]: o.get("ocoId") for o in listed} == {stop_id: target_id, target_id: stop_id}

            paper_target = next(p for p, o in sim.ledger.by_paper.items() if o == target_id)
            sim.exchange.fill("DEMO0001", paper_target, 2)  # the target fills: Tradovate's OCO cancels the stop
            await until(lambda: events.of(EventKind.ORDER_CANCELLED, stop_id), "the stop's cancel")
            [cancelled] = events.of(EventKind.ORDER_CANCELLED, stop_id)
            assert cancelled.oco_group == group
            assert [e.oco_group for e in events.of(EventKind.FILL, target_id)] == [group]
            assert await adapter.open_orders() == []
        finally:
            await adapter.disconnect()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(events.task, 2.0)


@pytest.mark.parametrize(
    ("first_link", "second_link"),
    [(11, 10), (None, 10), (99, 99), (5, 5)],
    ids=["each-names-the-other", "second-names-the-first", "shared-id-above", "shared-id-below"],
)
def test_every_likely_reading_of_ocoid_gives_both_legs_one_group(first_link: int | None, second_link: int) -> None:
    """The reference does not say what ``Order.ocoId`` holds: each reading pairs the legs."""
    book = AccountBook("lead", 1)
    book.apply("contract", {"id": 7, "name": "ESZ6"})
    for oid, link, otype in ((10, first_link, "Stop"), (11, second_link, "Limit")):
        entity = {"id": oid, "accountId": 1, "contractId": 7, "action": "Sell", "ordStatus": "Working"}
        book.apply("order", entity | ({"ocoId": link} if link is not None else {}))
        book.apply("orderVersion", {"id": oid + 100, "orderId": oid, "orderQty": 1, "orderType": otype, "price": 1.0,
                                    "stopPrice": 1.0})  # fmt: skip
    book.apply("order", {"id": 12, "accountId": 1, "contractId": 7, "action": "Buy", "ordStatus": "Working"})
    book.apply("orderVersion", {"id": 112, "orderId": 12, "orderQty": 1, "orderType": "Market"})
    groups = {int(o.broker_order_id): o.oco_group for o in book.open_orders()}
    assert groups[10] is not None and groups[10] == groups[11] and groups[12] is None


async def test_two_pairs_are_two_groups_and_a_plain_order_has_none() -> None:
    async with running_sim("DEMO0001") as sim, script(sim) as leader_script:
        adapter = make_adapter(sim, "lead", "DEMO0001")
        await adapter.connect()
        events = Events(adapter)
        try:
            first, second = await place_oco(leader_script, sim), await place_oco(leader_script, sim, qty=1)
            below = sim.exchange.price("ES") - 20
            plain = sim.place_raw("DEMO0001", Side.BUY, 1, "ES", OrderType.LIMIT, below)
            assert plain is not None
            await until(lambda: events.of(EventKind.ORDER_NEW, plain), "the plain order's ORDER_NEW")
            assert len([e for e in events.seen if e.kind is EventKind.ORDER_NEW]) == 5
            groups = {int(o.broker_order_id): o.oco_group for o in await adapter.open_orders()}
            assert groups[first["orderId"]] == groups[first["ocoId"]]
            assert groups[second["orderId"]] == groups[second["ocoId"]] != groups[first["orderId"]]
            assert groups[plain] is None
        finally:
            await adapter.disconnect()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(events.task, 2.0)


async def test_a_refused_other_leg_places_neither() -> None:
    async with running_sim("DEMO0001") as sim, script(sim) as leader_script:
        account = leader_script.accounts[0]
        body = {
            "accountSpec": account["name"], "accountId": account["id"], "action": "Sell", "orderQty": 1,
            "symbol": sim.ledger.front("ES")["name"], "orderType": "Stop", "stopPrice": sim.exchange.price("ES") - 10,
            "other": {"action": "Sell", "orderType": "Limit"},  # a limit without its price
        }  # fmt: skip
        status, answer = await leader_script.rest("POST", "order/placeOCO", json=body)
        assert status == 200 and "needs a limit price" in answer["failureText"]
        assert sim.exchange.open_orders("DEMO0001") == []


async def test_engine_copies_a_tradovate_bracket_to_a_paper_mirror_follower_as_one_group(tmp_path: Path) -> None:
    """The leader buys 2 and protects them with placeOCO; the paper mirror follower gets the stop and
    the target as one follower OCO group; the leader's target fills, Tradovate's OCO cancels the
    leader's stop, and the follower's stop is cancelled (once); its own target then closes it."""
    async with running_sim("DEMO0001") as sim, script(sim) as leader_script:
        x = sim.exchange
        x.account("m")
        journal = Journal(tmp_path / "journal.sqlite3")
        engine = Engine(
            leader_cfg=AccountConfig(name="lead", broker="tradovate"),
            leader=make_adapter(sim, "lead", "DEMO0001"),
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

            sim.place_raw("DEMO0001", Side.BUY, 2, "ES")
            await until(lambda: held("m") == 2, "the follower long 2")
            answer = await place_oco(leader_script, sim)
            await until(lambda: set(legs()) == {OrderType.STOP, OrderType.LIMIT}, "both legs at the follower")
            copies = legs()
            its = engine.followers["m"].state.intents
            groups = {its[c.client_order_id or ""].order.oco_group for c in copies.values()}
            assert len(groups) == 1 and None not in groups  # one follower OCO group for both copies
            m_stop = copies[OrderType.STOP]

            paper_target = next(p for p, o in sim.ledger.by_paper.items() if o == answer["ocoId"])
            x.fill("DEMO0001", paper_target, 2)
            await until(lambda: x.accounts["m"].orders[m_stop.broker_order_id].status is OrderStatus.CANCELLED,
                        "the follower's stop cancelled")  # fmt: skip
            assert held("DEMO0001") == 0 and held("m") == 2  # mirror: the follower's target fills at its market
            x.fill("m", copies[OrderType.LIMIT].broker_order_id, 2)
            await until(lambda: held("m") == 0, "the follower flat")
            assert await engine.drain(timeout_s=5)
            journal.flush()
            cancels = list(journal.db.execute("SELECT target_client_order_id FROM intents WHERE action='cancel'"))
            assert cancels == [(m_stop.client_order_id,)]
            assert x.open_orders("m") == [] and x.duplicate_submissions("m") == 0
            assert not [a for a in engine.alerts if a.level != "info"]
        finally:
            await engine.stop(settle=False)
            journal.close()
