"""Sierra Chart contract tests from the DTC message definitions (DTCProtocol.h, protocol version 8)
taken as facts: type numbers and enum values, the JSON framing (NUL-terminated objects), the
compact ``{"Type":n,"F":[...]}`` form written out by hand in the header's field order, the binary
ENCODING_REQUEST bytes, and the book that turns ORDER_UPDATE / HISTORICAL_ORDER_FILL_RESPONSE /
POSITION_UPDATE messages into copytui events (each fill once, never more than the server said)."""

from __future__ import annotations

import json

import pytest

from adapters.sierrachart import messages as m
from adapters.sierrachart.book import Book
from adapters.sierrachart.options import SierraChartOptions, SymbolError, SymbolMap, parse_contracts
from adapters.sierrachart.wire import (
    ENCODING_REQUEST_JSON,
    FIELDS,
    MAX_FRAME,
    BuySell,
    DtcOrderType,
    Encoding,
    FrameError,
    Framer,
    LogonResult,
    Msg,
    Reason,
    Status,
    Tif,
    decode,
    encode,
    encode_compact,
    parse_encoding_message,
)
from copytui.models import EventKind, OrderStatus, OrderType, Side

DBL_MAX = 1.7976931348623157e308

# ------------------------------------------------------------------ facts from DTCProtocol.h
HEADER_TYPES = {
    "LOGON_REQUEST": 1, "LOGON_RESPONSE": 2, "HEARTBEAT": 3, "LOGOFF": 5, "ENCODING_REQUEST": 6,
    "ENCODING_RESPONSE": 7, "SUBMIT_NEW_SINGLE_ORDER": 208, "SUBMIT_NEW_OCO_ORDER": 201,
    "SUBMIT_FLATTEN_POSITION_ORDER": 209, "CANCEL_ORDER": 203, "CANCEL_REPLACE_ORDER": 204,
    "OPEN_ORDERS_REQUEST": 300, "ORDER_UPDATE": 301, "OPEN_ORDERS_REJECT": 302,
    "HISTORICAL_ORDER_FILLS_REQUEST": 303, "HISTORICAL_ORDER_FILL_RESPONSE": 304,
    "CURRENT_POSITIONS_REQUEST": 305, "POSITION_UPDATE": 306, "CURRENT_POSITIONS_REJECT": 307,
    "HISTORICAL_ORDER_FILLS_REJECT": 308, "TRADE_ACCOUNTS_REQUEST": 400, "TRADE_ACCOUNT_RESPONSE": 401,
    "ACCOUNT_BALANCE_UPDATE": 600, "ACCOUNT_BALANCE_REQUEST": 601, "ACCOUNT_BALANCE_REJECT": 602,
    "USER_MESSAGE": 700, "GENERAL_LOG_MESSAGE": 701, "ALERT_MESSAGE": 702,
}  # fmt: skip


def test_message_type_numbers_are_the_headers() -> None:
    ours = {t.name: int(t) for t in Msg}
    assert ours == {k: v for k, v in HEADER_TYPES.items() if v is not None}


def test_enum_values_are_the_headers() -> None:
    assert [(s.name, int(s)) for s in Status] == [
        ("UNSPECIFIED", 0), ("ORDER_SENT", 1), ("PENDING_OPEN", 2), ("PENDING_CHILD", 3), ("OPEN", 4),
        ("PENDING_CANCEL_REPLACE", 5), ("PENDING_CANCEL", 6), ("FILLED", 7), ("CANCELED", 8), ("REJECTED", 9),
        ("PARTIALLY_FILLED", 10),
    ]  # fmt: skip
    assert [int(r) for r in Reason] == list(range(11))
    assert (Reason.NEW_ORDER_ACCEPTED, Reason.ORDER_CANCEL_REPLACE_COMPLETE, Reason.NEW_ORDER_REJECTED) == (2, 7, 8)
    assert (DtcOrderType.MARKET, DtcOrderType.LIMIT, DtcOrderType.STOP, DtcOrderType.STOP_LIMIT) == (1, 2, 3, 4)
    assert (BuySell.BUY, BuySell.SELL) == (1, 2)
    assert (Tif.DAY, Tif.GOOD_TILL_CANCELED, Tif.IMMEDIATE_OR_CANCEL) == (1, 2, 4)
    assert (Encoding.BINARY, Encoding.JSON, Encoding.JSON_COMPACT) == (0, 2, 3)
    assert (LogonResult.SUCCESS, LogonResult.ERROR, LogonResult.ERROR_NO_RECONNECT) == (1, 2, 3)


def test_field_tables_hold_the_fields_the_adapter_reads_and_writes() -> None:
    order_update = FIELDS[Msg.ORDER_UPDATE]
    assert order_update[:3] == ("RequestID", "TotalNumMessages", "MessageNumber")
    for name in ("ServerOrderID", "ClientOrderID", "OrderStatus", "OrderUpdateReason", "FilledQuantity",
                 "AverageFillPrice", "LastFillPrice", "LastFillQuantity", "LastFillExecutionID", "NoOrders",
                 "PreviousServerOrderID", "LatestTransactionDateTime", "InfoText", "TradeAccount"):  # fmt: skip
        assert name in order_update
    assert FIELDS[Msg.SUBMIT_NEW_SINGLE_ORDER][:9] == (
        "Symbol",
        "Exchange",
        "TradeAccount",
        "ClientOrderID",
        "OrderType",
        "BuySell",
        "Price1",
        "Price2",
        "Quantity",
    )
    assert FIELDS[Msg.CANCEL_ORDER] == ("ServerOrderID", "ClientOrderID")
    assert FIELDS[Msg.TRADE_ACCOUNT_RESPONSE] == ("TotalNumberMessages", "MessageNumber", "TradeAccount", "RequestID")
    assert all(len(set(names)) == len(names) for names in FIELDS.values())


# ------------------------------------------------------------------ framing and the two JSON forms
def test_framing_splits_on_nul_across_reads() -> None:
    framer = Framer()
    a, b = encode(Msg.HEARTBEAT, {"NumDroppedMessages": 0}), encode(Msg.LOGOFF, {"Reason": "bye"})
    assert a.endswith(b"\x00") and a.count(b"\x00") == 1
    stream = a + b
    assert framer.feed(stream[:5]) == []
    assert [decode(f)["Type"] for f in framer.feed(stream[5:])] == [3, 5]
    assert framer.feed(b"\x00\x00 \x00") == []  # empty frames are nothing
    with pytest.raises(FrameError, match="without a NUL"):
        framer.feed(b"{" * (MAX_FRAME + 1))


def test_compact_form_decodes_as_the_full_form() -> None:
    # ORDER_UPDATE in the header's field order, typed out by hand (Size and Type are not in F)
    compact = (
        '{"Type":301,"F":[0,0,0,"ESZ25_FUT_CME","CME","","9001","ct1","X1",7,4,2,1,5000.25,0,1,0,'
        '2,2,0,5000.25,5000.25,1700000000,1,"E-77","Sim1","",0,"","",0,"","",1700000000,1700000000.5]}'
    )
    d = decode(compact.encode())
    u = m.order_update(d)
    assert (u.symbol, u.server_id, u.client_id, u.status, u.reason) == ("ESZ25_FUT_CME", "9001", "ct1", 7, 4)
    assert (u.order_type, u.buy_sell, u.price1, u.price2) == (2, 1, 5000.25, None)
    assert (u.order_qty, u.filled_qty, u.avg_fill_price, u.last_fill_qty) == (2, 2, 5000.25, 1)
    assert (u.last_fill_exec_id, u.trade_account, u.latest) == ("E-77", "Sim1", 1700000000.5)
    full = {"Type": 301, **{k: v for k, v in d.items() if k != "Type"}}
    assert m.order_update(decode(json.dumps(full).encode())) == u


def test_compact_from_a_newer_server_with_more_fields_and_of_unknown_types() -> None:
    d = decode(b'{"Type":401,"F":[1,1,"Sim1",7,"extra field of a later version"]}')
    assert d == {"Type": 401, "TotalNumberMessages": 1, "MessageNumber": 1, "TradeAccount": "Sim1", "RequestID": 7}
    assert decode(b'{"Type":9999,"F":[1,2]}') == {"Type": 9999}
    short = decode(b'{"Type":5,"F":["bye"]}')
    assert short == {"Type": 5, "Reason": "bye"}


def test_encode_compact_round_trips() -> None:
    fields = {"RequestID": 3, "Symbol": "MESZ25", "Quantity": -2, "AveragePrice": 5001.5, "TradeAccount": "Sim1"}
    out = encode_compact(Msg.POSITION_UPDATE, fields)
    body = json.loads(out[:-1])
    assert body["F"][:8] == [3, 0, 0, "MESZ25", "", -2, 5001.5, ""] and out.endswith(b"\x00")
    assert m.position_update(decode(out[:-1])).qty == -2


@pytest.mark.parametrize(
    ("frame", "says"),
    [
        (b"{nope", "not JSON"),
        (b"[1,2]", "not a JSON object"),
        (b'{"Size":1}', "no integer Type"),
        (b'{"Type":true}', "no integer Type"),
        (b'{"Type":301,"F":{"a":1}}', "compact F is not an array"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_malformed_frames_say_what_is_wrong(frame: bytes, says: str) -> None:
    with pytest.raises(FrameError, match=says):
        decode(frame)


def test_binary_encoding_request_bytes() -> None:
    # uint16 Size=16, uint16 Type=6, int32 ProtocolVersion=8, int32 Encoding=2 (JSON), char[4] "DTC"
    assert ENCODING_REQUEST_JSON == b"\x10\x00\x06\x00\x08\x00\x00\x00\x02\x00\x00\x00DTC\x00"
    assert parse_encoding_message(b"\x10\x00\x07\x00\x08\x00\x00\x00\x00\x00\x00\x00DTC\x00") == (7, 0)
    with pytest.raises(FrameError):
        parse_encoding_message(b'{"Type":2}\x00 padding....')


# ------------------------------------------------------------------ checked messages
def test_unset_doubles_are_none_and_bad_fields_are_named() -> None:
    base = {"Type": 301, "ServerOrderID": "1", "Symbol": "ESZ25", "OrderStatus": 4, "BuySell": 1, "OrderType": 2}
    u = m.order_update({**base, "Price1": 5000.0, "Price2": DBL_MAX, "FilledQuantity": DBL_MAX, "OrderQuantity": 3.0})
    assert (u.price1, u.price2, u.filled_qty, u.order_qty) == (5000.0, None, None, 3)
    with pytest.raises(FrameError, match="'OrderQuantity' is not a whole number"):
        m.order_update({**base, "OrderQuantity": 1.5})
    with pytest.raises(FrameError, match="'Symbol' must be text"):
        m.order_update({**base, "Symbol": 7})
    with pytest.raises(FrameError, match="neither ServerOrderID nor ClientOrderID"):
        m.order_update({"Type": 301, "OrderStatus": 4})
    assert m.order_update({"Type": 301, "NoOrders": 1, "RequestID": 4}).no_orders
    with pytest.raises(FrameError, match="UniqueExecutionID"):
        m.historical_fill({"Type": 304, "ServerOrderID": "1", "Quantity": 1, "Price": 1.0})


# ------------------------------------------------------------------ symbols and options
def test_symbols_both_ways() -> None:
    sm = SymbolMap(parse_contracts("ES=ESZ25_FUT_CME, MNQ = MNQZ5"))
    assert (sm.to_sierra("ES"), sm.to_copytui("ESZ25_FUT_CME"), sm.to_copytui("MNQZ5")) == (
        "ESZ25_FUT_CME",
        "ES",
        "MNQ",
    )
    assert [sm.to_copytui(s) for s in ("MESH26_FUT_CME", "M2KU5", "GCG26-COMEX", "CLF6", "F.US.EPZ25", "AAPL")] == [
        "MES", "M2K", "GC", "CL", None, None,
    ]  # fmt: skip
    with pytest.raises(SymbolError, match="options.contracts"):
        sm.to_sierra("NQ")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("ES", "ROOT=SIERRA_SYMBOL"),
        ("XX=XXZ5", "not a symbol copytui knows"),
        ("ES=A,ES=B", "twice"),
        ('ES=E"S', "not a"),
    ],
)
def test_bad_contracts_say_why(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_contracts(text)
    with pytest.raises(ValueError, match=says):
        SierraChartOptions.model_validate({"contracts": text})


# ------------------------------------------------------------------ the book
def update(**kw: object) -> m.OrderUpdate:
    base = {"Type": 301, "Symbol": "ESZ25_FUT_CME", "ServerOrderID": "77", "ClientOrderID": "ct9", "OrderType": 2,
            "BuySell": 1, "Price1": 5000.0, "OrderQuantity": 3, "TradeAccount": "Sim1"}  # fmt: skip
    return m.order_update({**base, **kw})


def fill(exec_id: str, qty: int, price: float, sid: str = "77") -> m.HistoricalFill:
    return m.historical_fill(
        {
            "Type": 304,
            "Symbol": "ESZ25_FUT_CME",
            "ServerOrderID": sid,
            "BuySell": 1,
            "Price": price,
            "Quantity": qty,
            "UniqueExecutionID": exec_id,
            "DateTime": 1,
        }
    )


def book() -> Book:
    return Book("sc", "Sim1", SymbolMap({"ES": "ESZ25_FUT_CME"}))


def test_an_order_from_open_through_partial_fills_to_filled() -> None:
    b = book()
    [new] = b.on_order(
        update(OrderStatus=Status.OPEN, OrderUpdateReason=Reason.NEW_ORDER_ACCEPTED, LatestTransactionDateTime=1)
    )
    assert (new.kind, new.order_id, new.client_order_id, new.symbol, new.side, new.price, new.qty) == (
        EventKind.ORDER_NEW, "77", "ct9", "ES", Side.BUY, 5000.0, 3,
    )  # fmt: skip
    part = {"OrderStatus": Status.PARTIALLY_FILLED, "FilledQuantity": 1, "LastFillQuantity": 1, "LastFillPrice": 5000.0,
            "LastFillExecutionID": "E1", "AverageFillPrice": 5000.0, "LatestTransactionDateTime": 2}  # fmt: skip
    [f1] = b.on_order(update(**part))
    assert (f1.kind, f1.fill_id, f1.fill_qty, f1.cum_qty, f1.fill_price) == (EventKind.FILL, "E1", 1, 1, 5000.0)
    assert b.on_order(update(**part)) == []  # a duplicate says nothing new
    # the rest in one update whose execution says 1 of the 2: the other comes from the average
    last = {
        "OrderStatus": Status.FILLED,
        "FilledQuantity": 3,
        "LastFillQuantity": 1,
        "LastFillPrice": 4999.75,
        "LastFillExecutionID": "E3",
        "AverageFillPrice": (5000 + 4999.75 * 2) / 3,
        "LatestTransactionDateTime": 4,
    }
    [f3] = b.on_order(update(**last))
    assert (f3.fill_qty, f3.cum_qty, f3.fill_price) == (2, 3, 4999.75)
    # a reordered older update changes nothing, and its execution is then seen as counted already
    assert (
        b.on_order(update(**{**part, "FilledQuantity": 2, "LastFillExecutionID": "E2", "LatestTransactionDateTime": 3}))
        == []
    )
    # the historical fills of the same executions count nothing more (never past what the server said)
    assert [b.on_fill(fill(e, 1, 5000.0)) for e in ("E1", "E2", "E3")] == [[], [], []]
    info = b.info(b.orders["77"])
    assert info is not None and (info.status, info.filled_qty, info.qty) == (OrderStatus.FILLED, 3, 3)


def test_modify_cancel_reject_and_a_new_server_order_id() -> None:
    b = book()
    b.on_order(update(OrderStatus=Status.OPEN, LatestTransactionDateTime=1))
    [moved] = b.on_order(
        update(OrderStatus=Status.OPEN, Price1=4999.0, OrderUpdateReason=7, LatestTransactionDateTime=2)
    )
    assert (moved.kind, moved.price, moved.version) == (EventKind.ORDER_MODIFIED, 4999.0, 1)
    # a replace that gave the order a new ServerOrderID is still the same order
    assert (
        b.on_order(update(ServerOrderID="78", PreviousServerOrderID="77", OrderStatus=Status.OPEN, Price1=4999.0)) == []
    )
    [gone] = b.on_order(update(ServerOrderID="78", OrderStatus=Status.CANCELED, OrderUpdateReason=6))
    assert (gone.kind, gone.order_id) == (EventKind.ORDER_CANCELLED, "78")
    assert b.on_order(update(ServerOrderID="78", OrderStatus=Status.OPEN)) == []  # final is final
    [rej] = b.on_order(update(ServerOrderID="", ClientOrderID="ct10", OrderStatus=Status.REJECTED, OrderUpdateReason=8,
                              InfoText="Margin exceeded"))  # fmt: skip
    assert (rej.kind, rej.reason, rej.client_order_id) == (EventKind.ORDER_REJECTED, "Margin exceeded", "ct10")
    assert b.on_order(update(ServerOrderID="404", ClientOrderID="", OrderUpdateReason=9, Symbol="")) == []


def test_quiet_learning_then_fills_and_positions() -> None:
    b = book()
    assert b.on_fill(fill("E1", 2, 5000.0, sid="50"), quiet=True) == []  # the first connect: learnt, not told
    [f] = b.on_fill(fill("E2", 1, 5001.0, sid="50"))
    assert (f.cum_qty, f.fill_qty, f.order_type) == (3, 1, None)
    pos = m.position_update({"Type": 306, "Symbol": "ESZ25_FUT_CME", "Quantity": -2, "AveragePrice": 5000.5})
    [p] = b.on_position(pos)
    assert (p.kind, p.symbol, p.position, p.avg_price) == (EventKind.POSITION, "ES", -2, 5000.5)
    assert b.on_position(pos) == []
    [flat] = b.flat_unless(set())
    assert flat.position == 0
    with pytest.raises(FrameError, match="unknown to copytui"):
        b.on_position(m.position_update({"Type": 306, "Symbol": "AAPL", "Quantity": 1}))


def test_orders_that_ended_while_away() -> None:
    b = book()
    b.on_order(update(OrderStatus=Status.OPEN, ServerOrderID="1", ClientOrderID="a"))
    b.on_order(update(OrderStatus=Status.OPEN, ServerOrderID="2", ClientOrderID="b", OrderQuantity=1))
    b.on_order(update(OrderStatus=Status.OPEN, ServerOrderID="3", ClientOrderID="c"))
    b.on_fill(fill("X", 1, 5000.0, sid="2"))
    events = b.ended_while_away({"3"})
    assert [(e.kind, e.order_id) for e in events] == [(EventKind.ORDER_CANCELLED, "1")]
    assert b.orders["2"].status == Status.FILLED and b.working_ids() == ["3"]
    assert b.info(b.orders["1"]).order_type is OrderType.LIMIT  # type: ignore[union-attr]


def test_one_execution_under_two_names_never_fills_past_the_order() -> None:
    b = book()
    b.on_order(update(OrderStatus=Status.OPEN, OrderQuantity=2))
    live = {"OrderStatus": Status.FILLED, "FilledQuantity": 2, "LastFillQuantity": 2, "LastFillPrice": 5000.0,
            "LastFillExecutionID": "live-1", "AverageFillPrice": 5000.0, "OrderQuantity": 2}  # fmt: skip
    [f] = b.on_order(update(**live))
    assert f.cum_qty == 2
    assert b.on_fill(fill("hist-1", 2, 5000.0)) == []  # the same execution as the history names it
    assert b.orders["77"].cum == 2
