"""NinjaTrader ATI wire: the instruction lines and outgoing files as the ATI pages define them,
the contract months, the options, the folder watch; the client's exact bytes with this test
playing NinjaTrader by hand; and what the stand-in writes for each instruction it reads."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from pathlib import Path

import pytest

from adapters.base import AdapterContext, Disconnected
from adapters.ninjatrader import create_adapter
from adapters.ninjatrader.book import UNKNOWN_EXIT, fill_price_from_averages, position_fill_price
from adapters.ninjatrader.contracts import ContractError, Contracts, front_month, parse_overrides
from adapters.ninjatrader.cursor import Cursor
from adapters.ninjatrader.options import NinjaTraderOptions
from adapters.ninjatrader.simulator import NinjaTraderStandIn
from adapters.ninjatrader.watch import FileNote, FolderWatch, WatchMode, choose_mode
from adapters.ninjatrader.wire import (
    NtState,
    WireError,
    instruction,
    parse_connection_file,
    parse_instruction,
    parse_order_file,
    parse_position_file,
    parse_position_name,
)
from adapters.paper.exchange import Faults, PaperExchange
from copytui.models import EventKind, OrderAction, OrderStatus, OrderType, Side
from tests.adapters.ninjatrader_support import Collector, account_config, make_adapter, order, until, write_oif

ES = Contracts().instrument("ES")


# ----------------------------------------------------------------------------- instruction lines
def test_the_five_commands_copytui_writes_are_the_documented_lines() -> None:
    place = instruction(
        "PLACE",
        account="Sim101",
        instrument="ES 12-26",
        action="BUY",
        qty=1,
        order_type="MARKET",
        limit_price="0",
        stop_price="0",
        tif="DAY",
        order_id="ct1",
    )
    assert place == "PLACE;Sim101;ES 12-26;BUY;1;MARKET;0;0;DAY;;ct1;;"
    assert instruction("CHANGE", qty=2, limit_price="5000.25", stop_price="0", order_id="ct1") == (
        "CHANGE;;;;2;;5000.25;0;;;ct1;;"
    )
    assert instruction("CANCEL", order_id="ct1") == "CANCEL;;;;;;;;;;ct1;;"
    assert (
        instruction("CLOSEPOSITION", account="Sim101", instrument="ES 12-26")
        == "CLOSEPOSITION;Sim101;ES 12-26;;;;;;;;;;"
    )
    assert instruction("FLATTENEVERYTHING") == "FLATTENEVERYTHING;;;;;;;;;;;;"
    for line in (place, instruction("CANCEL", order_id="x"), instruction("FLATTENEVERYTHING")):
        assert line.count(";") == 12
    with pytest.raises(WireError, match="order_id 'a;b' holds a ';'"):
        instruction("CANCEL", order_id="a;b")


def test_instruction_lines_read_back_and_bad_ones_are_named() -> None:
    ins = parse_instruction("place;Sim101;ES 12-26;buy;3;limit;4999.75;0;gtc;;ct9;;")
    assert (ins.command, ins.action, ins.qty, ins.order_type, ins.limit, ins.tif, ins.order_id) == (
        "PLACE",
        "BUY",
        3,
        "LIMIT",
        4999.75,
        "GTC",
        "ct9",
    )
    with pytest.raises(WireError, match="12 fields, ATI wants 13"):
        parse_instruction("CANCEL;;;;;;;;;;ct1;")
    with pytest.raises(WireError, match="COMMAND 'BUY' is not one of"):
        parse_instruction("BUY;;;;;;;;;;;;")
    with pytest.raises(WireError, match="QTY 'two' is not a whole number"):
        parse_instruction("PLACE;Sim101;ES 12-26;BUY;two;MARKET;0;0;DAY;;;;")
    with pytest.raises(WireError, match=r"LIMIT PRICE '5000,25' is not a number \(US decimal point"):
        parse_instruction("PLACE;Sim101;ES 12-26;BUY;1;LIMIT;5000,25;0;DAY;;;;")


# ----------------------------------------------------------------------------- outgoing files
def test_order_state_files() -> None:
    assert parse_order_file("WORKING;0;0\r\n", "f") == parse_order_file("Working;0;0", "f")
    st = parse_order_file("PARTFILLED;1;5000.25", "f")
    assert (st.state, st.filled, st.avg_price, st.state.status) == (
        NtState.PARTFILLED,
        1,
        5000.25,
        OrderStatus.PARTIALLY_FILLED,
    )
    assert parse_order_file("Part filled;2;1.5", "f").state is NtState.PARTFILLED
    assert parse_order_file("CANCELED;0;0", "f").state is NtState.CANCELLED
    assert NtState.CHANGESUBMITTED.changing and NtState.REJECTED.final and not NtState.WORKING.final
    with pytest.raises(WireError, match="outgoing/x.txt: order state 'WORKNG' is not one copytui knows"):
        parse_order_file("WORKNG;0;0", "outgoing/x.txt")
    with pytest.raises(WireError, match="2 fields, an order state file has 3"):
        parse_order_file("FILLED;1", "f")
    with pytest.raises(WireError, match="filled amount '-1' is not a whole number"):
        parse_order_file("FILLED;-1;0", "f")
    with pytest.raises(WireError, match="f: empty"):
        parse_order_file("", "f")
    with pytest.raises(WireError, match="2 lines, ATI writes one"):
        parse_order_file("FILLED;1;2\nFILLED;1;2", "f")


def test_position_and_connection_files() -> None:
    assert parse_position_file("LONG;2;5000.25", "p").qty == 2
    assert parse_position_file("SHORT;3;17500", "p").qty == -3
    assert parse_position_file("FLAT;0;0", "p").qty == 0
    assert parse_position_file("Long;1;19842.75", "p").qty == 1  # the case NinjaTrader's own texts use
    for bad, why in (
        ("UP;1;2", "is not LONG, SHORT or FLAT"),
        ("FLAT;2;0", "FLAT with quantity 2"),
        ("LONG;0;5", "LONG with quantity 0"),
        ("LONG;1;nan", "is not a price"),
    ):
        with pytest.raises(WireError, match=why):
            parse_position_file(bad, "p")
    assert parse_connection_file("CONNECTED\r\n") is True
    assert parse_connection_file("Disconnected") is False
    assert parse_connection_file("WORKING;0;0") is None


def test_position_file_names() -> None:
    documented = parse_position_name("ES 12-26 Globex_Sim101_Position.txt")
    assert documented is not None and (documented.instrument, documented.root, documented.account) == (
        "ES 12-26",
        "ES",
        "Sim101",
    )
    bare = parse_position_name("NQ 03-27_Sim102_Position.txt")
    assert bare is not None and (bare.instrument, bare.account) == ("NQ 03-27", "Sim102")
    nt7 = parse_position_name("ES 0914 Globex_My_Account_Position.txt")
    assert nt7 is not None and (nt7.instrument, nt7.account) == ("ES 09-14", "My_Account")
    other = parse_position_name("6E 12-26 Globex_Sim101_Position.txt")
    assert other is not None and other.root == "6E"
    assert parse_position_name("ct123.txt") is None and parse_position_name("Simulated Data Feed.txt") is None


# ----------------------------------------------------------------------------- contracts, options
@pytest.mark.parametrize(
    ("symbol", "day", "want"),
    [
        ("ES", dt.date(2026, 12, 1), "ES 12-26"),  # third Friday 2026-12-18: rolled on 12-10
        ("ES", dt.date(2026, 12, 10), "ES 03-27"),
        ("MNQ", dt.date(2026, 1, 5), "MNQ 03-26"),
        ("CL", dt.date(2026, 1, 14), "CL 02-26"),
        ("CL", dt.date(2026, 1, 15), "CL 03-26"),
        ("MGC", dt.date(2026, 1, 24), "MGC 02-26"),
        ("GC", dt.date(2026, 1, 25), "GC 04-26"),
        ("RTY", dt.date(2026, 11, 30), "RTY 12-26"),
    ],
)
def test_front_month_by_roll_rule(symbol: str, day: dt.date, want: str) -> None:
    assert Contracts(today=day).instrument(symbol) == want


def test_instrument_overrides_and_roots() -> None:
    c = Contracts(parse_overrides("ES=ES 03-27, CL=CL 0227"))
    assert c.instrument("ES") == "ES 03-27" and c.instrument("CL") == "CL 02-27"
    assert Contracts.symbol_of_root("MES") == "MES" and Contracts.symbol_of_root("6E") is None
    with pytest.raises(ContractError, match="'ES 12-26' is not a NQ contract"):
        parse_overrides("NQ=ES 12-26")
    with pytest.raises(ContractError, match="is not SYMBOL=INSTRUMENT"):
        parse_overrides("ES")
    with pytest.raises(ContractError, match="not a NinjaTrader 8 futures name"):
        parse_overrides("ES=ESZ6")
    with pytest.raises(ContractError, match="no roll rule for"):
        front_month("ZZ", dt.date(2026, 1, 1))


def test_options_are_the_declared_model_and_each_refusal_names_its_key(tmp_path: Path) -> None:
    def make(**options: object) -> None:
        cfg = account_config(tmp_path).model_copy(update={"options": options})
        create_adapter(cfg, AdapterContext())

    with pytest.raises(ValueError, match=r"account nt1: options.folder is required: NinjaTrader 8's documents folder"):
        make()
    with pytest.raises(
        ValueError, match=r"unknown NinjaTrader option\(s\) port; known: connection, flatten_everything"
    ):
        make(folder=str(tmp_path), port=1)
    with pytest.raises(ValueError, match=r"options.settle_s: must be a positive number, got 0"):
        make(folder=str(tmp_path), settle_s=0)
    with pytest.raises(ValueError, match=r"options.flatten_everything: must be true or false"):
        make(folder=str(tmp_path), flatten_everything="yes")
    with pytest.raises(ValueError, match=r"options.instruments: .*'ESZ6' is not a NinjaTrader 8 futures name"):
        make(folder=str(tmp_path), instruments="ES=ESZ6")
    with pytest.raises(ValueError, match=r"options.stop_market_type"):
        make(folder=str(tmp_path), stop_market_type="STP")
    with pytest.raises(ValueError, match="set account_id to the NinjaTrader account's name"):
        create_adapter(account_config(tmp_path).model_copy(update={"account_id": None}), AdapterContext())
    with pytest.raises(ValueError, match="cannot go into an ATI line"):
        create_adapter(account_config(tmp_path, account="Sim;101"), AdapterContext())
    with pytest.raises(ValueError, match="not a host and port: remove host/port and set options.folder"):
        create_adapter(account_config(tmp_path).model_copy(update={"port": 36973}), AdapterContext())
    assert NinjaTraderOptions(folder="x").stop_market_type == "STOPMARKET"


# ----------------------------------------------------------------------------- prices without fill ids
def test_fill_prices_from_averages() -> None:
    assert fill_price_from_averages(0, 0.0, 2, 5000.25) == 5000.25
    assert fill_price_from_averages(1, 5000.0, 3, 5000.5) == pytest.approx(5000.75)  # 2 more at 5000.75
    assert position_fill_price((0, 0.0), (2, 5000.25)) == (5000.25, None)
    adding, why = position_fill_price((2, 5000.0), (3, 5001.0))
    assert adding == pytest.approx(5003.0) and why is None
    assert position_fill_price((-2, 5000.0), (1, 4990.0)) == (4990.0, None)  # through flat
    assert position_fill_price((3, 5000.0), (1, 5000.0)) == (5000.0, UNKNOWN_EXIT)
    assert position_fill_price((3, 5000.0), (0, 0.0)) == (5000.0, UNKNOWN_EXIT)


def test_cursor_round_trip_and_refusal() -> None:
    c = Cursor("abc", 4, {"ES": (3, 5001.25), "NQ": (-1, 17500.0), "CL": (0, 0.0)})
    assert c.text() == "nt1|abc|4|ES=3@5001.25,NQ=-1@17500.0"
    back = Cursor.parse(c.text())
    assert (back.epoch, back.seen, back.positions) == ("abc", 4, {"ES": (3, 5001.25), "NQ": (-1, 17500.0)})
    with pytest.raises(ValueError, match="must look like 'nt1|"):
        Cursor.parse("2025-01-21T16:13:52Z|8604")


# ----------------------------------------------------------------------------- the folder watch
@pytest.mark.parametrize("mode", ["inotify", "poll"])
async def test_folder_watch_sees_writes_rewrites_and_deletions(tmp_path: Path, mode: WatchMode) -> None:
    (tmp_path / "before.txt").write_text("old")
    notes: list[FileNote] = []
    watch = FolderWatch(str(tmp_path), notes.append, mode=mode, poll_s=0.01)
    assert [(n.name, n.text) for n in watch.start()] == [("before.txt", "old")]
    try:
        (tmp_path / "a.txt").write_text("WORKING;0;0")
        await until(lambda: [n.text for n in notes] == ["WORKING;0;0"], what="the new file")
        (tmp_path / "a.txt").write_text("FILLED;1;5000.25")
        await until(lambda: notes[-1].text == "FILLED;1;5000.25", what="the rewrite")
        os.replace(tmp_path / "before.txt", tmp_path / "moved.txt")
        (tmp_path / "a.txt").unlink()
        await until(
            lambda: {(n.name, n.text) for n in notes[-3:]} >= {("a.txt", None), ("before.txt", None)},
            what="both gone, the moved one seen",
        )
        assert ("moved.txt", "old") in [(n.name, n.text) for n in notes]
        assert all(n.lag_ns >= 0 for n in notes)
    finally:
        await watch.stop()


def test_watch_mode_choice(tmp_path: Path) -> None:
    assert choose_mode(str(tmp_path), "poll") == "poll"
    assert choose_mode(str(tmp_path), "auto") == "inotify"  # Linux, a local folder


# ----------------------------------------------------------------------------- the client, byte for byte
async def test_client_writes_the_documented_lines_and_reads_the_documented_answers(tmp_path: Path) -> None:
    """No stand-in: this test is NinjaTrader. It reads what copytui moved into incoming/ and answers
    in outgoing/ as the ATI pages say."""
    (tmp_path / "incoming").mkdir()
    (tmp_path / "outgoing").mkdir()
    out = tmp_path / "outgoing"
    (out / "Simulated Data Feed.txt").write_text("CONNECTED")
    adapter = make_adapter(tmp_path, instruments="ES=ES 12-26", settle_s=5)
    await adapter.connect()
    events = Collector(adapter)

    async def taken(lines: list[str]) -> None:
        """Wait for one file in incoming/, check it, and take it as NinjaTrader does."""
        await until(lambda: list((tmp_path / "incoming").glob("oif*.txt")), what="an instruction file")
        [f] = list((tmp_path / "incoming").glob("oif*.txt"))
        assert f.read_bytes().decode("ascii") == "".join(line + "\r\n" for line in lines)
        f.unlink()

    try:
        placing = asyncio.ensure_future(adapter.place(order("ct1", qty=2, order_type=OrderType.LIMIT, price=5000.25)))
        await taken(["PLACE;Sim101;ES 12-26;BUY;2;LIMIT;5000.25;0;DAY;;ct1;;"])
        assert not placing.done()
        (out / "ct1.txt").write_text("WORKING;0;0\r\n")
        ack = await placing
        assert (ack.broker_order_id, ack.status, ack.client_order_id) == ("ct1", OrderStatus.WORKING, "ct1")
        moving = asyncio.ensure_future(
            adapter.modify(
                order(
                    "m1",
                    qty=2,
                    order_type=OrderType.LIMIT,
                    price=4999.5,
                    action=OrderAction.MODIFY,
                    target_client_order_id="ct1",
                )
            )
        )
        await taken(["CHANGE;;;;2;;4999.50;0;;;ct1;;"])
        (out / "ct1.txt").write_text("WORKING;0;0")
        assert (await moving).status is OrderStatus.WORKING
        (out / "ct1.txt").write_text("PARTFILLED;1;4999.5")
        await until(lambda: len(events.fills()) == 1, what="the first fill")
        (out / "ES 12-26 Globex_Sim101_Position.txt").write_text("LONG;1;4999.5")
        (out / "ct1.txt").write_text("PARTFILLED;2;4999.25")  # the second at 4999.00
        await until(lambda: len(events.fills()) == 2, what="the second fill")
        assert [(e.fill_qty, e.cum_qty, e.fill_price, e.fill_id) for e in events.fills()] == [
            (1, 1, 4999.5, "ct1-1"),
            (2 - 1, 2, 4999.0, "ct1-2"),
        ]
        [modified] = events.kinds(EventKind.ORDER_MODIFIED)
        assert modified.price == 4999.5 and modified.version == 1
        stopping = asyncio.ensure_future(
            adapter.place(
                order("ct2", side=Side.SELL, order_type=OrderType.STOP_LIMIT, price=4990.0, stop_price=4990.25, qty=1)
            )
        )
        await taken(["PLACE;Sim101;ES 12-26;SELL;1;STOPLIMIT;4990.00;4990.25;DAY;;ct2;;"])
        (out / "ct2.txt").write_text("ACCEPTED;0;0")
        await stopping
        stop = asyncio.ensure_future(
            adapter.place(order("ct3", side=Side.SELL, order_type=OrderType.STOP, stop_price=4980.0))
        )
        await taken(["PLACE;Sim101;ES 12-26;SELL;1;STOPMARKET;0;4980.00;DAY;;ct3;;"])
        (out / "ct3.txt").write_text("REJECTED;0;0")
        rejected = await stop
        assert rejected.status is OrderStatus.REJECTED and "REJECTED in outgoing/ct3.txt" in (rejected.reason or "")
        cancelling = asyncio.ensure_future(
            adapter.cancel(order("c1", action=OrderAction.CANCEL, qty=0, target_client_order_id="ct2"))
        )
        await taken(["CANCEL;;;;;;;;;;ct2;;"])
        (out / "ct2.txt").write_text("CANCELLED;0;0")
        await cancelling
        (out / "ES 12-26 Globex_Sim101_Position.txt").write_text("LONG;2;4999.25")
        flattening = asyncio.ensure_future(adapter.flatten())
        await taken(["CLOSEPOSITION;Sim101;ES 12-26;;;;;;;;;;"])
        await flattening
        assert adapter.health.dropped == 0 and adapter.latency.summary()["answer"]["n"] == 3
    finally:
        await adapter.disconnect()


async def test_flatten_everything_only_when_the_options_say_so(tmp_path: Path) -> None:
    for sub in ("incoming", "outgoing"):
        (tmp_path / sub).mkdir()
    adapter = make_adapter(tmp_path, flatten_everything=True)
    await adapter.connect()
    try:
        flattening = asyncio.ensure_future(adapter.flatten())
        await until(lambda: list((tmp_path / "incoming").glob("oif*.txt")), what="the flatten file")
        [f] = list((tmp_path / "incoming").glob("oif*.txt"))
        assert f.read_bytes() == b"FLATTENEVERYTHING;;;;;;;;;;;;\r\n"
        f.unlink()
        await flattening
    finally:
        await adapter.disconnect()


async def test_a_folder_that_is_not_ninjatraders_is_refused_with_the_fix(tmp_path: Path) -> None:
    adapter = make_adapter(tmp_path / "nowhere")
    with pytest.raises(Disconnected, match=r"nowhere/incoming is not a folder: options.folder must be NinjaTrader 8's"):
        await adapter.connect()
    assert adapter.health.state == "disconnected"


# ----------------------------------------------------------------------------- what the stand-in writes
async def _stand_in(tmp_path: Path, faults: Faults | None = None) -> NinjaTraderStandIn:
    sim = NinjaTraderStandIn(str(tmp_path), PaperExchange(seed=2), accounts=["Sim101", "Sim102"], faults=faults)
    return await sim.start()


def _read(tmp_path: Path, name: str) -> str | None:
    try:
        return (tmp_path / "outgoing" / name).read_text().strip()
    except FileNotFoundError:
        return None


async def test_stand_in_answers_as_the_ati_pages_say(tmp_path: Path) -> None:
    sim = await _stand_in(tmp_path)
    try:
        assert _read(tmp_path, "Simulated Data Feed.txt") == "CONNECTED"
        px = sim.exchange.price("ES") - 5
        f = write_oif(
            tmp_path, f"PLACE;Sim101;{ES};BUY;2;LIMIT;{px};0;GTC;;w1;;", f"PLACE;Sim102;{ES};SELL;1;MARKET;0;0;DAY;;;;"
        )
        await until(lambda: _read(tmp_path, "w1.txt") == "WORKING;0;0", what="w1 working")
        await until(
            lambda: _read(tmp_path, f"{ES} Globex_Sim102_Position.txt") == f"SHORT;1;{sim.exchange.quote('ES')[0]:g}",
            what="Sim102's position file",
        )
        assert not f.exists()  # read, then deleted
        write_oif(tmp_path, f"CHANGE;;;;3;;{px - 1};0;;;w1;;")
        await until(lambda: sim.exchange.accounts["Sim101"].by_client_id["w1"].qty == 3, what="the change")
        assert _read(tmp_path, "w1.txt") == "WORKING;0;0"
        sim.exchange.fill("Sim101", sim.exchange.accounts["Sim101"].by_client_id["w1"].id, 1)
        await until(lambda: _read(tmp_path, "w1.txt") == f"PARTFILLED;1;{px - 1:g}", what="part filled")
        assert _read(tmp_path, f"{ES} Globex_Sim101_Position.txt") == f"LONG;1;{px - 1:g}"
        write_oif(tmp_path, "CANCEL;;;;;;;;;;w1;;")
        await until(lambda: _read(tmp_path, "w1.txt") == f"CANCELLED;1;{px - 1:g}", what="cancelled")
        # refused: an unknown ORDER TYPE (REJECTED state file), a duplicate ORDER ID (the first one's file
        # untouched), an unknown account, an unknown ORDER ID, a line that is not ATI at all
        write_oif(
            tmp_path,
            f"PLACE;Sim101;{ES};BUY;1;MARKETONCLOSE;0;0;DAY;;r1;;",
            f"PLACE;Sim101;{ES};BUY;1;MARKET;0;0;DAY;;w1;;",
            f"PLACE;Sim999;{ES};BUY;1;MARKET;0;0;DAY;;r2;;",
            "CANCEL;;;;;;;;;;nope;;",
            "HELLO",
        )
        await until(lambda: len(sim.audit.entries) == 9, what="every line audited")
        assert _read(tmp_path, "r1.txt") == "REJECTED;0;0" and _read(tmp_path, "r2.txt") == "REJECTED;0;0"
        assert _read(tmp_path, "w1.txt") == f"CANCELLED;1;{px - 1:g}"
        refused = [(e.action, e.client_order_id, e.reason) for e in sim.audit.entries if e.outcome == "refused"]
        assert [r[:2] for r in refused] == [
            ("place", "r1"),
            ("place", "w1"),
            ("place", "r2"),
            ("cancel", "nope"),
            ("unreadable", None),
        ]
        assert "ORDER TYPE 'MARKETONCLOSE'" in refused[0][2] and "already used" in refused[1][2]
        assert "Sim999" in refused[2][2] and "no order of this NinjaTrader session" in refused[3][2]
        # CLOSEPOSITION: this account's orders on the instrument cancelled, its position flattened
        write_oif(
            tmp_path, f"PLACE;Sim102;{ES};BUY;1;LIMIT;{px - 20};0;DAY;;w2;;", f"CLOSEPOSITION;Sim102;{ES};;;;;;;;;;"
        )
        await until(lambda: _read(tmp_path, "w2.txt") == "CANCELLED;0;0", what="w2 cancelled by CLOSEPOSITION")
        await until(lambda: _read(tmp_path, f"{ES} Globex_Sim102_Position.txt") == "FLAT;0;0", what="Sim102 flat")
        assert _read(tmp_path, f"{ES} Globex_Sim101_Position.txt") == f"LONG;1;{px - 1:g}"
        write_oif(tmp_path, "FLATTENEVERYTHING;;;;;;;;;;;;")
        await until(lambda: _read(tmp_path, f"{ES} Globex_Sim101_Position.txt") == "FLAT;0;0", what="everything flat")
        (tmp_path / "incoming" / "notes.txt").write_text("PLACE;Sim101;ES 12-26;BUY;1;MARKET;0;0;DAY;;;;\r\n")
        write_oif(tmp_path, "CANCELALLORDERS;;;;;;;;;;;;")  # read after notes.txt was there
        await until(lambda: sim.files_read == 7, what="the file after it")
        assert (tmp_path / "incoming" / "notes.txt").exists()  # not an oif*.txt: NinjaTrader leaves it alone
    finally:
        await sim.stop()


async def test_stand_in_restart_and_held_pickup(tmp_path: Path) -> None:
    sim = await _stand_in(tmp_path)
    try:
        write_oif(tmp_path, f"PLACE;Sim101;{ES};BUY;2;MARKET;0;0;DAY;;a1;;")
        await until(lambda: (_read(tmp_path, "a1.txt") or "").startswith("FILLED"), what="a1 filled")
        sim.restart(down_s=0.2)
        assert os.listdir(tmp_path / "outgoing") == []
        await until(lambda: _read(tmp_path, f"{ES} Globex_Sim101_Position.txt") is not None, what="positions again")
        assert _read(tmp_path, "Simulated Data Feed.txt") == "CONNECTED" and _read(tmp_path, "a1.txt") is None
        sim.held = True
        f = write_oif(tmp_path, f"PLACE;Sim101;{ES};SELL;2;MARKET;0;0;DAY;;a2;;")
        await asyncio.sleep(0.1)  # held: nothing may happen (there is nothing to wait for)
        assert f.exists()
        f.unlink()  # taken back by its writer
        sim.held = False
        write_oif(tmp_path, f"PLACE;Sim101;{ES};SELL;1;MARKET;0;0;DAY;;a3;;")
        await until(lambda: (_read(tmp_path, "a3.txt") or "").startswith("FILLED"), what="a3 filled")
        assert "a2" not in sim.exchange.accounts["Sim101"].by_client_id
        sim.intake.refused_types.add("STOPMARKET")
        write_oif(tmp_path, f"PLACE;Sim101;{ES};SELL;1;STOPMARKET;0;4000;DAY;;a4;;")
        await until(lambda: _read(tmp_path, "a4.txt") == "REJECTED;0;0", what="a refused ORDER TYPE word")
    finally:
        await sim.stop()


async def test_stand_in_faults_reach_the_files(tmp_path: Path) -> None:
    sim = await _stand_in(tmp_path, faults=Faults(reject_rate=1.0))
    try:
        write_oif(tmp_path, f"PLACE;Sim101;{ES};BUY;1;MARKET;0;0;DAY;;j1;;")
        await until(lambda: _read(tmp_path, "j1.txt") == "REJECTED;0;0", what="a simulated reject")
        [entry] = sim.audit.entries
        assert entry.outcome == "refused" and "simulated reject" in entry.reason
    finally:
        await sim.stop()
