"""A follower's bracket as ONE Tradovate OCO pair (``options.native_oco``): both legs go out in one
``/order/placeOCO`` request, each findable by its client id (after a reconnect and a restart too);
Tradovate's OCO (the simulator's, over the paper exchange) cancels the other leg when one fills; a
refused pair leaves nothing working; and the engine sends a mirrored bracket so, with no cancel of
its own when the follower's target fills. Over real loopback sockets, against the simulator."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.base import AdapterContext, BrokerError
from adapters.kit.options import read_options
from adapters.paper.exchange import PaperExchange
from adapters.tradovate import ConfigProblem, TradovateAdapter, create_adapter
from adapters.tradovate.settings import TradovateOptions
from adapters.tradovate.simulator import TradovateSimulator
from copytui.config import FollowerConfig
from copytui.models import EventKind, FollowerOrder, OrderAction, OrderStatus, OrderType, Side
from tests.adapters.tv_support import Events, account_config, make_adapter, running_sim, secrets_for
from tests.engine_harness import paper_leader_engine

ACCOUNT = "DEMO0001"
WAIT_S = 8.0  # a hang guard, never a timing assertion


async def until(cond: Callable[[], object], what: str) -> None:
    try:
        async with asyncio.timeout(WAIT_S):
            while not cond():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"{what} did not happen within {WAIT_S}s") from None


def leg(coid: str, group: str | None = "G1", qty: int = 2, **kw: Any) -> FollowerOrder:
    kw = {"action": OrderAction.PLACE, **kw}
    return FollowerOrder(follower="t1", signal_id=f"s-{coid}", client_order_id=coid, symbol="ES", side=Side.SELL,
                         qty=qty, oco_group=group, **kw)  # fmt: skip


def bracket(x: PaperExchange, tag: str = "", **kw: Any) -> tuple[FollowerOrder, FollowerOrder]:
    """A sell stop 10 below and a sell limit 10 above the market: the protection of a long."""
    bid, ask = x.quote("ES")
    return (
        leg(f"tv-stop{tag}", order_type=OrderType.STOP, stop_price=bid - 10, **kw),
        leg(f"tv-target{tag}", order_type=OrderType.LIMIT, price=ask + 10, **kw),
    )


def requests(sim: TradovateSimulator, outcome: str | None = None) -> list[tuple[str, str | None, Any]]:
    """(action, clOrdId, other.clOrdId) of each order request the simulator received."""
    return [
        (e.action, e.client_order_id, ((e.request or {}).get("other") or {}).get("clOrdId"))
        for e in sim.admin.audit.entries
        if outcome is None or e.outcome == outcome
    ]


def paper_id(sim: TradovateSimulator, coid: str) -> str:
    return sim.exchange.accounts[ACCOUNT].by_client_id[coid].id


@contextlib.asynccontextmanager
async def connected(sim: TradovateSimulator, **options: Any) -> AsyncIterator[tuple[TradovateAdapter, Events]]:
    adapter = make_adapter(sim, "t1", ACCOUNT, **{"native_oco": True, **options})
    await adapter.connect()
    events = Events(adapter)
    try:
        yield adapter, events
    finally:
        await adapter.disconnect()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(events.task, 2.0)


async def both_found(adapter: TradovateAdapter, coids: tuple[str, str], ids: list[str | None]) -> None:
    """Each leg found by its client id, and listed open under it, one OCO group for the two."""
    found = [await adapter.find_order(c) for c in coids]
    assert [f.broker_order_id if f else None for f in found] == ids
    assert all(f is not None and f.status is OrderStatus.WORKING for f in found)
    listed = {o.client_order_id: o for o in await adapter.open_orders()}
    assert [listed[c].broker_order_id for c in coids] == ids
    groups = {listed[c].oco_group for c in coids}
    assert len(groups) == 1 and None not in groups


# ----------------------------------------------------------------------------- one request
@pytest.mark.parametrize("transport", ["ws", "rest"])
async def test_a_pair_goes_out_in_one_placeoco_and_both_legs_are_findable(transport: str) -> None:
    async with running_sim(ACCOUNT) as sim, connected(sim, order_transport=transport) as (adapter, _):
        stop, target = bracket(sim.exchange)
        acks = await adapter.place_oco(stop, target)
        assert requests(sim) == [("placeoco", "tv-stop", "tv-target")]  # ONE request naming both legs
        assert [(a.client_order_id, a.status) for a in acks] == [("tv-stop", OrderStatus.WORKING),
                                                                 ("tv-target", OrderStatus.WORKING)]  # fmt: skip
        ids = [a.broker_order_id for a in acks]
        assert all(ids) and ids[0] != ids[1]
        await until(lambda: adapter.book is not None and "tv-target" in adapter.book.clordids, "the legs' props")
        await both_found(adapter, ("tv-stop", "tv-target"), ids)
        paper = {o.client_order_id: o for o in sim.exchange.open_orders(ACCOUNT)}
        assert (paper["tv-stop"].order_type, paper["tv-target"].order_type) == (OrderType.STOP, OrderType.LIMIT)
        assert paper["tv-stop"].qty == paper["tv-target"].qty == 2


async def test_both_legs_stay_findable_after_a_reconnect_and_a_restart() -> None:
    async with running_sim(ACCOUNT) as sim:
        async with connected(sim) as (adapter, _):
            acks = await adapter.place_oco(*bracket(sim.exchange))
            ids = [a.broker_order_id for a in acks]
            assert sim.drop_sockets(ACCOUNT) == 1
            await until(lambda: adapter.health.reconnects >= 1 and adapter.health.connected, "the reconnect")
            await both_found(adapter, ("tv-stop", "tv-target"), ids)
            with pytest.raises(BrokerError, match="sent already"):  # the same client ids: not as a pair again
                await adapter.place_oco(*bracket(sim.exchange))
            repeats = [await adapter.place(o) for o in bracket(sim.exchange)]  # what the engine then does
            assert [a.broker_order_id for a in repeats] == ids
        async with connected(sim) as (restarted, _):  # a new process: what it knows comes from the broker
            await both_found(restarted, ("tv-stop", "tv-target"), ids)
            with pytest.raises(BrokerError, match="sent already"):
                await restarted.place_oco(*bracket(sim.exchange))
        assert requests(sim) == [("placeoco", "tv-stop", "tv-target")]


@pytest.mark.parametrize("mode", ["after", "before"])
async def test_a_pair_whose_connection_drops_is_asked_for_not_sent_twice(mode: str) -> None:
    """after: handled, its answer lost (found by client id after the resync); before: lost unhandled
    (found nowhere, so sent once more). Either way each leg is at the broker once."""
    async with running_sim(ACCOUNT) as sim, connected(sim) as (adapter, _):
        sim.faults.drop_after_requests, sim.faults.drop_mode = 1, mode  # type: ignore[assignment]
        acks = await adapter.place_oco(*bracket(sim.exchange))
        assert [a.status for a in acks] == [OrderStatus.WORKING, OrderStatus.WORKING]
        accepted = requests(sim, "accepted")
        assert accepted == [("placeoco", "tv-stop", "tv-target")]
        assert len(requests(sim)) == (1 if mode == "after" else 2)
        await both_found(adapter, ("tv-stop", "tv-target"), [a.broker_order_id for a in acks])
        assert sim.exchange.duplicate_submissions(ACCOUNT) == 0 and len(sim.exchange.open_orders(ACCOUNT)) == 2


# ----------------------------------------------------------------------------- Tradovate's OCO
async def test_a_filled_leg_makes_tradovate_cancel_the_other() -> None:
    async with running_sim(ACCOUNT) as sim, connected(sim) as (adapter, events):
        await adapter.place_oco(*bracket(sim.exchange))
        sim.exchange.fill(ACCOUNT, paper_id(sim, "tv-target"), 2)
        await until(lambda: events.of_client(EventKind.ORDER_CANCELLED, "tv-stop"), "the stop's cancel")
        assert [e.cum_qty for e in events.of_client(EventKind.FILL, "tv-target")] == [2]
        assert await adapter.open_orders() == []
        found = await adapter.find_order("tv-stop")
        assert found is not None and found.status is OrderStatus.CANCELLED
        assert [r[0] for r in requests(sim)] == ["placeoco"]  # the broker cancelled it, not copytui


async def test_a_partial_fill_shrinks_the_other_leg_and_a_cancel_leaves_it_working() -> None:
    """Both guessed by the simulator (the reference says neither): see sim_orders.py."""
    async with running_sim(ACCOUNT) as sim, connected(sim) as (adapter, events):
        acks = await adapter.place_oco(*bracket(sim.exchange, qty=3))
        sim.exchange.fill(ACCOUNT, paper_id(sim, "tv-target"), 1)
        await until(lambda: events.of_client(EventKind.ORDER_MODIFIED, "tv-stop"), "the stop shrunk")
        assert events.of_client(EventKind.ORDER_MODIFIED, "tv-stop")[-1].qty == 2
        cancel = leg("tv-cancel", action=OrderAction.CANCEL, target_client_order_id="tv-target",
                     broker_order_id=acks[1].broker_order_id, order_type=OrderType.LIMIT)  # fmt: skip
        assert (await adapter.cancel(cancel)).status is OrderStatus.CANCELLED
        await until(lambda: events.of_client(EventKind.ORDER_CANCELLED, "tv-target"), "the target's cancel")
        [left] = await adapter.open_orders()
        assert (left.client_order_id, left.qty, left.status) == ("tv-stop", 2, OrderStatus.WORKING)


# ----------------------------------------------------------------------------- refused pairs
async def test_a_pair_refused_by_the_broker_is_two_rejected_acks_and_nothing_working() -> None:
    async with running_sim(ACCOUNT) as sim, connected(sim) as (adapter, events):
        stop, target = bracket(sim.exchange)
        stop = stop.model_copy(update={"stop_price": None})  # a stop without its stop price
        acks = await adapter.place_oco(target, stop)  # the target goes first, then Tradovate refuses `other`
        assert [a.status for a in acks] == [OrderStatus.REJECTED, OrderStatus.REJECTED]
        assert all(a.reason and "needs a stop price" in a.reason for a in acks)
        assert requests(sim, "refused") == [("placeoco", "tv-target", "tv-stop")]
        assert sim.exchange.open_orders(ACCOUNT) == []
        await until(lambda: events.of_client(EventKind.ORDER_CANCELLED, "tv-target"), "the first leg's undoing")
        assert await adapter.open_orders() == []


async def test_a_pair_of_an_unknown_symbol_is_two_rejected_acks_and_nothing_sent() -> None:
    async with running_sim(ACCOUNT) as sim, connected(sim) as (adapter, _):
        stop, target = (o.model_copy(update={"symbol": "ZZ"}) for o in bracket(sim.exchange))
        acks = await adapter.place_oco(stop, target)
        assert [a.status for a in acks] == [OrderStatus.REJECTED, OrderStatus.REJECTED]
        assert all(a.reason and "no Tradovate contract" in a.reason for a in acks)
        assert requests(sim) == [] and sim.exchange.open_orders(ACCOUNT) == []


async def test_legs_placeoco_cannot_carry_are_refused_before_anything_is_sent() -> None:
    """BrokerError (not a rejection): the engine then sends each leg alone and keeps the pair itself."""
    async with running_sim(ACCOUNT) as sim, connected(sim) as (adapter, _):
        stop, target = bracket(sim.exchange)
        with pytest.raises(BrokerError, match="one quantity"):
            await adapter.place_oco(stop, target.model_copy(update={"qty": 1}))
        with pytest.raises(BrokerError, match="not of one OCO group"):
            await adapter.place_oco(stop, target.model_copy(update={"oco_group": "G2"}))
        assert requests(sim) == []
        assert (await adapter.place(stop)).status is OrderStatus.WORKING  # the leg alone still goes


# ----------------------------------------------------------------------------- the option
async def test_without_native_oco_the_capability_is_off_and_no_pair_goes_out() -> None:
    async with running_sim(ACCOUNT) as sim:
        adapter = make_adapter(sim, "t1", ACCOUNT)
        assert not adapter.capabilities.oco_orders and not adapter.capabilities.brackets
        await adapter.connect()
        try:
            with pytest.raises(BrokerError, match="native_oco"):
                await adapter.place_oco(*bracket(sim.exchange))
        finally:
            await adapter.disconnect()
        assert requests(sim) == []
        assert make_adapter(sim, "t2", ACCOUNT, native_oco=True).capabilities.oco_orders
        assert not TradovateAdapter.capabilities.oco_orders  # the class's own stays off


@pytest.mark.parametrize("value", ["maybe", "yes", 1])
async def test_a_native_oco_that_is_not_true_or_false_is_refused_clearly(value: object) -> None:
    async with running_sim(ACCOUNT) as sim:
        cfg = account_config(sim, "t1", ACCOUNT, options={"native_oco": value})
        with pytest.raises(ConfigProblem, match=r"options\.native_oco: must be true or false, got") as info:
            create_adapter(cfg, AdapterContext(secret=secrets_for("t1")))
        assert "Value error" not in str(info.value)
        with pytest.raises(ValueError, match=rf"account t1: options\.native_oco: must be true or false, got {value!r}"):
            read_options(TradovateOptions, cfg, "Tradovate")


# ----------------------------------------------------------------------------- with the engine
async def test_engine_sends_a_mirrored_bracket_as_one_placeoco_and_lets_tradovate_cancel(tmp_path: Path) -> None:
    """A paper leader's bracket (two submits of one OCO group, in one synchronous step), mirrored to a
    Tradovate follower with native_oco: ONE placeOCO; the follower's target fills and Tradovate cancels
    its stop, which the engine journals; copytui sends no cancel, then or when the leader's target
    fills and the leader's own OCO cancels the leader's stop."""
    x = PaperExchange(seed=4)
    x.account("lead")
    async with running_sim(ACCOUNT, exchange=x) as sim:
        follower = make_adapter(sim, "t1", ACCOUNT, native_oco=True)
        cfg = FollowerConfig(name="t1", broker="tradovate", mode="mirror")
        async with paper_leader_engine(tmp_path, x, (cfg, follower)) as (engine, rows):
            x.submit("lead", symbol="ES", side=Side.BUY, qty=2)
            await until(lambda: x.accounts[ACCOUNT].positions.get("ES") is not None, "the follower long")
            bid, ask = x.quote("ES")
            bracket_leg: dict[str, Any] = {"symbol": "ES", "side": Side.SELL, "qty": 2, "oco_group": "G1"}
            x.submit("lead", order_type=OrderType.STOP, stop_price=bid - 10, **bracket_leg)
            target = x.submit("lead", order_type=OrderType.LIMIT, price=ask + 10, **bracket_leg).id
            await until(lambda: len(x.open_orders(ACCOUNT)) == 2, "both legs at the follower")
            [(action, first, second)] = [r for r in requests(sim) if r[0] != "placeorder"]
            assert action == "placeoco" and first and second  # ONE request for the two legs
            copies = {o.order_type: o for o in x.open_orders(ACCOUNT)}
            assert copies[OrderType.STOP].client_order_id == first
            assert copies[OrderType.LIMIT].client_order_id == second

            x.fill(ACCOUNT, copies[OrderType.LIMIT].broker_order_id, 2)  # its target: Tradovate cancels its stop
            sql = "SELECT status FROM intents WHERE client_order_id=?"
            await until(lambda: rows(sql, first) == [("cancelled",)], "the stop journaled cancelled")
            x.fill("lead", target, 2)  # now the leader's: its own OCO cancels its stop
            assert await engine.drain(timeout_s=5)
            assert x.accounts[ACCOUNT].positions["ES"].qty == 0 and x.open_orders(ACCOUNT) == []
            assert rows("SELECT 1 FROM intents WHERE follower='t1' AND action='cancel'") == []
            assert [r[0] for r in requests(sim)] == ["placeorder", "placeoco"]  # no cancelorder from copytui
            assert not [a for a in engine.alerts if a.level != "info"]
