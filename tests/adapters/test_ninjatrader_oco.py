"""NinjaTrader keeps a follower's bracket OCO itself: each leg's PLACE line carries its OCO ID, the
stand-in links the legs as NinjaTrader's OCO does (a filled leg cancels the other, and so does a
cancelled one), the state files show it, and the engine journals the sibling as NinjaTrader's
cancel, sending none of its own. Over real files in a temp folder, against the stand-in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapters.ninjatrader.simulator import NinjaTraderStandIn
from adapters.ninjatrader.wire import NtState, fit_oco_id, parse_order_file
from adapters.paper.exchange import PaperExchange
from copytui.config import FollowerConfig
from copytui.models import EventKind, OrderStatus, OrderType, Side
from tests.adapters.ninjatrader_support import make_adapter, nt_session, order, until
from tests.engine_harness import paper_leader_engine


def oco_fields(sim: NinjaTraderStandIn) -> dict[str, str]:
    """ORDER ID -> OCO ID of every PLACE line the stand-in carried out."""
    return {
        e.client_order_id or "": str((e.request or {}).get("oco"))
        for e in sim.audit.entries
        if e.action == "place" and e.outcome == "accepted"
    }


def state_file(folder: Path, coid: str) -> NtState:
    path = folder / "outgoing" / f"{coid}.txt"
    return parse_order_file(path.read_text(), path.name).state


def protective_legs(x: PaperExchange, group: str, qty: int = 2) -> tuple[Any, Any]:
    """A sell stop 10 below and a sell limit 10 above the market, both of follower OCO ``group``."""
    bid, ask = x.quote("ES")
    leg: dict[str, Any] = {"side": Side.SELL, "qty": qty, "oco_group": group}
    return (
        order("ct-stop", order_type=OrderType.STOP, stop_price=bid - 10, **leg),
        order("ct-target", order_type=OrderType.LIMIT, price=ask + 10, **leg),
    )


def test_a_group_ninjatrader_would_choke_on_is_fitted_the_same_way_for_every_leg() -> None:
    assert fit_oco_id("oco0123456789abcdef") == "oco0123456789abcdef"
    odd = fit_oco_id("lead|G;1\r\n")
    assert odd == fit_oco_id("lead|G;1\r\n") and odd.startswith("oco") and odd.isalnum()
    assert fit_oco_id("G" * 41) != fit_oco_id("G" * 42) and len(fit_oco_id("G" * 41)) <= 40


async def test_the_oco_id_goes_out_and_a_filled_target_cancels_the_stop_at_ninjatrader(tmp_path: Path) -> None:
    async with nt_session(tmp_path, native_oco=True) as (x, sim, adapter, c):
        assert adapter.capabilities.brackets
        stop, target = protective_legs(x, "ocoa1b2c3d4e5f60718")
        for o in (stop, target):
            assert (await adapter.place(o)).status is OrderStatus.WORKING
        assert oco_fields(sim) == {"ct-stop": "ocoa1b2c3d4e5f60718", "ct-target": "ocoa1b2c3d4e5f60718"}
        assert {o.client_order_id: o.oco_group for o in await adapter.open_orders()} == {
            "ct-stop": "ocoa1b2c3d4e5f60718", "ct-target": "ocoa1b2c3d4e5f60718",
        }  # fmt: skip
        x.fill("Sim101", x.accounts["Sim101"].by_client_id["ct-target"].id, 2)
        await until(lambda: c.kinds(EventKind.ORDER_CANCELLED, "ct-stop"), what="the stop's cancel")
        [cancel] = c.kinds(EventKind.ORDER_CANCELLED, "ct-stop")
        assert cancel.reason and "NinjaTrader's OCO ocoa1b2c3d4e5f60718" in cancel.reason
        assert [e.fill_qty for e in c.fills()] == [2]
        assert state_file(tmp_path, "ct-stop") is NtState.CANCELLED
        assert state_file(tmp_path, "ct-target") is NtState.FILLED
        assert await adapter.open_orders() == []
        assert [e.action for e in sim.audit.entries] == ["place", "place"]  # no CANCEL line from copytui


async def test_cancelling_one_leg_cancels_its_group_as_ninjatrader_says_its_oco_does(tmp_path: Path) -> None:
    async with nt_session(tmp_path, native_oco=True) as (x, sim, adapter, c):
        stop, target = protective_legs(x, "lead|G;1")  # a group NinjaTrader could not take as it is
        for o in (stop, target):
            await adapter.place(o)
        assert set(oco_fields(sim).values()) == {fit_oco_id("lead|G;1")}
        cancel = order("ct-cancel", action="cancel", side=Side.SELL, target_client_order_id="ct-stop")
        await adapter.cancel(cancel)
        await until(lambda: c.kinds(EventKind.ORDER_CANCELLED, "ct-target"), what="the target's cancel")
        [own] = c.kinds(EventKind.ORDER_CANCELLED, "ct-stop")
        [linked] = c.kinds(EventKind.ORDER_CANCELLED, "ct-target")
        assert own.reason is None  # copytui's own cancel, answered
        assert linked.reason and "NinjaTrader's OCO" in linked.reason
        assert state_file(tmp_path, "ct-target") is NtState.CANCELLED


async def test_without_a_group_the_line_has_no_oco_id_and_legs_stay_apart(tmp_path: Path) -> None:
    async with nt_session(tmp_path, native_oco=True) as (x, sim, adapter, c):
        bid, ask = x.quote("ES")
        await adapter.place(order("ct-a", side=Side.SELL, order_type=OrderType.STOP, stop_price=bid - 10))
        await adapter.place(order("ct-b", side=Side.SELL, order_type=OrderType.LIMIT, price=ask + 10))
        assert oco_fields(sim) == {"ct-a": "", "ct-b": ""}
        x.fill("Sim101", x.accounts["Sim101"].by_client_id["ct-b"].id, 1)
        await until(lambda: c.fills(), what="the limit's fill")
        assert [o.client_order_id for o in await adapter.open_orders()] == ["ct-a"]


# ------------------------------------------------------------------ with the engine
async def test_engine_places_a_mirrored_bracket_as_one_ninjatrader_oco_and_journals_its_cancel(tmp_path: Path) -> None:
    """A paper leader's bracket, mirrored to a NinjaTrader follower: both legs carry one OCO ID; the
    follower's target fills at NinjaTrader and NinjaTrader cancels its stop, which the engine
    journals as the broker's cancel; copytui sends no cancel, then or when the leader's OCO acts."""
    x = PaperExchange(seed=4)
    x.account("lead")
    async with NinjaTraderStandIn(str(tmp_path / "nt8"), x, accounts=["Sim101"]) as sim:
        nt = make_adapter(tmp_path / "nt8", name="nt1", native_oco=True)
        cfg = FollowerConfig(name="nt1", broker="ninjatrader", mode="mirror")
        async with paper_leader_engine(tmp_path, x, (cfg, nt)) as (engine, rows):

            def working() -> dict[OrderType, Any]:
                return {o.order_type: o for o in x.open_orders("Sim101")}

            x.submit("lead", symbol="ES", side=Side.BUY, qty=2)
            bid, ask = x.quote("ES")
            leg: dict[str, Any] = {"symbol": "ES", "side": Side.SELL, "qty": 2, "oco_group": "G1"}
            x.submit("lead", order_type=OrderType.STOP, stop_price=bid - 10, **leg)
            target = x.submit("lead", order_type=OrderType.LIMIT, price=ask + 10, **leg).id
            await until(lambda: set(working()) == {OrderType.STOP, OrderType.LIMIT}, what="both legs at Sim101")
            copies = working()
            stop_coid = copies[OrderType.STOP].client_order_id or ""
            ids = oco_fields(sim)
            assert ids[stop_coid] and ids[stop_coid] == ids[copies[OrderType.LIMIT].client_order_id or ""]
            assert ids[stop_coid] != "G1"  # the follower's own group, derived from the leader's

            x.fill("Sim101", copies[OrderType.LIMIT].broker_order_id, 2)  # the follower's target, first
            sql = "SELECT status, reason FROM intents WHERE client_order_id=?"
            await until(lambda: rows(sql, stop_coid) and rows(sql, stop_coid)[0][0] == "cancelled",
                        what="the stop journaled cancelled")  # fmt: skip
            [(_, reason)] = rows(sql, stop_coid)
            assert reason and "NinjaTrader's OCO" in reason
            x.fill("lead", target, 2)  # now the leader's: its own OCO cancels its stop
            assert await engine.drain(timeout_s=5)
            assert x.accounts["Sim101"].positions["ES"].qty == 0 and x.open_orders("Sim101") == []
            assert rows("SELECT 1 FROM intents WHERE follower='nt1' AND action='cancel'") == []
            assert [e.action for e in sim.audit.entries].count("cancel") == 0
            assert not [a for a in engine.alerts if a.level != "info"]


async def test_without_native_oco_the_legs_go_unlinked_and_copytui_keeps_the_oco(tmp_path: Path) -> None:
    """The default: NinjaTrader's OCO also cancels on a cancel, so copytui keeps the pair itself and
    the PLACE lines carry no OCO ID."""
    async with nt_session(tmp_path) as (x, sim, adapter, c):
        assert not adapter.capabilities.brackets
        stop, target = protective_legs(x, "ocoa1b2c3d4e5f60718")
        for o in (stop, target):
            assert (await adapter.place(o)).status is OrderStatus.WORKING
        assert set(oco_fields(sim).values()) <= {"", "None"}
