"""A Sierra Chart follower's bracket as ONE OCO pair (``place_oco``, ``options.native_oco``): both legs
go out in one SUBMIT_NEW_OCO_ORDER, each is answered from its own ORDER_UPDATE, the server's OCO
cancels (or shrinks) the other leg when one fills and the adapter reports it, a refused pair is two
rejections with nothing working, and the engine sends a mirrored bracket so and sends no cancel of
its own. Over real loopback sockets, against the DTC simulator."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.base import AmbiguousOutcome
from adapters.kit.conformance import Venue
from adapters.paper.exchange import Faults, PaperExchange
from adapters.sierrachart.options import parse_options
from adapters.sierrachart.simulator import SierraChartSimulator, contracts_option
from copytui.config import AccountConfig
from copytui.models import (
    AccountEvent,
    EventKind,
    FollowerOrder,
    OrderAction,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from tests.adapters.sierrachart_support import follower_config, make_adapter, running_sim, until
from tests.engine_harness import paper_leader_engine

ACCOUNT = "Sim1"


def leg(coid: str, order_type: OrderType, group: str | None = "grp-1", qty: int = 2, **kw: Any) -> FollowerOrder:
    return FollowerOrder(follower="sc1", signal_id=f"sig-{coid}", client_order_id=coid, action=OrderAction.PLACE,
                         symbol=kw.pop("symbol", "ES"), side=kw.pop("side", Side.SELL), qty=qty,
                         order_type=order_type, oco_group=group, **kw)  # fmt: skip


def protection(x: PaperExchange, prefix: str = "ct", **kw: Any) -> tuple[FollowerOrder, FollowerOrder]:
    """A sell stop 10 below the market and a sell limit 10 above it: the protection of a long."""
    bid, ask = x.quote("ES")
    return (
        leg(f"{prefix}-stop", OrderType.STOP, stop_price=bid - 10, **kw),
        leg(f"{prefix}-target", OrderType.LIMIT, price=ask + 10, **kw),
    )


@contextlib.asynccontextmanager
async def follower(sim: SierraChartSimulator, **options: Any) -> AsyncIterator[Venue]:
    """copytui's adapter on the follower's trade account, native_oco on, its events collected."""
    options = {"native_oco": True} | options
    async with Venue.open(sim.exchange, ACCOUNT, lambda: make_adapter(sim, "sc1", ACCOUNT, **options), no_drop) as v:
        yield v


def no_drop() -> None:
    """The conformance suite's stream drop, unused here."""


def of(v: Venue, kind: EventKind, coid: str) -> list[AccountEvent]:
    return [e for e in v.events if e.kind is kind and e.client_order_id == coid]


def requests(sim: SierraChartSimulator) -> list[tuple[str, str | None, str]]:
    """(request, its ClientOrderID or ClientOrderID_1, accepted / refused) of every order request received."""
    return [(e.action, e.client_order_id, e.outcome) for e in sim.audit.entries]


def paper_id(sim: SierraChartSimulator, coid: str) -> str:
    return sim.exchange.accounts[ACCOUNT].by_client_id[coid].id


# ------------------------------------------------------------------ the adapter
async def test_both_legs_go_out_in_one_request_and_each_is_answered_working() -> None:
    async with running_sim(ACCOUNT) as sim, follower(sim) as v:
        stop, target = protection(sim.exchange)
        acks = await v.adapter.place_oco(stop, target)
        assert [(a.client_order_id, a.status) for a in acks] == [
            ("ct-stop", OrderStatus.WORKING), ("ct-target", OrderStatus.WORKING),
        ]  # fmt: skip
        ids = {a.broker_order_id for a in acks}
        assert len(ids) == 2 and None not in ids and "" not in ids
        assert requests(sim) == [("SUBMIT_NEW_OCO_ORDER", "ct-stop", "accepted")]
        [sent] = sim.order_requests
        bid, ask = sim.exchange.quote("ES")
        assert {k: sent[k] for k in ("Type", "ClientOrderID_1", "OrderType_1", "BuySell_1", "Quantity_1",
                                     "ClientOrderID_2", "OrderType_2", "BuySell_2", "Quantity_2",
                                     "TradeAccount", "PartialFillHandling")} == {
            "Type": 201, "ClientOrderID_1": "ct-stop", "OrderType_1": 3, "BuySell_1": 2, "Quantity_1": 2,
            "ClientOrderID_2": "ct-target", "OrderType_2": 2, "BuySell_2": 2, "Quantity_2": 2,
            "TradeAccount": ACCOUNT, "PartialFillHandling": 1,
        }  # fmt: skip
        assert (sent["Price1_1"], sent["Price1_2"]) == (stop.stop_price, target.price)

        for ack in acks:
            found = await v.adapter.find_order(ack.client_order_id)
            assert found is not None and found.broker_order_id == ack.broker_order_id
            assert found.status is OrderStatus.WORKING
        listed = {o.client_order_id: o for o in await v.adapter.open_orders()}
        assert set(listed) == {"ct-stop", "ct-target"}
        assert listed["ct-stop"].oco_group is not None and listed["ct-stop"].oco_group == listed["ct-target"].oco_group
        assert {o.client_order_id for o in sim.exchange.open_orders(ACCOUNT)} == set(listed)

        again = await v.adapter.place_oco(stop, target)  # a repeat is answered, never sent again
        assert [a.broker_order_id for a in again] == [a.broker_order_id for a in acks]
        assert len(sim.order_requests) == 1


async def test_a_filled_leg_makes_the_server_cancel_the_other_and_it_is_reported() -> None:
    async with running_sim(ACCOUNT) as sim, follower(sim) as v:
        await v.adapter.place_oco(*protection(sim.exchange))
        sim.exchange.fill(ACCOUNT, paper_id(sim, "ct-target"), 2)
        [cancel] = await v.until("the stop's cancel", lambda: of(v, EventKind.ORDER_CANCELLED, "ct-stop"))
        found = await v.adapter.find_order("ct-stop")
        assert found is not None and found.status is OrderStatus.CANCELLED and found.broker_order_id == cancel.order_id
        assert [e.fill_qty for e in of(v, EventKind.FILL, "ct-target")] == [2]
        assert await v.adapter.open_orders() == []
        assert [r[0] for r in requests(sim)] == ["SUBMIT_NEW_OCO_ORDER"]  # no CANCEL_ORDER: the server's OCO


async def test_a_part_fill_shrinks_the_other_leg_by_the_fill() -> None:
    async with running_sim(ACCOUNT) as sim, follower(sim) as v:
        await v.adapter.place_oco(*protection(sim.exchange))
        sim.exchange.fill(ACCOUNT, paper_id(sim, "ct-target"), 1)
        [shrunk] = await v.until("the stop shrunk", lambda: of(v, EventKind.ORDER_MODIFIED, "ct-stop"))
        assert shrunk.qty == 1
        sim.exchange.fill(ACCOUNT, paper_id(sim, "ct-target"), 1)
        await v.until("the stop's cancel", lambda: of(v, EventKind.ORDER_CANCELLED, "ct-stop"))
        assert [e.fill_qty for e in of(v, EventKind.FILL, "ct-target")] == [1, 1]
        assert of(v, EventKind.FILL, "ct-stop") == []


async def test_a_pair_the_server_refuses_is_two_rejections_and_nothing_works() -> None:
    async with running_sim(ACCOUNT) as sim, follower(sim) as v:
        stop, target = protection(sim.exchange, "bad")
        zero = target.model_copy(update={"price": 0.0})  # DTC's unset price: the server refuses the pair
        acks = await v.adapter.place_oco(stop, zero)
        assert [a.status for a in acks] == [OrderStatus.REJECTED, OrderStatus.REJECTED]
        assert all(a.reason and "needs a limit price" in a.reason for a in acks)
        assert requests(sim) == [("SUBMIT_NEW_OCO_ORDER", "bad-stop", "refused")]
        assert sim.exchange.open_orders(ACCOUNT) == [] and await v.adapter.open_orders() == []
        for coid in ("bad-stop", "bad-target"):
            found = await v.adapter.find_order(coid)
            assert found is not None and found.status is OrderStatus.REJECTED
        again = await v.adapter.place_oco(stop, zero)
        assert [a.status for a in again] == [OrderStatus.REJECTED] * 2 and len(sim.order_requests) == 1


async def test_a_symbol_the_server_does_not_know_refuses_the_pair() -> None:
    async with running_sim(ACCOUNT) as sim:
        contracts = contracts_option(sim.contracts) + ", MYM=MYMZ99_FUT_NOWHERE"
        async with follower(sim, contracts=contracts) as v:
            bid, ask = sim.exchange.quote("MYM")
            stop = leg("nw-stop", OrderType.STOP, symbol="MYM", stop_price=bid - 10)
            target = leg("nw-target", OrderType.LIMIT, symbol="MYM", price=ask + 10)
            acks = await v.adapter.place_oco(stop, target)
            assert [a.status for a in acks] == [OrderStatus.REJECTED, OrderStatus.REJECTED]
            assert all(a.reason and "unknown symbol 'MYMZ99_FUT_NOWHERE'" in a.reason for a in acks)
            assert requests(sim) == [("SUBMIT_NEW_OCO_ORDER", "nw-stop", "refused")]
            assert sim.exchange.open_orders(ACCOUNT) == []


async def test_a_pair_that_cannot_be_one_request_is_refused_before_anything_is_sent() -> None:
    async with running_sim(ACCOUNT) as sim, follower(sim, contracts=contracts_option(sim.contracts, ("ES", "NQ"))) as v:
        stop, target = protection(sim.exchange)
        bid, _ = sim.exchange.quote("NQ")
        cases = {
            "not one OCO group": (stop, target.model_copy(update={"oco_group": "grp-2"})),
            "names one symbol": (stop, leg("nq-stop", OrderType.STOP, symbol="NQ", stop_price=bid - 10)),
            "one TimeInForce": (stop, target.model_copy(update={"tif": TimeInForce.GTC})),
            "needs a stop price": (stop.model_copy(update={"stop_price": None}), target),
            "no Sierra Chart symbol for MNQ": (
                stop.model_copy(update={"symbol": "MNQ"}),
                target.model_copy(update={"symbol": "MNQ"}),
            ),  # fmt: skip
        }
        for why, (first, second) in cases.items():
            acks = await v.adapter.place_oco(first, second)
            assert [a.status for a in acks] == [OrderStatus.REJECTED] * 2, why
            assert all(a.reason and a.reason.startswith("not sent") and why in a.reason for a in acks), acks
        assert sim.order_requests == [] and sim.audit.entries == []


async def test_a_pair_whose_answers_went_with_the_connection_is_answered_from_the_next_session() -> None:
    """The connection drops after the server took the pair and before its ORDER_UPDATEs went out:
    the next session's open orders show both legs, and each is answered from them."""
    x = PaperExchange(seed=5)
    x.account(ACCOUNT)
    held: list[SierraChartSimulator] = []

    def drop_on_arrival(ev: AccountEvent) -> None:  # listens before the simulator does: nothing is said
        if ev.kind is EventKind.ORDER_NEW and ev.client_order_id == "lost-stop" and held:
            held.pop().drop_sockets(ACCOUNT)

    x.listen(ACCOUNT, drop_on_arrival)
    async with running_sim(ACCOUNT, exchange=x) as sim, follower(sim) as v:
        held.append(sim)
        acks = await v.adapter.place_oco(*protection(x, "lost"))
        assert not held  # the drop happened
        at_server = {o.client_order_id: o.broker_order_id for o in await v.adapter.open_orders()}
        assert {a.client_order_id: (a.status, a.broker_order_id) for a in acks} == {
            c: (OrderStatus.WORKING, sid) for c, sid in at_server.items()
        }  # fmt: skip
        assert len(sim.order_requests) == 1


async def test_a_pair_without_an_answer_in_time_is_ambiguous_and_both_legs_are_found_later() -> None:
    async with running_sim(ACCOUNT, faults=Faults(latency_ms=1500)) as sim, follower(sim, order_timeout_s=0.3) as v:
        with pytest.raises(AmbiguousOutcome):
            await v.adapter.place_oco(*protection(sim.exchange, "slow"))
        await until("the pair at the server", lambda: len(sim.exchange.open_orders(ACCOUNT)) == 2)
        for coid in ("slow-stop", "slow-target"):
            found = await until(f"{coid} found", lambda c=coid: v.adapter.find_order(c))
            assert found.status is OrderStatus.WORKING and found.broker_order_id
        assert len(sim.order_requests) == 1


def test_native_oco_is_off_unless_asked_and_takes_only_true_or_false() -> None:
    def options(**values: Any) -> AccountConfig:
        return AccountConfig(name="sc1", broker="sierrachart", options=values)

    assert parse_options(options()).native_oco is False
    assert parse_options(options(native_oco=True)).native_oco is True
    for bad in ("maybe", "true", 1):
        with pytest.raises(ValueError, match=r"native_oco.*must be true or false"):
            parse_options(options(native_oco=bad))


async def test_the_capability_follows_the_option_per_adapter() -> None:
    async with running_sim(ACCOUNT) as sim:
        on = make_adapter(sim, "sc1", ACCOUNT, native_oco=True)
        off = make_adapter(sim, "sc2", ACCOUNT)
        assert on.capabilities.oco_orders and not off.capabilities.oco_orders
        assert not on.capabilities.brackets  # legs placed one by one are not linked at Sierra Chart


# ------------------------------------------------------------------ with the engine
async def mirrored_bracket(tmp_path: Path, leader_first: bool) -> None:
    """A paper leader's bracket (two legs of one OCO group, submitted back to back) mirrored to a
    Sierra Chart follower with native_oco: ONE SUBMIT_NEW_OCO_ORDER. Both targets fill (the
    leader's first, or the follower's), Sierra Chart cancels the follower's stop, the engine
    journals that cancel and sends no CANCEL_ORDER of its own: one now would take the follower's
    target with it (DTC's OCO), leaving its position unprotected and unclosed."""
    x = PaperExchange(seed=4)
    x.account("lead")
    async with running_sim(ACCOUNT, exchange=x) as sim:
        sc = make_adapter(sim, "sc1", ACCOUNT, native_oco=True)
        cfg = follower_config(sim, "sc1", ACCOUNT, mode="mirror", options={"native_oco": True})
        async with paper_leader_engine(tmp_path, x, (cfg, sc)) as (engine, rows):

            def working() -> dict[OrderType, Any]:
                return {o.order_type: o for o in x.open_orders(ACCOUNT)}

            def held() -> int:
                p = x.accounts[ACCOUNT].positions.get("ES")
                return p.qty if p else 0

            async def leader_target_fills() -> None:
                x.fill("lead", target, 2)  # its own OCO cancels the leader's stop
                seen = "SELECT 1 FROM signals WHERE kind='cancel' AND leader_order_id=?"
                await until("the leader's stop cancel read", lambda: rows(seen, lead_stop))
                assert await engine.drain(timeout_s=5)

            x.submit("lead", symbol="ES", side=Side.BUY, qty=2)
            await until("the entry copied", lambda: held() == 2)
            bid, ask = x.quote("ES")
            group: dict[str, Any] = {"symbol": "ES", "side": Side.SELL, "qty": 2, "oco_group": "G1"}
            lead_stop = x.submit("lead", order_type=OrderType.STOP, stop_price=bid - 10, **group).id
            target = x.submit("lead", order_type=OrderType.LIMIT, price=ask + 10, **group).id
            await until("both legs at Sim1", lambda: set(working()) == {OrderType.STOP, OrderType.LIMIT})
            copies = working()
            stop_coid = copies[OrderType.STOP].client_order_id or ""
            target_coid = copies[OrderType.LIMIT].client_order_id or ""
            [pair] = [r for r in sim.order_requests if r["Type"] == 201]
            assert {pair["ClientOrderID_1"], pair["ClientOrderID_2"]} == {stop_coid, target_coid}
            assert [r[0] for r in requests(sim)] == ["SUBMIT_NEW_SINGLE_ORDER", "SUBMIT_NEW_OCO_ORDER"]

            if leader_first:
                await leader_target_fills()
                assert [r[0] for r in requests(sim)].count("CANCEL_ORDER") == 0
            x.fill(ACCOUNT, copies[OrderType.LIMIT].broker_order_id, 2)  # the follower's target
            sql = "SELECT status FROM intents WHERE client_order_id=?"
            await until("the stop journaled cancelled", lambda: rows(sql, stop_coid) == [("cancelled",)])
            if not leader_first:
                await leader_target_fills()
            assert await engine.drain(timeout_s=5)
            assert held() == 0 and x.open_orders(ACCOUNT) == []
            assert rows("SELECT 1 FROM intents WHERE follower='sc1' AND action='cancel'") == []
            assert [r[0] for r in requests(sim)] == ["SUBMIT_NEW_SINGLE_ORDER", "SUBMIT_NEW_OCO_ORDER"]
            assert not [a for a in engine.alerts if a.level != "info"]


async def test_engine_sends_a_mirrored_bracket_as_one_oco_request_and_lets_sierra_chart_cancel(
    tmp_path: Path,
) -> None:
    await mirrored_bracket(tmp_path, leader_first=False)


async def test_the_leaders_target_filling_first_sends_no_cancel_of_the_followers_stop(tmp_path: Path) -> None:
    await mirrored_bracket(tmp_path, leader_first=True)
