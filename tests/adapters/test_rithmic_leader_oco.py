"""A Rithmic leader's bracket is one OCO group (issue 23): the legs of a bracket order (330), placed
by the leader's own script, carry one ``oco_group`` in the adapter's events and in the open orders
it reads, after a reconnect and in a new session too; a plain order carries none; links stated in
any of the ways the notifications' fields can be read name one group; and the engine copies the
bracket to a paper mirror follower as one follower OCO pair. Over real loopback sockets, against the
simulator; async-rithmic's own client places the bracket too when its venv is there
(COPYTUI_RITHMIC_SDK_PYTHON, as in test_rithmic_sdk.py)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from adapters.paper import PaperAdapter
from adapters.paper.exchange import PaperExchange
from adapters.rithmic import proto
from adapters.rithmic.enums import (
    BracketType,
    Duration,
    ExchangeNotify,
    InfraType,
    OrderNotify,
    OrderPlacement,
    PriceType,
    TransactionType,
)
from adapters.rithmic.messages import TEMPLATES
from adapters.rithmic.order_messages import (
    ExchangeOrderNotification,
    RequestBracketOrder,
    RequestNewOrder,
    ResponseBracketOrder,
    ResponseNewOrder,
    RithmicOrderNotification,
)
from adapters.rithmic.simulator import RithmicSimulator, SimUser
from copytui.config import FollowerConfig
from copytui.engine import Engine
from copytui.journal import Journal
from copytui.models import AccountEvent, EventKind, OrderStatus, OrderType
from tests.adapters.rithmic_support import (
    PASSWORD,
    USER,
    RawClient,
    account_config,
    connected,
    make_adapter,
    simulator,
    until,
)
from tests.adapters.test_rithmic_sdk import sdk_python

ACCOUNT = "RSIM-1001"
SCRIPT = Path(__file__).parents[1] / "outside" / "rithmic" / "place_bracket.py"
HANG_GUARD_S = 300.0  # only against a hung child: the script waits for the legs on its own
Legs = dict[OrderType, Any]
Rows = Callable[[str], list[tuple[Any, ...]]]


def bracket(sim: RithmicSimulator, tag: str, qty: int = 2, stop_ticks: int = 8, target_ticks: int = 12,
            kind: BracketType = BracketType.TARGET_AND_STOP) -> RequestBracketOrder:  # fmt: skip
    """A market buy with a stop and a target, as a leader's own script sends it."""
    front = sim.desk.contract("ES")
    return RequestBracketOrder(
        user_msg=[tag], user_tag=tag, fcm_id=sim.desk.fcm_id, ib_id=sim.desk.ib_id, account_id=ACCOUNT,
        symbol=front.symbol, exchange=front.exchange, quantity=qty, transaction_type=TransactionType.BUY,
        duration=Duration.DAY, price_type=PriceType.MARKET, trade_route=sim.desk.route,
        manual_or_auto=OrderPlacement.MANUAL, bracket_type=kind, stop_ticks=stop_ticks, stop_quantity=qty,
        target_ticks=target_ticks, target_quantity=qty,
    )  # fmt: skip


async def place_bracket(sim: RithmicSimulator, raw: RawClient, tag: str = "lead-br", **kw: Any) -> str:
    """The entry's basket id, once the simulator accepted the bracket."""
    await raw.send(bracket(sim, tag, **kw))
    first, _ = await raw.until(ResponseBracketOrder)
    assert isinstance(first, ResponseBracketOrder) and first.rq_handler_rp_code == ["0"], first
    done, _ = await raw.until(ResponseBracketOrder)
    assert isinstance(done, ResponseBracketOrder) and done.rp_code == ["0"], done
    return first.basket_id


def leg_events(events: list[AccountEvent], entry: str, kind: EventKind = EventKind.ORDER_NEW) -> list[AccountEvent]:
    return [e for e in events if e.kind is kind and e.order_id != entry]


# ----------------------------------------------------------------------------- the wire


def test_bracket_order_and_link_fields_carry_rithmics_field_numbers() -> None:
    request = RequestBracketOrder(user_msg=["q"], bracket_type=BracketType.TARGET_AND_STOP, stop_ticks=8)
    assert proto.decode(proto.encode(request), TEMPLATES) == request
    fields = {f.name: f.number for f in proto.spec_of(RequestBracketOrder).fields if f.name}
    assert (fields["bracket_type"], fields["stop_ticks"], fields["target_ticks"]) == (157087, 154458, 154456)
    for cls in (RithmicOrderNotification, ExchangeOrderNotification):
        fields = {f.name: f.number for f in proto.spec_of(cls).fields if f.name}
        assert (fields["original_basket_id"], fields["linked_basket_ids"], fields["bracket_type"]) == (
            154497,
            110358,
            157087,
        )


# ----------------------------------------------------------------------------- the simulator and the adapter


async def test_a_leader_brackets_legs_arrive_with_one_oco_group_and_a_filled_target_ends_the_stop() -> None:
    async with simulator() as sim, connected(sim, "lead") as (_, c), RawClient(sim.url) as raw:
        x = sim.exchange
        await raw.login(InfraType.ORDER_PLANT)
        entry = await place_bracket(sim, raw)
        await until(lambda: len(leg_events(c.events, entry)) == 2, what="both legs working")
        stop, target = sorted(leg_events(c.events, entry), key=lambda e: e.order_type is OrderType.LIMIT)
        fill = x.accounts[ACCOUNT].orders[entry].avg_fill_price or 0.0
        assert (stop.order_type, stop.stop_price, stop.qty) == (OrderType.STOP, fill - 8 * 0.25, 2)
        assert (target.order_type, target.price, target.qty) == (OrderType.LIMIT, fill + 12 * 0.25, 2)
        assert stop.oco_group is not None and stop.oco_group == target.oco_group
        assert all(e.oco_group is None for e in c.events if e.order_id == entry)  # the entry is no leg

        x.fill(ACCOUNT, target.order_id or "", 2)
        await until(lambda: bool(leg_events(c.events, entry, EventKind.ORDER_CANCELLED)), what="the stop's cancel")
        [cancel] = leg_events(c.events, entry, EventKind.ORDER_CANCELLED)
        [filled] = leg_events(c.events, entry, EventKind.FILL)
        assert (cancel.order_id, filled.order_id) == (stop.order_id, target.order_id)
        assert cancel.oco_group == filled.oco_group == stop.oco_group
        assert x.open_orders(ACCOUNT) == [] and x.accounts[ACCOUNT].positions["ES"].qty == 0
        assert [(e.action, e.client_order_id, e.outcome) for e in sim.audit.entries] == [
            ("bracket_order", "lead-br", "accepted")
        ]


async def test_a_plain_order_and_a_stop_only_brackets_lone_leg_carry_no_group() -> None:
    async with simulator() as sim, connected(sim, "lead") as (adapter, c), RawClient(sim.url) as raw:
        await raw.login(InfraType.ORDER_PLANT)
        entry = await place_bracket(sim, raw, "lead-so", kind=BracketType.STOP_ONLY)
        plain = bracket(sim, "lead-plain")
        bid, _ = sim.exchange.quote("ES")
        await raw.send(
            RequestNewOrder(
                user_msg=["p"], user_tag="lead-plain", account_id=ACCOUNT, symbol=plain.symbol,
                exchange=plain.exchange, quantity=1, price=bid - 20, transaction_type=TransactionType.BUY,
                duration=Duration.DAY, price_type=PriceType.LIMIT, trade_route=sim.desk.route,
            )
        )  # fmt: skip
        await raw.until(ResponseNewOrder)
        await until(lambda: len(leg_events(c.events, entry)) == 2, what="the stop leg and the plain order")
        assert {(e.order_type, e.oco_group) for e in leg_events(c.events, entry)} == {
            (OrderType.STOP, None),
            (OrderType.LIMIT, None),
        }
        assert [o.oco_group for o in await adapter.open_orders()] == [None, None]


async def test_the_simulator_refuses_a_bracket_it_cannot_keep_and_places_nothing() -> None:
    async with simulator() as sim, RawClient(sim.url) as raw:
        await raw.login(InfraType.ORDER_PLANT)
        for request, says in (
            (bracket(sim, "no-ticks", stop_ticks=0), "needs stop_ticks above 0"),
            (replace(bracket(sim, "part"), target_quantity=1), "target_quantity 1 differs from quantity 2"),
            (replace(bracket(sim, "kind"), bracket_type=9), "bracket_type 9 is not one Rithmic lists"),
        ):
            await raw.send(request)
            refused, _ = await raw.until(ResponseBracketOrder)
            assert isinstance(refused, ResponseBracketOrder) and refused.rp_code[0] == "3", request.user_tag
            assert says in refused.rp_code[1]
        assert sim.exchange.accounts[ACCOUNT].orders == {}
        assert [e.outcome for e in sim.audit.entries] == ["refused"] * 3


async def test_open_orders_after_a_reconnect_and_in_a_new_session_carry_the_group() -> None:
    async with simulator() as sim, RawClient(sim.url) as raw:
        await raw.login(InfraType.ORDER_PLANT)
        async with connected(sim, "lead") as (adapter, c):
            entry = await place_bracket(sim, raw)
            await until(lambda: len(leg_events(c.events, entry)) == 2, what="both legs working")
            group = leg_events(c.events, entry)[0].oco_group
            assert group is not None
            assert sim.drop_sockets(ACCOUNT) > 0
            await until(lambda: adapter.resyncs == 1, what="the session back and caught up")
            listed = await adapter.open_orders()
            assert sorted(o.order_type for o in listed) == [OrderType.LIMIT, OrderType.STOP]
            assert {o.oco_group for o in listed} == {group}
        async with connected(sim, "lead") as (fresh, _):  # a new session: nothing learned live
            assert {o.oco_group for o in await fresh.open_orders()} == {group}


# ----------------------------------------------------------------------------- readings of the link fields


def _open(sim: RithmicSimulator, basket: str, price: float, **link: Any) -> RithmicOrderNotification:
    front = sim.desk.contract("ES")
    return RithmicOrderNotification(
        notify_type=OrderNotify.OPEN, basket_id=basket, account_id=ACCOUNT, symbol=front.symbol,
        exchange=front.exchange, quantity=1, price=price, transaction_type=TransactionType.SELL,
        price_type=PriceType.LIMIT, status="open", **link,
    )  # fmt: skip


def _cancelled(sim: RithmicSimulator, basket: str, price: float) -> ExchangeOrderNotification:
    front = sim.desk.contract("ES")
    return ExchangeOrderNotification(
        notify_type=ExchangeNotify.CANCEL, basket_id=basket, account_id=ACCOUNT, symbol=front.symbol,
        exchange=front.exchange, quantity=1, price=price, transaction_type=TransactionType.SELL,
        price_type=PriceType.LIMIT, status="cancelled",
    )  # fmt: skip


TWO = BracketType.TARGET_AND_STOP
READINGS = {
    "each leg names the other": ({"linked_basket_ids": "9002"}, {"linked_basket_ids": "9001"}, "oco-9001"),
    "the second names the first": ({}, {"linked_basket_ids": "9001"}, "oco-9001"),
    "both name a shared id": ({"linked_basket_ids": "9000"}, {"linked_basket_ids": "9000"}, "oco-9000"),
    "both name their entry": (
        {"original_basket_id": "9000", "bracket_type": TWO},
        {"original_basket_id": "9000", "bracket_type": TWO, "linked_basket_ids": "9001, 9000"},
        "bracket-9000",
    ),
}


@pytest.mark.parametrize("reading", list(READINGS))
async def test_links_stated_any_way_name_one_group(reading: str) -> None:
    first, second, name = READINGS[reading]
    async with simulator() as sim, connected(sim, "lead") as (_, c):
        notes = [
            _open(sim, "9001", 6001.0, **first),
            _open(sim, "9002", 6002.0, **second),
            _cancelled(sim, "9001", 6001),
        ]
        assert sim.inject(ACCOUNT, b"".join(proto.frame(n) for n in notes)) == 1
        await until(lambda: len(c.events) == 3, what="the three events")
        opened_first, opened_second, cancelled = c.events
        assert (opened_second.oco_group, cancelled.oco_group) == (name, name)
        # a link stated only on the second leg cannot be known when the first opens
        assert opened_first.oco_group == (None if reading == "the second names the first" else name)


# ----------------------------------------------------------------------------- with the engine


async def _engine_with_a_copied_bracket(tmp_path: Path, body: Any) -> None:
    """A Rithmic leader (its own script places the bracket) and a paper mirror follower ``m`` on the
    simulator's exchange; ``body(engine, x, copies, leader_legs, rows)`` once both legs are copied
    (``rows(sql)`` reads the journal after a flush)."""
    x = PaperExchange(seed=4)
    x.account("m")
    async with RithmicSimulator(x, users={USER: SimUser(PASSWORD, [ACCOUNT])}) as sim, RawClient(sim.url) as raw:
        journal = Journal(tmp_path / "journal.sqlite3")
        engine = Engine(
            leader_cfg=account_config(sim, "lead", ACCOUNT),
            leader=make_adapter(sim, "lead", ACCOUNT),
            followers=[(FollowerConfig(name="m", broker="paper", mode="mirror"), PaperAdapter(x, "m"))],
            journal=journal,
            reconcile_interval_s=3600,
        )
        await engine.start()
        try:
            await raw.login(InfraType.ORDER_PLANT)
            await place_bracket(sim, raw, qty=2, stop_ticks=40, target_ticks=40)

            def legs(account: str) -> dict[OrderType, Any]:
                return {o.order_type: o for o in x.open_orders(account)}

            await until(lambda: set(legs("m")) == {OrderType.STOP, OrderType.LIMIT}, what="both legs at the follower")
            intents = engine.followers["m"].state.intents
            groups = {intents[o.client_order_id or ""].order.oco_group for o in legs("m").values()}
            assert len(groups) == 1 and None not in groups  # one follower OCO group for both copies

            def rows(sql: str) -> list[tuple[Any, ...]]:
                journal.flush()
                return list(journal.db.execute(sql))

            await body(engine, x, legs("m"), legs(ACCOUNT), rows)
            assert x.open_orders("m") == [] and x.duplicate_submissions("m") == 0
            assert not [a for a in engine.alerts if a.level != "info"]
        finally:
            await engine.stop(settle=False)
            journal.close()


def _held(x: PaperExchange, account: str) -> int:
    position = x.accounts[account].positions.get("ES")
    return position.qty if position else 0


async def test_engine_cancels_the_followers_stop_when_the_rithmic_leaders_target_fills(tmp_path: Path) -> None:
    async def body(engine: Engine, x: PaperExchange, copies: Legs, lead: Legs, rows: Rows) -> None:
        x.fill(ACCOUNT, lead[OrderType.LIMIT].broker_order_id, 2)  # Rithmic's OCO then cancels the leader's stop
        m_stop = copies[OrderType.STOP]
        await until(lambda: x.accounts["m"].orders[m_stop.broker_order_id].status is OrderStatus.CANCELLED,
                    what="the follower's stop cancelled")  # fmt: skip
        assert _held(x, ACCOUNT) == 0 and _held(x, "m") == 2  # mirror: the follower's target fills at its market
        x.fill("m", copies[OrderType.LIMIT].broker_order_id, 2)
        await until(lambda: _held(x, "m") == 0, what="the follower flat")
        assert await engine.drain(timeout_s=5)
        cancels = rows("SELECT target_client_order_id FROM intents WHERE action='cancel'")
        assert cancels == [(m_stop.client_order_id,)]

    await _engine_with_a_copied_bracket(tmp_path, body)


async def test_engine_pairs_the_copies_a_filled_follower_target_cancels_its_stop_at_once(tmp_path: Path) -> None:
    """The follower's own target fills first: copytui's OCO (which knows the pair only from the
    leader's group) cancels the follower's stop before the leader's bracket does anything."""

    async def body(engine: Engine, x: PaperExchange, copies: Legs, lead: Legs, rows: Rows) -> None:
        x.fill("m", copies[OrderType.LIMIT].broker_order_id, 2)
        m_stop = copies[OrderType.STOP]
        await until(lambda: x.accounts["m"].orders[m_stop.broker_order_id].status is OrderStatus.CANCELLED,
                    what="the follower's stop cancelled by copytui")  # fmt: skip
        assert {o.order_type for o in x.open_orders(ACCOUNT)} == {OrderType.STOP, OrderType.LIMIT}  # leader untouched
        assert await engine.drain(timeout_s=5)
        reasons = [r for (r,) in rows("SELECT reason FROM intents WHERE action='cancel'")]
        assert reasons == ["oco: target filled"]
        x.cancel(ACCOUNT, lead[OrderType.STOP].broker_order_id)  # the leader winds its bracket down by hand
        x.cancel(ACCOUNT, lead[OrderType.LIMIT].broker_order_id)
        assert await engine.drain(timeout_s=5)

    await _engine_with_a_copied_bracket(tmp_path, body)


# ----------------------------------------------------------------------------- async-rithmic's own client


async def test_async_rithmic_places_a_bracket_and_our_leader_reads_its_legs_as_one_group() -> None:
    python = sdk_python()
    async with simulator(seed=21) as sim, connected(sim, "lead") as (_, ours):
        front = sim.desk.contract("ES")
        proc = await asyncio.create_subprocess_exec(
            python, str(SCRIPT), sim.url, "--symbol", front.symbol, "--exchange", front.exchange,
            "--account", ACCOUNT, "--user", USER, "--tag", "sdkbr",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "RITHMIC_PASSWORD": PASSWORD},
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), HANG_GUARD_S)
        assert proc.returncode != 2, f"async-rithmic is not installed for {python}: {err.decode()}"
        assert proc.returncode == 0, f"async-rithmic did not see the bracket's legs:\n{err.decode()}\n{out.decode()}"
        notes = json.loads(out.decode().strip().splitlines()[-1])["notifications"]
        [entry] = {n["basket_id"] for n in notes if n["user_tag"] == "sdkbr"}
        legs = {n["basket_id"] for n in notes if n.get("original_basket_id") == entry}
        await until(lambda: len(leg_events(ours.events, entry)) == 2, what="our leader's view of both legs")
    [request] = [e.request or {} for e in sim.audit.entries if e.action == "bracket_order"]
    assert request["bracket_type"] == BracketType.TARGET_AND_STOP_STATIC  # what async-rithmic sends for stop+target
    assert (request["stop_ticks"], request["target_ticks"], request["user_tag"]) == (8, 12, "sdkbr")
    events = leg_events(ours.events, entry)
    assert {e.order_id for e in events} == legs and len(legs) == 2
    assert len({e.oco_group for e in events}) == 1 and events[0].oco_group == f"bracket-{entry}"
    assert {n["bracket_type"] for n in notes if n["basket_id"] in legs} == {BracketType.TARGET_AND_STOP_STATIC}
