"""Sierra Chart across a copytui restart: the next run's adapter, on the same data folder, finds an
order the last run sent, whether the last run read its answer or died before it, with what it
filled and at what price, although DTC's historical fills name no ClientOrderID and its open orders
leave filled ones out; one that ended with no fill is left unknown (DTC does not say why), and with
two orders of ours that the fills could belong to, it guesses neither.
The last run's death is its adapter going away without reading what was still coming: all that
survives of it is what it wrote to the data folder."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from adapters.base import AmbiguousOutcome
from adapters.kit.conformance import Venue
from adapters.sierrachart.simulator import SierraChartSimulator
from adapters.sierrachart.store import OrderStore
from adapters.sierrachart.wire import Msg
from copytui.models import OrderAction, OrderStatus, OrderType, Side
from tests.adapters.sierrachart_support import make_adapter, running_sim, until


def venue_on(sim: SierraChartSimulator, folder: Path | None) -> AbstractAsyncContextManager[Venue]:
    """A run of the adapter on account Sim1, keeping what it sends in ``folder`` (None: nowhere)."""
    data_dir = str(folder) if folder is not None else ""
    return Venue.open(sim.exchange, "Sim1", lambda: make_adapter(sim, "sc1", "Sim1", data_dir), lambda: None)


async def die_before_the_answer(v: Venue, sim: SierraChartSimulator, coids: list[str], qty: int) -> None:
    """Send the orders to a slow server and go away once it has read them, before it answers."""
    v.exchange.accounts["Sim1"].faults.latency_ms = 300
    placing = [asyncio.ensure_future(v.adapter.place(v.order(c, Side.SELL, qty))) for c in coids]
    await until("the server to read the first", lambda: sim.received[Msg.SUBMIT_NEW_SINGLE_ORDER] >= 1)
    await v.adapter.disconnect()  # the rest are written already: the server reads them after it left
    for p in placing:
        with pytest.raises(AmbiguousOutcome):
            await p


async def test_an_order_answered_before_the_restart_is_found_filled_by_the_next_run(tmp_path: Path) -> None:
    async with running_sim("Sim1") as sim:
        async with venue_on(sim, tmp_path) as last:
            coid = last.coid("answered")
            ack = await last.adapter.place(last.order(coid, Side.BUY, 3))
            assert ack.status is OrderStatus.WORKING
            await last.until("the fill", lambda: last.paper_position() == 3)
        async with venue_on(sim, tmp_path) as nxt:
            info = await nxt.adapter.find_order(coid)
            [paper] = nxt.paper_orders(coid)
            assert info is not None and (info.client_order_id, info.broker_order_id) == (coid, paper.id)
            assert (info.status, info.side, info.qty, info.filled_qty) == (OrderStatus.FILLED, Side.BUY, 3, 3)
            assert info.avg_fill_price == pytest.approx(paper.avg_fill_price)
        assert sim.received[Msg.SUBMIT_NEW_SINGLE_ORDER] == 1


async def test_an_order_whose_answer_died_with_the_last_run_is_found_by_its_fills(tmp_path: Path) -> None:
    async with running_sim("Sim1") as sim:
        async with venue_on(sim, tmp_path) as last:
            coid = last.coid("unanswered")
            await die_before_the_answer(last, sim, [coid], 2)
        await until("the server to fill it", lambda: sim.exchange.accounts["Sim1"].positions["ES"].qty == -2)
        async with venue_on(sim, tmp_path) as nxt:
            info = await nxt.adapter.find_order(coid)
            [paper] = nxt.paper_orders(coid)
            assert info is not None and info.broker_order_id == paper.id
            assert (info.status, info.side, info.order_type, info.filled_qty) == (
                OrderStatus.FILLED, Side.SELL, OrderType.MARKET, 2,
            )  # fmt: skip
            assert info.avg_fill_price == pytest.approx(paper.avg_fill_price)
            assert await nxt.adapter.find_order(coid) == info  # asked again: the same answer
        assert sim.received[Msg.SUBMIT_NEW_SINGLE_ORDER] == 1


async def test_an_order_that_ended_unfilled_before_the_restart_is_left_unknown_not_sent_again(tmp_path: Path) -> None:
    """Cancelled, refused, or filled with its fills not in the history yet: DTC does not say which."""
    async with running_sim("Sim1") as sim:
        async with venue_on(sim, tmp_path) as last:
            coid = last.coid("ended")
            bid, _ = last.exchange.quote("ES")
            resting = last.order(coid, Side.BUY, 1, OrderType.LIMIT, price=bid - last.ticks(40))
            ack = await last.adapter.place(resting)
            gone = await last.adapter.cancel(last.change(OrderAction.CANCEL, resting, ack.broker_order_id))
            assert gone.status is OrderStatus.CANCELLED
        async with venue_on(sim, tmp_path) as nxt:
            info = await nxt.adapter.find_order(coid)
            assert info is not None and (info.broker_order_id, info.filled_qty) == (ack.broker_order_id, 0)
            assert info.status is OrderStatus.UNKNOWN
        assert sim.received[Msg.SUBMIT_NEW_SINGLE_ORDER] == 1


async def test_two_unanswered_orders_of_one_shape_are_never_guessed(tmp_path: Path) -> None:
    async with running_sim("Sim1") as sim:
        async with venue_on(sim, tmp_path) as last:
            coids = [last.coid("twin-a"), last.coid("twin-b")]
            await die_before_the_answer(last, sim, coids, 1)
        await until("the server to fill both", lambda: sim.exchange.accounts["Sim1"].positions["ES"].qty == -2)
        async with venue_on(sim, tmp_path) as nxt:
            assert [await nxt.adapter.find_order(c) for c in coids] == [None, None]


async def test_a_run_without_a_data_folder_finds_nothing_of_the_last_one() -> None:
    """No data folder: nothing is kept, so the next run cannot claim fills it knows nothing about."""
    async with running_sim("Sim1") as sim:
        async with venue_on(sim, None) as last:
            coid = last.coid("memory")
            await last.adapter.place(last.order(coid))
            assert await last.adapter.find_order(coid) is not None
        async with venue_on(sim, None) as nxt:
            assert await nxt.adapter.find_order(coid) is None


def test_the_file_keeps_the_fills_window_skips_what_it_cannot_read_and_has_one_writer(tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    now = time.time()
    lines = [
        {"c": "kept", "s": "ES", "b": "buy", "k": "market", "q": 1, "t": now - 10},
        {"c": "kept", "o": "SRV7", "t": now - 9},
        {"c": "old", "s": "ES", "b": "sell", "k": "limit", "q": 2, "t": now - 7200},
        {"c": "bad", "s": "ES", "b": "sideways", "k": "market", "q": 1, "t": now},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\nnot json\n")
    store = OrderStore(horizon_s=3600)
    store.open(str(path))
    assert set(store.sent) == {"kept"} and store.server_ids == {"kept": "SRV7"}
    assert len(path.read_text().splitlines()) == 2  # rewritten without what it could not use
    store.sending("new", "MES", Side.SELL, OrderType.LIMIT, 4)
    # a second process on the account (copytui accounts test while copytui runs) reads, never writes
    other = OrderStore(horizon_s=3600)
    other.open(str(path))
    other.sending("elsewhere", "ES", Side.BUY, OrderType.MARKET, 1)
    other.named("SRV9", "elsewhere")
    assert set(other.sent) == {"kept", "new", "elsewhere"}
    store.close()
    other.close()
    again = OrderStore(horizon_s=3600)
    again.open(str(path))
    assert set(again.sent) == {"kept", "new"} and again.sent["new"].qty == 4
    assert len(path.read_text().splitlines()) == 3
