"""NinjaTrader 8 over ATI files: the shared conformance suite against the stand-in, through real
files in a temp folder watched with inotify (and with polling, as on a mounted Windows share),
and the adapter's own behaviour: files never read, read but unanswered, copytui restarts, trades
made outside copytui, faulty writes, bad files, connection and NinjaTrader restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.base import AmbiguousOutcome, BrokerAdapter, BrokerError, Disconnected
from adapters.kit.conformance import AdapterConformance, Venue
from adapters.ninjatrader.book import UNKNOWN_EXIT
from adapters.ninjatrader.contracts import Contracts
from adapters.ninjatrader.outbox import Pickups
from adapters.ninjatrader.simulator import NinjaTraderStandIn
from adapters.ninjatrader.watch import SharedWatch
from adapters.paper.exchange import Faults, PaperExchange
from copytui.models import EventKind, OrderStatus, OrderType, Side
from tests.adapters.ninjatrader_support import hand_trade, make_adapter, nt_session, order, until

ES = Contracts().instrument("ES")


class TestNinjaTraderConformance(AdapterConformance):
    """The suite every adapter passes. The dropped stream is a NinjaTrader restart: outgoing/
    emptied, ORDER IDs forgotten, trades made meanwhile seen only as position changes."""

    watch = "inotify"
    down_s = 0.3

    @pytest.fixture
    async def venue(self, tmp_path: Path) -> AsyncIterator[Venue]:
        exchange = PaperExchange(seed=5)
        async with NinjaTraderStandIn(str(tmp_path), exchange, accounts=["Sim101"], watch=self.watch) as sim:

            def make() -> BrokerAdapter:
                return make_adapter(tmp_path, watch=self.watch)

            def drop() -> None:
                sim.restart(down_s=self.down_s)

            async with Venue.open(exchange, "Sim101", make, drop) as v:
                yield v


class TestNinjaTraderConformancePolling(TestNinjaTraderConformance):
    """The same, with the folders polled as on a Windows share mounted over CIFS."""

    watch = "poll"
    down_s = 1.0  # long enough for a poll on a busy box to see outgoing/ empty


# ----------------------------------------------------------------------------- the order path
async def test_a_file_ninjatrader_never_reads_is_taken_back_and_never_placed(tmp_path: Path) -> None:
    async with nt_session(tmp_path, pickup_timeout_s=0.3) as (x, sim, adapter, c):
        sim.held = True  # NinjaTrader is not running
        with pytest.raises(Disconnected, match=r"not sent \(taken back from incoming/\): NinjaTrader did not read"):
            await adapter.place(order("held1"))
        assert adapter.health.state == "reconnecting" and "Automated trading interface" in adapter.health.detail
        assert not list((tmp_path / "incoming").glob("oif*.txt"))
        assert await adapter.find_order("held1") is None
        sim.held = False
        ack = await adapter.place(order("held2"))  # NinjaTrader back: the next order goes, and health with it
        assert ack.status is not OrderStatus.REJECTED and adapter.health.connected
        await until(lambda: sim.files_read == 1, what="the second file read")
        assert [e.client_order_id for e in sim.audit.entries] == ["held2"]
        assert "held1" not in x.accounts["Sim101"].by_client_id


async def test_slow_pickup_is_waited_for_and_measured(tmp_path: Path) -> None:
    async with nt_session(tmp_path, sim_kw={"pickup_delay_s": 0.2}) as (x, sim, adapter, c):
        ack = await adapter.place(order("slow1", qty=2))
        assert ack.ack_ns - ack.sent_ns >= 200_000_000
        await until(lambda: c.kinds(EventKind.FILL, "slow1"), what="the fill")
        lat = adapter.latency.summary()
        assert lat["answer"]["p50_ms"] >= 200 and lat["notice"]["n"] >= 1


async def test_read_but_unanswered_is_ambiguous_and_never_sent_again(tmp_path: Path) -> None:
    async with nt_session(tmp_path, pickup_timeout_s=0.3) as (x, sim, adapter, c):
        sim.outgoing.muted = True
        with pytest.raises(AmbiguousOutcome, match="wrote no outgoing/amb1.txt"):
            await adapter.place(order("amb1"))
        assert len(x.accounts["Sim101"].by_client_id) == 1  # it was placed: only the answer went missing
        with pytest.raises(BrokerError, match="may hold order amb1 .* not sending it again"):
            await adapter.find_order("amb1")
        again = await adapter.place(order("amb1"))
        assert again.broker_order_id == "amb1" and sim.files_read == 1  # no second file
        sim.outgoing.muted = False


async def test_after_a_copytui_restart_orders_are_found_from_the_kept_details(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    nt = tmp_path / "nt8"
    async with nt_session(nt, data_dir=data) as (x, sim, adapter, c):
        px = x.price("ES") - 10
        await adapter.place(order("keep1", qty=3, order_type=OrderType.LIMIT, price=px))
        await adapter.place(order("keep2", side=Side.SELL))
        await until(lambda: c.kinds(EventKind.FILL, "keep2"), what="keep2 filled")
        x.fill("Sim101", x.accounts["Sim101"].by_client_id["keep1"].id, 1)
        await until(lambda: c.kinds(EventKind.FILL, "keep1"), what="keep1 part filled")
        again = make_adapter(nt, data_dir=data)  # copytui restarted
        await again.connect()
        try:
            info = await again.find_order("keep1")
            assert info is not None and (info.qty, info.filled_qty, info.price, info.status) == (
                3,
                1,
                px,
                OrderStatus.PARTIALLY_FILLED,
            )
            assert [o.client_order_id for o in await again.open_orders()] == ["keep1"]
            ack = await again.place(order("keep2", side=Side.SELL))  # the engine asking twice: nothing written
            assert ack.status is OrderStatus.FILLED and sim.files_read == 2
            assert await again.positions() == []  # bought 1 (keep1), sold 1 (keep2)
        finally:
            await again.disconnect()
        amnesiac = make_adapter(nt)  # no data folder: it cannot describe keep1, and says so
        await amnesiac.connect()
        try:
            with pytest.raises(BrokerError, match="may hold order keep1"):
                await amnesiac.find_order("keep1")
            assert await amnesiac.find_order("never-sent") is None
        finally:
            await amnesiac.disconnect()


async def test_trades_by_hand_and_by_other_ati_clients_are_fills_from_position_changes(tmp_path: Path) -> None:
    async with nt_session(tmp_path, accounts=("Sim101", "Sim102")) as (x, sim, adapter, c):
        hand_trade(tmp_path, "Sim101", ES, "BUY", 2)
        hand_trade(tmp_path, "Sim102", ES, "SELL", 5)  # another account: not this adapter's
        await until(lambda: c.net() == 2, what="the trade by hand")
        entry = x.accounts["Sim101"].positions["ES"].avg_price
        hand_trade(tmp_path, "Sim101", ES, "SELL", 3, order_id="bridge9")  # a TradingView bridge, say
        await until(lambda: c.net() == -1, what="the other client's order")
        fills = c.fills()
        assert [(f.side, f.fill_qty, f.client_order_id) for f in fills] == [(Side.BUY, 2, None), (Side.SELL, 3, None)]
        assert fills[0].reason is None and fills[0].fill_price == entry
        assert fills[1].fill_price == x.quote("ES")[0]  # through flat: the new short's average
        assert all(f.order_id and f.order_id.startswith("pos-") for f in fills)
        assert [p.qty for p in await adapter.positions()] == [-1]
        hand_trade(tmp_path, "Sim101", ES, "BUY", 1)
        await until(lambda: c.net() == 0, what="flat")
        assert c.fills()[-1].reason == UNKNOWN_EXIT


async def test_reordered_and_duplicated_writes_neither_double_nor_lose_a_fill(tmp_path: Path) -> None:
    faults = Faults(duplicate_prob=0.5, reorder_prob=0.5, partial_fill_prob=0.5)
    async with nt_session(tmp_path, seed=11, sim_kw={"faults": faults}) as (x, sim, adapter, c):
        sides = [Side.BUY, Side.SELL, Side.BUY, Side.BUY, Side.SELL, Side.BUY, Side.SELL, Side.SELL]
        for i, side in enumerate(sides):
            await adapter.place(order(f"rd{i}", side=side, qty=1 + i % 3))
            for _ in range(3):
                x.step()  # partial fills finish as prices move
        want = sum((1 + i % 3) * s.sign for i, s in enumerate(sides))
        held = lambda: x.accounts["Sim101"].positions["ES"].qty  # noqa: E731
        await until(lambda: held() == want and c.net() == want, what="every fill, once")
        settled = adapter.book.held.values()
        await until(
            lambda: all(h.timer is None and h.file is not None and h.file.qty == h.qty for h in settled),
            what="nothing left for the position files to explain",
        )
        assert c.net() == want == held()
        assert not [f for f in c.fills() if f.client_order_id is None], "no fill may be derived from positions"
        for i in range(len(sides)):
            assert max(f.cum_qty for f in c.kinds(EventKind.FILL, f"rd{i}")) == 1 + i % 3


async def test_bad_outgoing_files_are_counted_and_skipped(tmp_path: Path) -> None:
    async with nt_session(tmp_path) as (x, sim, adapter, c):
        px = x.price("ES") - 10
        await adapter.place(order("bad1", order_type=OrderType.LIMIT, price=px))
        out = tmp_path / "outgoing"
        (out / "bad1.txt").write_text("WORKNG;0;0")
        (out / f"{ES} Globex_Sim101_Position.txt").write_text("LONG;x;1")
        (out / "6E 12-26 Globex_Sim101_Position.txt").write_text("LONG;1;1.1")
        await until(lambda: adapter.health.dropped == 3, what="three files refused")
        assert "6E 12-26" in adapter.health.last_dropped
        (out / "6E 12-26 Globex_Sim101_Position.txt").write_text("LONG;2;1.1")
        ack = await adapter.place(order("bad2"))
        await until(lambda: c.kinds(EventKind.FILL, "bad2"), what="still trading")
        assert ack.status is not OrderStatus.REJECTED and adapter.health.dropped == 3  # the unknown root said once


async def test_connection_file_drives_health_when_named(tmp_path: Path) -> None:
    async with nt_session(tmp_path, connection="Simulated Data Feed") as (x, sim, adapter, c):
        assert adapter.health.connected and adapter.connections == {"Simulated Data Feed": True}
        sim.disconnect_feed()
        await until(lambda: adapter.health.state == "reconnecting", what="the feed's DISCONNECTED")
        assert "'Simulated Data Feed' is DISCONNECTED" in adapter.health.detail
        sim.disconnect_feed(connected=True)
        await until(lambda: adapter.health.connected, what="CONNECTED again")
        assert adapter.health.reconnects == 1


async def test_a_restart_that_does_not_bring_a_position_back_is_said(tmp_path: Path) -> None:
    async with nt_session(tmp_path) as (x, sim, adapter, c):
        await adapter.place(order("r1", qty=2))
        await until(lambda: c.net() == 2, what="long 2")
        sim.go_down()  # outgoing/ emptied ...
        await until(lambda: adapter.health.state == "reconnecting", what="the restart seen")
        with pytest.raises(Disconnected, match="positions are unknown"):
            await adapter.positions()
        x.accounts["Sim101"].positions["ES"].qty = 0  # ... and the position closed elsewhere meanwhile
        sim.come_back()
        await until(
            lambda: adapter.health.connected and "no position file since" in adapter.health.detail,
            what="the missing position said",
            timeout=5,
        )
        assert ES in adapter.health.detail
        assert c.net() == 2  # no fill made up from the file's absence
        assert await adapter.positions() == []


async def test_fills_since_across_copytui_runs(tmp_path: Path) -> None:
    async with nt_session(tmp_path) as (x, sim, adapter, c):
        _, start = await adapter.fills_since(None)
        hand_trade(tmp_path, "Sim101", ES, "BUY", 2)
        await until(lambda: c.net() == 2, what="long 2")
        events, cursor = await adapter.fills_since(start)
        assert [(e.fill_qty, e.side) for e in events] == [(2, Side.BUY)]
        assert cursor is not None and "ES=2@" in cursor
    x.submit("Sim101", symbol="ES", side=Side.SELL, qty=3)  # while copytui is not running
    async with NinjaTraderStandIn(str(tmp_path), x, accounts=["Sim101"]):  # NinjaTrader restarted too
        later = make_adapter(tmp_path)
        await later.connect()
        try:
            await until(lambda: later.book.symbol_position("ES")[0] == -1, what="the position file read")
            gap, after = await later.fills_since(cursor)
            [fill] = gap
            assert (fill.side, fill.fill_qty) == (Side.SELL, 3)
            repeat, _ = await later.fills_since(cursor)  # asked again: the same ids, which the engine drops
            assert [e.order_id for e in repeat] == [fill.order_id]
            assert "while copytui was not running" in (fill.reason or "")
            assert after is not None and after.split("|")[1] == later.epoch
            assert (await later.fills_since(after))[0] == []
            with pytest.raises(BrokerError, match="must look like"):
                await later.fills_since("17")
        finally:
            await later.disconnect()


async def test_account_identity_and_one_watch_per_folder(tmp_path: Path) -> None:
    (tmp_path / "nt8").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "nt8")
    a, b = make_adapter(tmp_path / "nt8", name="a"), make_adapter(tmp_path / "alias", name="b")
    assert (
        a.account_key == b.account_key and make_adapter(tmp_path / "nt8", account="Sim102").account_key != a.account_key
    )
    async with NinjaTraderStandIn(str(tmp_path / "nt8"), PaperExchange(seed=1), accounts=["Sim101", "Sim102"]):
        one, two = (
            make_adapter(tmp_path / "nt8", name="one"),
            make_adapter(tmp_path / "nt8", name="two", account="Sim102"),
        )
        await one.connect()
        await two.connect()
        try:
            assert one.watch is two.watch and len(SharedWatch._all) == 1
            await asyncio.gather(one.place(order("s1")), two.place(order("s2", side=Side.SELL)))
            assert [p.qty for p in await one.positions()] == [1] and [p.qty for p in await two.positions()] == [-1]
        finally:
            await one.disconnect()
            await two.disconnect()
        assert SharedWatch._all == {} and Pickups._all == {}
