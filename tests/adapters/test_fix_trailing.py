"""Native trailing stops on FIX (issue 23), over real loopback sockets against the FIX simulator.

With ``trailing_stops: true`` a follower's TRAILING_STOP goes out as OrdType 3 with ExecInst a and its
trail in PegDifference (211), signed as added to the market; the venue moves the stop as the market
rises (each move an ExecType D report, read as an ORDER_MODIFIED) and fills it when the market turns;
a quantity change is a replace with the trail again and no StopPx. A leader's trailing stop reported
so arrives as a TRAILING_STOP with its trail. Off, nothing trailing is sent, and the simulator, like
the many gateways without them, refuses trailing stops unless started with them. The simulator
refuses the readings copytui did not choose, naming the tag (adapters/fix/trailing.py says what was
chosen and why).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.fix import FixAdapter, FixConfigError, parse_options
from adapters.fix import wire as w
from adapters.fix.frames import frame
from adapters.fix.rejects import describe
from adapters.fix.simulator import FixSimulator, LockedExchange
from adapters.kit.conformance import Venue
from adapters.paper.exchange import PaperExchange, PaperOrder
from copytui.config import AccountConfig, FollowerConfig
from copytui.models import EventKind, FollowerOrder, OrderAction, OrderStatus, OrderType, Side
from tests.adapters.fix_support import account, adapter, comp_id, free_port, simulator, until
from tests.engine_harness import paper_leader_engine

ACCOUNT = "TRAILACC"
VERSIONS = [w.FIX42, w.FIX44]
TRAILING = OrderType.TRAILING_STOP


@contextlib.asynccontextmanager
async def venue(
    tmp_path: Path, begin: str = w.FIX44, *, sim_trailing: bool = True, option: bool = True
) -> AsyncIterator[tuple[FixSimulator, Venue]]:
    """A FIX adapter (``trailing_stops`` as ``option``) on the simulator (started with trailing stops
    or not), watching the whole account as a drop copy too."""
    sender = comp_id("TR")
    exchange = LockedExchange(seed=5)
    with simulator(tmp_path, (sender,), exchange=exchange, watch={sender: ACCOUNT}, trailing_stops=sim_trailing) as sim:
        sim.account(ACCOUNT)
        options = {"trailing_stops": True} if option else {}

        def make() -> Any:
            return adapter(account("trail", sim.port, sender, begin, account_id=ACCOUNT, **options), tmp_path / "data")

        async with Venue.open(exchange, ACCOUNT, make, lambda: None) as v:
            yield sim, v


def trailing_order(v: Venue, what: str, side: Side = Side.SELL, qty: int = 1, **kw: Any) -> FollowerOrder:
    return v.order(v.coid(what), side=side, qty=qty).model_copy(update={"order_type": TRAILING, **kw})


def requests(sim: FixSimulator, action: str) -> list[dict[str, Any]]:
    """The fields of each ``action`` request the simulator took, by tag name (its audit)."""
    return [e.request or {} for e in sim.audit.entries if e.action == action and e.outcome == "accepted"]


async def audited(sim: FixSimulator, action: str, n: int) -> list[dict[str, Any]]:
    """:func:`requests` once it holds ``n``: the simulator audits a request after its report went out."""
    await until(f"{n} {action} audited", lambda: len(requests(sim, action)) >= n)
    return requests(sim, action)


def working(x: PaperExchange, account_name: str) -> list[PaperOrder]:
    return [o for o in x.accounts[account_name].orders.values() if not o.status.final]


def held(x: PaperExchange, account_name: str) -> int:
    position = x.accounts[account_name].positions.get("ES")
    return position.qty if position else 0


# ------------------------------------------------------------------------------ follower
@pytest.mark.parametrize("begin", VERSIONS)
async def test_a_follower_trailing_stop_goes_out_pegged_trails_is_resized_and_fills(tmp_path: Path, begin: str) -> None:
    async with venue(tmp_path, begin) as (sim, v):
        assert v.adapter.capabilities.trailing_stops
        bid, _ = v.exchange.quote("ES")
        placed = trailing_order(v, "trail", qty=2, trail=5.0)
        ack = await v.adapter.place(placed)
        assert ack.status is OrderStatus.WORKING, ack.reason
        [sent] = await audited(sim, "place", 1)
        assert (sent["OrdType"], sent["ExecInst"], sent["PegDifference"], sent["OrderQty"]) == ("3", "a", "-5", "2")
        assert "StopPx" not in sent and "Price" not in sent  # the venue starts it 5 from the market
        assert sent.get("PegOffsetType") == ("0" if begin == w.FIX44 else None)  # FIX 4.2 has no such tag
        [paper] = v.paper_orders(placed.client_order_id)
        assert (paper.order_type, paper.trail, paper.stop_price) == (TRAILING, 5.0, bid - 5)
        new = await v.wait_event("ORDER_NEW", Venue.of(EventKind.ORDER_NEW, ack))
        assert (new.order_type, new.trail, new.stop_price) == (TRAILING, 5.0, bid - 5)

        sim.set_price("ES", bid + 3)  # the market rises: the venue raises the stop
        moved = await v.wait_event("the stop's move", Venue.of(EventKind.ORDER_MODIFIED, ack))
        assert (moved.stop_price, moved.trail, moved.qty, moved.order_type) == (bid - 2, 5.0, 2, TRAILING)

        resized = v.change(OrderAction.MODIFY, placed, ack.broker_order_id, qty=1)
        assert (await v.adapter.modify(resized)).status is OrderStatus.WORKING
        [change] = await audited(sim, "modify", 1)
        assert (change["OrderQty"], change["OrdType"], change["ExecInst"], change["PegDifference"]) == (
            "1",
            "3",
            "a",
            "-5",
        )
        assert "StopPx" not in change and "Price" not in change  # the venue owns where the stop stands
        await v.until("the venue's order at 1", lambda: paper.qty == 1)
        assert (paper.stop_price, paper.trail) == (bid - 2, 5.0)  # a resize leaves the stop where it moved

        sim.set_price("ES", bid - 2)  # the market turns down to the stop
        fill = await v.wait_event("the stop's fill", Venue.of(EventKind.FILL, ack, cum_qty=1))
        assert (fill.fill_qty, fill.fill_price, fill.order_type, fill.trail) == (1, bid - 2, TRAILING, 5.0)
        assert v.paper_position() == -1


async def test_a_known_stop_is_where_the_copy_starts_a_buys_peg_is_positive_and_no_trail_is_unsent(
    tmp_path: Path,
) -> None:
    async with venue(tmp_path) as (sim, v):
        bid, ask = v.exchange.quote("ES")
        started = trailing_order(v, "start", trail=5.1, stop_price=bid - 3)
        assert (await v.adapter.place(started)).status is OrderStatus.WORKING
        bought = trailing_order(v, "buy", side=Side.BUY, trail=2.0)
        assert (await v.adapter.place(bought)).status is OrderStatus.WORKING
        sell, buy = await audited(sim, "place", 2)
        assert (float(sell["StopPx"]), sell["PegDifference"]) == (bid - 3, "-5")  # on the tick grid
        assert (buy["PegDifference"], "StopPx" in buy) == ("2", False)  # a buy's stop trails above the market
        [paper_sell] = v.paper_orders(started.client_order_id)
        [paper_buy] = v.paper_orders(bought.client_order_id)
        assert (paper_sell.stop_price, paper_sell.trail) == (bid - 3, 5.0)  # started there, not 5 from the market
        assert (paper_buy.stop_price, paper_buy.trail) == (ask + 2, 2.0)

        refused = await v.adapter.place(trailing_order(v, "notrail"))
        assert refused.status is OrderStatus.REJECTED and "PegDifference (211)" in (refused.reason or "")
        assert len(sim.audit.entries) == 2  # refused before the wire


# ------------------------------------------------------------------------------ leader
@pytest.mark.parametrize("begin", VERSIONS)
async def test_a_leaders_trailing_stop_is_read_with_its_trail_and_each_move_as_a_modification(
    tmp_path: Path, begin: str
) -> None:
    async with venue(tmp_path, begin) as (sim, v):
        bid, _ = v.exchange.quote("ES")
        with sim.locked() as x:  # the trader's platform places it; copytui reads the account's reports
            lead = x.submit(ACCOUNT, symbol="ES", side=Side.SELL, qty=2, order_type=TRAILING, trail=4.0)

        def mine(kind: EventKind) -> Any:
            return lambda e: e.kind is kind and e.order_id == lead.id

        new = await v.wait_event("the leader's ORDER_NEW", mine(EventKind.ORDER_NEW))
        assert (new.order_type, new.trail, new.stop_price, new.qty) == (TRAILING, 4.0, bid - 4, 2)
        [listed] = [o for o in await v.adapter.open_orders() if o.broker_order_id == lead.id]
        assert (listed.order_type, listed.trail, listed.stop_price) == (TRAILING, 4.0, bid - 4)

        sim.set_price("ES", bid + 2)
        moved = await v.wait_event("the leader stop's move", mine(EventKind.ORDER_MODIFIED))
        assert (moved.order_type, moved.trail, moved.stop_price) == (TRAILING, 4.0, bid - 2)
        assert moved.version > new.version

        sim.set_price("ES", bid - 2)
        fill = await v.wait_event("the leader's fill", mine(EventKind.FILL))
        assert (fill.cum_qty, fill.fill_price, fill.trail) == (2, bid - 2, 4.0)


async def test_a_leaders_trailing_stop_reported_without_its_peg_has_no_trail_to_copy(tmp_path: Path) -> None:
    """ExecInst a without 211: a trailing stop whose distance is unknown, so copytui copies its moves."""
    async with venue(tmp_path) as (sim, v):
        bid, _ = v.exchange.quote("ES")
        sim.strip_next((211,))
        with sim.locked() as x:
            lead = x.submit(ACCOUNT, symbol="ES", side=Side.SELL, qty=1, order_type=TRAILING, trail=3.0)
        new = await v.wait_event("ORDER_NEW", lambda e: e.kind is EventKind.ORDER_NEW and e.order_id == lead.id)
        assert (new.order_type, new.trail, new.stop_price) == (TRAILING, None, bid - 3)


# ------------------------------------------------------------------------------ off / refused
async def test_option_off_sends_nothing_trailing_and_a_venue_without_them_refuses(tmp_path: Path) -> None:
    async with venue(tmp_path, option=False) as (sim, v):
        assert not v.adapter.capabilities.trailing_stops  # the engine copies a trailing stop as a plain stop
        refused = await v.adapter.place(trailing_order(v, "off", trail=5.0))
        assert refused.status is OrderStatus.REJECTED and "options.trailing_stops" in (refused.reason or "")
        assert sim.audit.entries == []

    async with venue(tmp_path, sim_trailing=False) as (sim, v):
        assert v.adapter.capabilities.trailing_stops
        refused = await v.adapter.place(trailing_order(v, "novenue", trail=5.0))
        assert refused.status is OrderStatus.REJECTED
        assert "takes no trailing stops" in (refused.reason or "") and "ExecInst (18)" in (refused.reason or "")
        [entry] = await until("the refusal audited", lambda: sim.audit.entries)
        assert (entry.outcome, (entry.request or {}).get("ExecInst")) == ("refused", "a")
        assert working(v.exchange, ACCOUNT) == []


@pytest.mark.parametrize(
    ("value", "expect"),
    [("yes", "options.trailing_stops: 'yes' is not true or false. write true or false"), (1, "is not true or false")],
)
def test_a_bad_trailing_stops_value_is_one_line(value: object, expect: str) -> None:
    options = {"sender_comp_id": "A", "target_comp_id": "SIM"}
    assert (
        parse_options(AccountConfig(name="gw", broker="fix", host="h", port=1, options=options)).trailing_stops is False
    )
    cfg = AccountConfig(name="gw", broker="fix", host="h", port=1, options={**options, "trailing_stops": value})
    with pytest.raises(FixConfigError) as err:
        parse_options(cfg)
    assert str(err.value).startswith("fix account gw: ") and expect in str(err.value) and "\n" not in str(err.value)


def test_a_gateway_refusing_execinst_a_is_answered_with_the_option_that_turns_it_off() -> None:
    """What a FIX 4.2 gateway validating against its dictionary answers ExecInst a (QuickFIX's 4.2 has no a)."""
    options = {"sender_comp_id": "A", "target_comp_id": "B", "trailing_stops": True}
    opts = parse_options(AccountConfig(name="gw", broker="fix", host="h", port=1, options=options))
    for tag, name in (("18", "ExecInst (18)"), ("211", "PegDifference (211)")):
        raw = f"35=3|45=5|58=Value is incorrect (out of range) for this tag|371={tag}|372=D|373=5|"
        text = describe(w.Fields.parse(raw.replace("|", w.SOH)), w.NEW_ORDER, TRAILING, opts)
        assert text.startswith(f"session reject of NewOrderSingle (D): {name} refused: Value is incorrect"), text
        assert "set trailing_stops: false" in text and "fix account gw" in text


def _raw(v: Venue, begin: str, msg_type: str, tags: dict[int, Any]) -> None:
    """Send one request as a trader's own client would, on the adapter's FIX session."""
    coid = v.coid("raw")
    base: dict[int, Any] = {
        w.CL_ORD_ID: coid, w.ACCOUNT: ACCOUNT, w.SYMBOL: "ES", w.SIDE: "2", w.TRANSACT_TIME: w.utc_timestamp(),
        w.ORDER_QTY: 1, w.HANDL_INST: "1", w.ORD_TYPE: "3", 18: "a", 211: -5,
    }  # fmt: skip
    fields = [(tag, value) for tag, value in (base | tags).items() if value is not None]
    assert isinstance(v.adapter, FixAdapter)
    v.adapter.session.send(frame(begin, msg_type, fields), msg_type, coid)


async def _refusals(
    sim: FixSimulator, v: Venue, begin: str, msg_type: str, cases: dict[str, dict[int, Any]]
) -> dict[str, str]:
    """Each case's refusal, as the simulator's audit gives it."""
    out = {}
    for name, tags in cases.items():
        before = len(sim.audit.entries)
        _raw(v, begin, msg_type, tags)
        await until(name, lambda: len(sim.audit.entries) > before)  # noqa: B023 - awaited inside the loop
        entry = sim.audit.entries[before]
        assert entry.outcome == "refused", (name, entry)
        out[name] = entry.reason
    return out


async def test_the_simulator_refuses_the_readings_copytui_did_not_choose_and_names_the_tag(tmp_path: Path) -> None:
    async with venue(tmp_path) as (sim, v):
        bid, _ = v.exchange.quote("ES")
        new = await _refusals(sim, v, w.FIX44, w.NEW_ORDER, {
            "unsigned": {211: 5}, "a price": {211: -bid}, "in ticks": {211: -5.1}, "no peg": {211: None},
            "peg alone": {18: None}, "on a limit": {40: "2", 44: bid - 10}, "fixed": {835: "1"},
            "offset in ticks": {836: "2"},
        })  # fmt: skip
        assert "a sell's is negative" in new["unsigned"] and "reads as a price" in new["a price"]
        assert "tick grid" in new["in ticks"] and "needs PegDifference (211)" in new["no peg"]
        assert "PegDifference (211) without ExecInst (18) a" in new["peg alone"]
        assert "OrdType (40) 3" in new["on a limit"] and "PegMoveType (835)" in new["fixed"]
        assert "PegOffsetType (836)" in new["offset in ticks"]
        assert working(v.exchange, ACCOUNT) == []

        placed = trailing_order(v, "kept", qty=2, trail=5.0)
        ack = await v.adapter.place(placed)
        stop = await v.adapter.place(
            v.order(v.coid("plain"), side=Side.SELL, order_type=OrderType.STOP, stop_price=bid - 9)
        )
        await audited(sim, "place", 2)
        target = {w.ORIG_CL_ORD_ID: placed.client_order_id, w.ORDER_ID: ack.broker_order_id}
        plain = {w.ORIG_CL_ORD_ID: stop.client_order_id, w.ORDER_ID: stop.broker_order_id}
        replaced = await _refusals(sim, v, w.FIX44, w.REPLACE, {
            "no exec inst": target | {18: None}, "a stop price": target | {99: bid - 1},
            "unsigned": target | {211: 5}, "made to trail": plain,
        })  # fmt: skip
        assert "carries ExecInst (18) a and its PegDifference (211) again" in replaced["no exec inst"]
        assert "StopPx (99)" in replaced["a stop price"] and "a sell's is negative" in replaced["unsigned"]
        assert "does not make an order trail" in replaced["made to trail"]
        [paper] = v.paper_orders(placed.client_order_id)
        assert (paper.qty, paper.trail, paper.order_type) == (2, 5.0, TRAILING)

    async with venue(tmp_path, w.FIX42) as (sim, v):
        refused = await _refusals(sim, v, w.FIX42, w.NEW_ORDER, {"a 4.4 tag": {836: "0"}})
        assert "PegOffsetType (836) is not a FIX 4.2 tag" in refused["a 4.4 tag"]


# ------------------------------------------------------------------------------ engine
async def test_engine_copies_a_paper_leaders_trailing_stop_natively_and_none_of_its_moves(tmp_path: Path) -> None:
    """A mirror follower on FIX with trailing_stops: the leader's trailing stop becomes the gateway's
    own; the leader's stop moves reach the engine (one signal each) and none goes to the follower,
    whose gateway moves its copy; both fill when the market turns."""
    sender = comp_id("TE")
    x = LockedExchange(seed=4)
    x.account("lead")
    with simulator(tmp_path, (sender,), exchange=x, trailing_stops=True) as sim:
        sim.account("FIXF")
        follower = adapter(account("fixf", sim.port, sender, account_id="FIXF", trailing_stops=True), tmp_path / "data")
        cfg = FollowerConfig(name="fixf", broker="fix", mode="mirror")
        async with paper_leader_engine(tmp_path, x, (cfg, follower)) as (engine, rows):
            x.submit("lead", symbol="ES", side=Side.BUY, qty=2)
            await until("the follower long 2", lambda: held(x, "FIXF") == 2)
            bid, _ = x.quote("ES")
            lead = x.submit("lead", symbol="ES", side=Side.SELL, qty=2, order_type=TRAILING, trail=4.0)
            [copy] = await until("the follower's trailing stop", lambda: working(x, "FIXF"))
            assert (copy.order_type, copy.trail, copy.stop_price, copy.qty) == (TRAILING, 4.0, bid - 4, 2)
            [_, placed] = await audited(sim, "place", 2)
            assert (placed["ExecInst"], placed["PegDifference"], float(placed["StopPx"])) == ("a", "-4", bid - 4)

            for up in (1.0, 2.0, 3.0):
                x.set_price("ES", bid + up)  # the leader's stop follows the market up, and so does the copy
            assert lead.stop_price == bid - 1
            await until("the gateway moved the copy", lambda: copy.stop_price == bid - 1)
            moves = "SELECT COUNT(*) FROM signals WHERE kind = 'modify' AND leader_order_id = ?"
            await until("each leader move read", lambda: rows(moves, lead.id) == [(3,)])
            assert await engine.drain(timeout_s=5)
            assert rows("SELECT COUNT(*) FROM intents WHERE follower = 'fixf' AND action = 'modify'") == [(0,)]
            assert sim.received[w.REPLACE] == 0 and requests(sim, "modify") == []

            x.set_price("ES", bid - 1)  # down to both stops
            await until("both flat", lambda: held(x, "lead") == 0 and held(x, "FIXF") == 0)
            assert (copy.status, lead.status) == (OrderStatus.FILLED, OrderStatus.FILLED)
            trails = rows("SELECT order_type, trail FROM intents WHERE action = 'place' AND order_type != 'market'")
            assert trails == [("trailing_stop", 4.0)]


# ------------------------------------------------------------------------------ copytui sim fix
def test_copytui_sim_fix_takes_trailing_stops_with_its_flag(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "copytui.cli", "sim", "fix", "--port", str(port), "--accounts", "1", "--trailing-stops"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(5)]
        assert f"FIX simulator on 127.0.0.1:{port}" in lines[0], lines
        assert any("trailing stops (ExecInst a, PegDifference 211): taken" in line for line in lines), lines

        async def place() -> tuple[OrderStatus, str | None]:
            cfg = account("clitrail", port, "CLIENT1", account_id="FIX1", trailing_stops=True)
            a = adapter(cfg, tmp_path / "data")
            await a.connect()
            try:
                order = FollowerOrder(
                    follower="f", signal_id="s", client_order_id="cli-trail", action=OrderAction.PLACE,
                    symbol="ES", side=Side.SELL, qty=1, order_type=TRAILING, trail=5.0,
                )  # fmt: skip
                ack = await a.place(order)
            finally:
                await a.disconnect()
            return ack.status, ack.reason

        status, reason = asyncio.run(place())
        assert status is OrderStatus.WORKING, reason
    finally:
        proc.terminate()
        proc.wait(timeout=10)
