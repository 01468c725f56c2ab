"""Fuzz: malformed broker input against every decoder, and what they decode against the engine.

Each decoder that turns a broker's bytes, text or JSON into copytui objects gets (a) random text
and bytes and (b) frames built from its real grammar and then broken: wrong types, missing fields,
huge and negative numbers, NaN and infinite prices, unknown enum values and symbols, nested
garbage, truncation, wrong FIX tags and delimiters. A decoder may return a value or raise the
error its adapter catches (FrameError, EntityError, SignalRProtocolError, PayloadError, pydantic's
ValidationError, ...); any other exception is a bug. Every event they do produce is within the
AccountEvent edge bounds; stateful decoders keep no state that would spoil later events (a
negative or huge quantity, a NaN average) and still decode a clean order and fill afterwards.

The AccountEvents the decoders did produce, plus hand-made hostile ones, then go through a real
engine (real journal, paper exchange): it must keep copying, journal the bad ones, refuse the
fat-finger fill (risk.max_order) and never send a follower more than the leader's events imply.

Deterministic (``derandomize``), no example database, bounded example counts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from adapters.fix import wire as fw
from adapters.fix.book import SessionBook, TrackedOrder
from adapters.projectx import signalr
from adapters.projectx.contracts import ContractError
from adapters.projectx.events import Translator
from adapters.projectx.payloads import GwOrder, GwPosition, GwTrade, PayloadError, unwrap
from adapters.projectx.payloads import validate as px_validate
from adapters.tradovate import frames as tf
from adapters.tradovate.book import AccountBook
from adapters.tradovate.entities import ENTITY_MODELS, EntityError
from adapters.tradovate.entities import validate as tv_validate
from copytui.instruments import INSTRUMENTS
from copytui.models import MAX_INT, MAX_QTY, AccountEvent, EventKind, OrderType, Side
from tests.engine_harness import LEADER, follower, running

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
FEW = settings(FUZZ, max_examples=60)

DECODED: list[AccountEvent] = []
"""Every AccountEvent a decoder produced from fuzzed input: the engine test replays them."""


def survive(allowed: tuple[type[BaseException], ...], fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    """``fn(*args, **kw)``; an ``allowed`` error is the decoder's documented answer (None), any other propagates."""
    try:
        return fn(*args, **kw)
    except allowed:
        return None


def keep(events: Any) -> None:
    if events:
        for ev in events:
            assert isinstance(ev, AccountEvent)
            assert_within_bounds(ev)
        DECODED.extend(events)


def assert_within_bounds(ev: AccountEvent) -> None:
    """What the engine and the journal rely on: sizes a broker could have, integers SQLite stores, real prices."""
    assert 0 <= ev.qty <= MAX_QTY and 0 <= ev.fill_qty <= ev.cum_qty <= MAX_QTY and abs(ev.position or 0) <= MAX_QTY
    assert all(0 <= v <= MAX_INT for v in (ev.version, ev.seq, ev.wall_ns, ev.recv_ns))
    assert all(p is None or math.isfinite(p) for p in (ev.price, ev.stop_price, ev.fill_price, ev.avg_price))


# ------------------------------------------------------------------ building blocks
HUGE = st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**30, -(10**30), 2**31, 10**400])
NUMBERS = st.integers() | HUGE | st.floats(allow_nan=True, allow_infinity=True)
WORDS = st.sampled_from(["", "0", "-1", "1e400", "NaN", "Infinity", "Buy", "Sell", "ESZ5", "CON.F.US.EP.H25", "null"])
SCALARS = st.none() | st.booleans() | NUMBERS | st.text(max_size=12) | WORDS
NASTY = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
"""Any JSON-ish value, including NaN, infinities, integers past 64 bits and nesting."""


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any], odds: int = 9) -> st.SearchStrategy[Any]:
    """``good`` ``odds`` times in ``odds + 1`` (so the decoder gets past its first checks), else ``bad``."""
    return st.integers(0, odds).flatmap(lambda n: bad if n == odds else good)  # one_of would flatten bad's branches


IDS = st.integers(1, 6)
QTYS = mostly(st.integers(1, 12), st.integers(-3, 0) | HUGE)
HOSTILE_QTY = st.sampled_from([0, 1, 2, 3, 5, 2**63, 10**30])
HOSTILE_PRICE = st.sampled_from([5000.25, None, math.nan, math.inf, -math.inf, 1e308, -1.0, 0.0])
BAD_PRICES = st.none() | st.sampled_from([math.nan, math.inf, -math.inf, -5.0, 0.0, 1e308, -1e308]) | st.floats()
PRICES = mostly(st.sampled_from([5000.25, 5001.0, 21000.5, 4999.75]), BAD_PRICES)


@st.composite
def broken(draw: st.DrawFn, good: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """A well-formed object, often left whole, else with one to three fields dropped, garbled or added."""
    d = dict(draw(good))
    for _ in range(draw(mostly(st.just(0), st.integers(1, 3), odds=2))):
        op = draw(st.sampled_from(["drop", "set", "add"]))
        if op == "drop" and d:
            del d[draw(st.sampled_from(sorted(d)))]
        elif op == "set" and d:
            d[draw(st.sampled_from(sorted(d)))] = draw(NASTY)
        else:
            d[draw(st.text(max_size=6))] = draw(NASTY)
    return d


def truncated(text: str) -> st.SearchStrategy[str]:
    """``text`` whole or cut short anywhere."""
    return st.just(text) | st.integers(0, max(len(text) - 1, 0)).map(lambda n: text[:n])


# ====================================================================== Tradovate
TV_ACCOUNT = 7
TV_ERRORS = (tf.FrameError, EntityError)
TV_TIMES = mostly(
    st.sampled_from(["2025-01-02T14:30:00.000Z", "2025-01-02T14:30:01.500+00:00", "2025-01-02T14:30:02"]),
    st.none() | st.integers() | st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00", "", "x"]),
)
TV_ACTIONS = mostly(st.sampled_from(["Buy", "Sell"]), st.just("Hold") | NASTY)
TV_ACCOUNTS = mostly(st.just(TV_ACCOUNT), st.just(8) | NASTY)
TV_STATUS = mostly(
    st.sampled_from(["Working", "Filled", "Canceled", "Rejected", "Expired", "PendingNew"]), st.just("Bogus") | NASTY
)
TV_ENTITIES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "contract": st.fixed_dictionaries(
        {"id": IDS, "name": st.sampled_from(["ESZ5", "NQH6", "MESM6", "ZZZZ5", "ES", "esz5", "E"])}
    ),
    "order": st.fixed_dictionaries(
        {
            "id": IDS,
            "accountId": TV_ACCOUNTS,
            "contractId": IDS,
            "timestamp": TV_TIMES,
            "action": TV_ACTIONS,
            "ordStatus": TV_STATUS,
        }
    ),
    "orderVersion": st.fixed_dictionaries(
        {
            "id": IDS,
            "orderId": IDS,
            "orderQty": QTYS,
            "orderType": mostly(
                st.sampled_from(["Market", "Limit", "Stop", "StopLimit"]), st.sampled_from(["TrailingStop", "Bogus"])
            ),
            "price": PRICES,
            "stopPrice": PRICES,
        }
    ),
    "command": st.fixed_dictionaries(
        {
            "id": IDS,
            "orderId": IDS,
            "clOrdId": st.none() | st.text(max_size=70),
            "commandType": mostly(st.sampled_from(["New", "Modify", "Cancel"]), st.just("Bogus")),
        }
    ),
    "executionReport": st.fixed_dictionaries(
        {
            "id": IDS,
            "orderId": IDS,
            "accountId": TV_ACCOUNTS,
            "execType": st.sampled_from(["New", "Trade", "Canceled", "Rejected"]),
            "ordStatus": TV_STATUS,
            "cumQty": QTYS,
            "avgPx": PRICES,
            "text": st.none() | st.text(max_size=8),
        }
    ),
    "fill": st.fixed_dictionaries(
        {
            "id": IDS,
            "orderId": IDS,
            "contractId": IDS,
            "timestamp": TV_TIMES,
            "action": TV_ACTIONS,
            "qty": QTYS,
            "price": PRICES,
            "active": mostly(st.just(True), st.just(False)),
        }
    ),
    "position": st.fixed_dictionaries(
        {
            "id": IDS,
            "accountId": TV_ACCOUNTS,
            "contractId": IDS,
            "timestamp": TV_TIMES,
            "netPos": QTYS,
            "netPrice": PRICES,
            "bought": QTYS,
            "sold": QTYS,
        }
    ),
}
TV_TYPES = st.sampled_from([*TV_ENTITIES, "cashBalance", "Order", ""])
TV_ENTITY = TV_TYPES.flatmap(lambda t: st.tuples(st.just(t), broken(TV_ENTITIES.get(t, st.just({})))))


def tv_props(entity_type: str, entity: Any, event_type: str = "Created") -> dict[str, Any]:
    return {"e": "props", "d": {"entityType": entity_type, "eventType": event_type, "entity": entity}}


TV_ITEMS = (
    TV_ENTITY.map(lambda te: tv_props(*te))
    | broken(TV_ENTITY.map(lambda te: tv_props(*te)))
    | st.fixed_dictionaries({"i": NASTY, "s": NASTY, "d": NASTY})
    | NASTY
)
TV_FRAMES = (
    st.lists(TV_ITEMS, max_size=3).flatmap(lambda items: truncated(tf.encode_array(items)))
    | st.sampled_from(["o", "h", 'c[1000,"bye"]', 'c["x"]', "c", "a", "a{}", "a[", "x[]", "oo", ""])
    | st.text(max_size=40)
    | (st.sampled_from("ahoc").flatmap(lambda h: NASTY.map(lambda v: h + json.dumps(v))))
    | st.just("a" + "[" * 3000)
)


def tv_frame(book: AccountBook, text: str) -> None:
    """What the Tradovate client does with one server frame (client._on_text / _on_props)."""
    frame = survive(TV_ERRORS, tf.parse_server_frame, text)
    if frame is None:
        return
    assert frame.kind in ("open", "heartbeat", "array", "close")
    for item in frame.items:
        msg = survive(TV_ERRORS, tf.classify, item)
        if isinstance(msg, tf.Event) and msg.name == "props" and isinstance(msg.data, dict):
            etype, entity = msg.data.get("entityType"), msg.data.get("entity")
            if isinstance(etype, str) and isinstance(entity, dict):
                keep(survive(TV_ERRORS, book.apply, etype, entity, recv_ns=1))


def tv_still_decodes(book: AccountBook) -> None:
    """After any garbage, a clean order and fill on fresh ids still comes out as a FILL."""
    for o in book.orders.values():  # what the book keeps was validated: it still makes valid events
        assert all(0 < v.orderQty <= MAX_QTY for v in o.versions.values()) and 0 <= o.cum_qty() <= 10 * MAX_QTY
    c, o = 10**15 + 1, 10**15 + 2
    out: list[AccountEvent] = []
    out += book.apply("contract", {"id": c, "name": "NQZ5"})
    out += book.apply("order", {"id": o, "accountId": TV_ACCOUNT, "contractId": c, "action": "Sell",
                                "ordStatus": "Working"})  # fmt: skip
    out += book.apply("orderVersion", {"id": o, "orderId": o, "orderQty": 2, "orderType": "Market"})
    out += book.apply("fill", {"id": o, "orderId": o, "contractId": c, "action": "Sell", "qty": 2, "price": 21000.5})
    fills = [e for e in out if e.kind is EventKind.FILL]
    assert [(f.symbol, f.side, f.fill_qty, f.cum_qty) for f in fills] == [("NQ", Side.SELL, 2, 2)]


@FUZZ
@given(st.text() | st.binary().map(lambda b: b.decode("latin-1")))
def test_tradovate_random_text(text: str) -> None:
    survive(TV_ERRORS, tf.parse_server_frame, text)
    req = survive(TV_ERRORS, tf.parse_client_message, text)
    if isinstance(req, tf.Request):
        survive(TV_ERRORS, req.json_body)


@FUZZ
@given(NASTY)
def test_tradovate_classify_any_json(item: Any) -> None:
    msg = survive(TV_ERRORS, tf.classify, item)
    assert msg is None or isinstance(msg, tf.Response | tf.Event)


@FUZZ
@given(st.sampled_from(sorted(ENTITY_MODELS)), NASTY | broken(st.fixed_dictionaries({"id": IDS})))
def test_tradovate_validate_any_json(entity_type: str, raw: Any) -> None:
    survive(TV_ERRORS, tv_validate, entity_type, raw)


@FUZZ
@given(st.lists(TV_ENTITY, max_size=25))
def test_tradovate_book_survives_broken_entities(entities: list[tuple[str, dict[str, Any]]]) -> None:
    book = AccountBook("lead", TV_ACCOUNT)
    for entity_type, raw in entities:
        keep(survive(TV_ERRORS, book.apply, entity_type, raw, recv_ns=1))
    tv_still_decodes(book)


TV_ONE_ORDER = st.one_of(
    st.fixed_dictionaries({"type": st.just("contract"), "name": st.sampled_from(["ESZ5", "ZZZZ5", "MNQH6"])}),
    st.fixed_dictionaries(
        {
            "type": st.just("order"),
            "accountId": st.sampled_from([TV_ACCOUNT, TV_ACCOUNT, 8]),
            "action": st.sampled_from(["Buy", "Sell"]),
            "ordStatus": st.sampled_from(["Working", "Filled", "Canceled", "Rejected", "Expired", "Unknown"]),
            "timestamp": st.sampled_from(["2025-01-02T14:30:00Z", "0001-01-01T00:00:00+14:00", "x"]),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("orderVersion"),
            "id": st.integers(1, 3),
            "orderQty": st.sampled_from([1, 2, 5, 2**63, 10**30]),
            "orderType": st.sampled_from(["Market", "Limit", "Stop", "StopLimit", "TrailingStop"]),
            "price": HOSTILE_PRICE,
            "stopPrice": HOSTILE_PRICE,
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("fill"),
            "id": st.integers(1, 4),
            "action": st.sampled_from(["Buy", "Sell"]),
            "qty": st.sampled_from([1, 2, 5, 2**63, 10**30]),
            "price": HOSTILE_PRICE,
            "active": st.booleans(),
            "timestamp": st.sampled_from(["2025-01-02T14:30:00Z", 1735828200000, 10**30, None]),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("executionReport"),
            "id": st.integers(1, 4),
            "execType": st.sampled_from(["New", "Trade", "Rejected"]),
            "ordStatus": st.sampled_from(["Working", "Filled", "Rejected", "Canceled"]),
            "cumQty": st.sampled_from([0, 1, 5, 2**63]),
            "text": st.sampled_from([None, "too big"]),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("position"),
            "netPos": st.sampled_from([0, 1, -2, 2**63, -(10**30)]),
            "netPrice": HOSTILE_PRICE,
            "bought": st.sampled_from([0, 1, 3, 2**63]),
            "sold": st.sampled_from([0, 1, 3]),
            "timestamp": st.sampled_from(["2025-01-02T14:30:00Z", "2025-01-02T14:29:00Z", None]),
        }
    ),
)


@FUZZ
@given(st.lists(TV_ONE_ORDER, max_size=12))
def test_tradovate_book_survives_one_order_told_wrong(updates: list[dict[str, Any]]) -> None:
    """Every entity about one order (id 1 on contract 1), with typed but hostile values, in any order."""
    book = AccountBook("lead", TV_ACCOUNT)
    for u in updates:
        etype = u.pop("type")
        ids = {"id": 1, "orderId": 1, "contractId": 1, "accountId": TV_ACCOUNT}
        if etype == "contract":
            ids = {"id": 1}
        keep(survive(TV_ERRORS, book.apply, etype, {**ids, **u}, recv_ns=1))
    tv_still_decodes(book)


def tv_snapshot_list(entity_type: str) -> st.SearchStrategy[Any]:
    """A snapshot list of one entity type: entities with any kind of id, garbage items, or not a list."""
    item = broken(TV_ENTITIES[entity_type]).flatmap(lambda d: (IDS | SCALARS).map(lambda i: {**d, "id": i}))
    return st.lists(item | NASTY, max_size=5) | NASTY


TV_SNAPSHOT = st.fixed_dictionaries(
    {},
    optional={
        "contracts": tv_snapshot_list("contract"),
        "orders": tv_snapshot_list("order"),
        "orderVersions": tv_snapshot_list("orderVersion"),
        "commands": tv_snapshot_list("command"),
        "executionReports": tv_snapshot_list("executionReport"),
        "fills": tv_snapshot_list("fill"),
        "positions": tv_snapshot_list("position"),
    },
)


@FEW
@given(TV_SNAPSHOT | NASTY)
def test_tradovate_snapshot_survives(snapshot: Any) -> None:
    book = AccountBook("lead", TV_ACCOUNT)
    keep(survive(TV_ERRORS, book.load_snapshot, snapshot))
    tv_still_decodes(book)


@FUZZ
@given(st.lists(TV_FRAMES, max_size=8))
def test_tradovate_stream_survives(texts: list[str]) -> None:
    book = AccountBook("lead", TV_ACCOUNT)
    for text in texts:
        tv_frame(book, text)
    tv_still_decodes(book)


# ====================================================================== ProjectX
PX_ACCOUNT = 1001
PX_ERRORS = (signalr.SignalRProtocolError, PayloadError, ContractError, ValidationError)
PX_CONTRACTS = mostly(
    st.sampled_from(["CON.F.US.EP.H25", "CON.F.US.ENQ.Z5", "CON.F.US.MES.M26"]),
    st.sampled_from(["CON.F.US.ZZZ.H25", "CON.F.US.EP", "EP", ""]) | NASTY,
)
PX_TIMES = mostly(
    st.none() | st.sampled_from(["2025-01-02T14:30:00+00:00", "2025-01-02T14:30:01", "2025-01-02T14:30:02.5-05:00"]),
    st.integers() | st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2025-13-45", ""]),
)
PX_SIDES = mostly(st.sampled_from([0, 1]), st.sampled_from([-1, 2]) | NASTY)
PX_ACCOUNTS = mostly(st.just(PX_ACCOUNT), st.just(1002) | NASTY)
PX_PAYLOADS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "GatewayUserOrder": st.fixed_dictionaries(
        {
            "id": IDS,
            "accountId": PX_ACCOUNTS,
            "contractId": PX_CONTRACTS,
            "status": mostly(st.integers(1, 6), st.sampled_from([0, -1, 7, 8])),
            "type": mostly(st.integers(1, 7), st.sampled_from([0, 8])),
            "side": PX_SIDES,
            "size": QTYS,
            "limitPrice": PRICES,
            "stopPrice": PRICES,
            "fillVolume": mostly(st.integers(0, 12), QTYS),
            "filledPrice": PRICES,
            "customTag": st.none() | st.text(max_size=8),
            "creationTimestamp": PX_TIMES,
            "updateTimestamp": PX_TIMES,
        }
    ),
    "GatewayUserTrade": st.fixed_dictionaries(
        {
            "id": IDS,
            "accountId": PX_ACCOUNTS,
            "contractId": PX_CONTRACTS,
            "price": PRICES,
            "side": PX_SIDES,
            "size": QTYS,
            "orderId": IDS,
            "voided": mostly(st.just(False), st.just(True)),
            "creationTimestamp": PX_TIMES,
        }
    ),
    "GatewayUserPosition": st.fixed_dictionaries(
        {
            "id": IDS,
            "accountId": PX_ACCOUNTS,
            "contractId": PX_CONTRACTS,
            "type": mostly(st.integers(0, 2), st.sampled_from([-1, 3])),
            "size": QTYS,
            "averagePrice": PRICES,
            "creationTimestamp": PX_TIMES,
        }
    ),
}
PX_MODELS = {"GatewayUserOrder": GwOrder, "GatewayUserTrade": GwTrade, "GatewayUserPosition": GwPosition}
PX_TARGET = mostly(st.sampled_from(list(PX_PAYLOADS)), st.sampled_from(["GatewayUserAccount", "gatewayuserorder"]))
PX_WRAPPED = PX_TARGET.flatmap(
    lambda t: st.tuples(
        st.just(t),
        mostly(
            broken(PX_PAYLOADS.get(t, st.just({}))).flatmap(
                lambda p: (
                    st.just(p) | st.fixed_dictionaries({"action": mostly(st.integers(0, 1), NASTY), "data": st.just(p)})
                )
            ),
            NASTY,
        ),
    )
)
PX_MESSAGES = (
    PX_WRAPPED.map(lambda tp: {"type": 1, "target": tp[0], "arguments": [tp[1]]})
    | PX_WRAPPED.map(lambda tp: {"type": 1, "target": tp[0], "arguments": [[tp[1], tp[1]]]})
    | broken(PX_WRAPPED.map(lambda tp: {"type": 1, "target": tp[0], "arguments": [tp[1]]}))
    | st.fixed_dictionaries({"type": st.integers(-1, 9) | NASTY, "invocationId": NASTY, "result": NASTY})
    | st.just({"type": 6})
    | NASTY
)
PX_CHUNKS = (
    st.lists(PX_MESSAGES, max_size=3).map(lambda ms: "".join(json.dumps(m) + signalr.RS for m in ms)).flatmap(truncated)
    | st.text(max_size=40)
    | st.binary(max_size=40)
    | st.sampled_from([signalr.RS, "{}", "[]" + signalr.RS, "[" * 3000 + signalr.RS, "null" + signalr.RS])
)


def px_message(tr: Translator, msg: dict[str, Any]) -> None:
    """What the ProjectX hub and client do with one SignalR message (hub._dispatch, client._on_invocation)."""
    kind = survive(PX_ERRORS, signalr.message_type, msg)
    if kind is not signalr.MessageType.INVOCATION:
        return
    target, args = msg.get("target"), msg.get("arguments", [])
    if not isinstance(target, str) or not isinstance(args, list) or target not in PX_MODELS:
        return
    for raw in [a for arg in args for a in (arg if isinstance(arg, list) else [arg])]:
        if isinstance(raw, dict):
            px_payload(tr, target, raw)


def px_payload(tr: Translator, target: str, raw: Any) -> None:
    p = survive(PX_ERRORS, px_validate, PX_MODELS[target], raw, target)
    if p is None or p.accountId != tr.account_id:
        return
    handler = {GwOrder: tr.on_order, GwTrade: tr.on_trade, GwPosition: tr.on_position}[type(p)]
    # the client catches (PayloadError, ValueError) around the translator
    keep(survive((PayloadError, ValueError), handler, p, 1))


def px_state_sane(tr: Translator) -> None:
    """What the translator keeps must still make valid AccountEvents, or one bad payload spoils the order for good."""
    for st_ in tr.orders.values():
        assert 0 <= st_.size <= MAX_QTY and 0 <= st_.cum <= MAX_QTY, st_
        assert math.isfinite(st_.notional) and all(p is None or math.isfinite(p) for p in (st_.limit, st_.stop)), st_
    for qty, avg in tr.positions.values():
        assert abs(qty) <= MAX_QTY and math.isfinite(avg)


def px_still_decodes(tr: Translator) -> None:
    px_state_sane(tr)
    oid = 10**15 + 3
    order = {"id": oid, "accountId": PX_ACCOUNT, "contractId": "CON.F.US.MES.H25", "status": 1, "type": 2,
             "side": 0, "size": 3, "updateTimestamp": "2030-01-01T00:00:00+00:00"}  # fmt: skip
    out = tr.on_order(px_validate(GwOrder, order, "GatewayUserOrder"))
    trade = {"id": oid, "accountId": PX_ACCOUNT, "contractId": "CON.F.US.MES.H25", "price": 5000.25, "side": 0,
             "size": 3, "orderId": oid}  # fmt: skip
    out += tr.on_trade(px_validate(GwTrade, trade, "GatewayUserTrade"))
    assert [(e.kind, e.symbol, e.cum_qty) for e in out] == [(EventKind.ORDER_NEW, "MES", 0), (EventKind.FILL, "MES", 3)]


@FUZZ
@given(st.text() | st.binary())
def test_projectx_random_text(data: str | bytes) -> None:
    survive(PX_ERRORS, signalr.FrameDecoder().feed, data)
    text = data if isinstance(data, str) else data.decode("latin-1")
    survive(PX_ERRORS, signalr.parse_record, text)
    survive(PX_ERRORS, signalr.parse_handshake_response, text)
    survive(PX_ERRORS, signalr.parse_handshake_request, text)


@FUZZ
@given(NASTY, PX_TARGET)
def test_projectx_any_json(value: Any, target: str) -> None:
    if isinstance(value, dict):
        survive(PX_ERRORS, signalr.message_type, value)
    survive(PX_ERRORS, signalr.connection_id, value)
    survive(PX_ERRORS, unwrap, value, target)
    for model in PX_MODELS.values():
        survive(PX_ERRORS, px_validate, model, value, target)


@FEW
@given(broken(st.fixed_dictionaries({
    "negotiateVersion": st.integers(-1, 2) | NASTY, "connectionId": st.text(max_size=5) | NASTY,
    "connectionToken": st.text(max_size=5) | NASTY,
    "availableTransports": st.lists(st.fixed_dictionaries({"transport": st.sampled_from(["WebSockets", "LongPolling"])
                                                           | NASTY}), max_size=2) | NASTY,
})))  # fmt: skip
def test_projectx_negotiate_answer(answer: dict[str, Any]) -> None:
    cid = survive(PX_ERRORS, signalr.connection_id, answer)
    assert cid is None or (isinstance(cid, str) and cid)


@FUZZ
@given(st.lists(PX_WRAPPED, max_size=20))
def test_projectx_translator_survives_broken_payloads(payloads: list[tuple[str, Any]]) -> None:
    tr = Translator("lead", PX_ACCOUNT)
    for target, raw in payloads:
        if target in PX_MODELS:
            px_payload(tr, target, raw)
        else:
            survive(PX_ERRORS, unwrap, raw, target)
    px_still_decodes(tr)


# One order's life told wrong: every update about the same order, with typed but hostile values.
PX_ONE_ORDER = st.one_of(
    st.fixed_dictionaries(
        {
            "kind": st.just("GatewayUserOrder"),
            "status": st.sampled_from([1, 2, 3, 4, 5, 6, 0]),
            "size": HOSTILE_QTY,
            "fillVolume": HOSTILE_QTY,
            "filledPrice": HOSTILE_PRICE,
            "limitPrice": HOSTILE_PRICE,
            "updateTimestamp": st.sampled_from(
                ["2025-01-02T14:30:00+00:00", "2025-01-02T14:30:01", None, "2025-01-02T14:29:00-05:00"]
            ),
        }
    ),
    st.fixed_dictionaries(
        {
            "kind": st.just("GatewayUserTrade"),
            "id": st.integers(1, 4),
            "size": HOSTILE_QTY,
            "price": HOSTILE_PRICE,
            "creationTimestamp": st.sampled_from(["2025-01-02T14:30:00+00:00", "2025-01-02T14:30:01", None]),
        }
    ),
)


@FUZZ
@given(st.lists(PX_ONE_ORDER, max_size=10), st.sampled_from([0, 1]))
def test_projectx_translator_survives_one_order_told_wrong(updates: list[dict[str, Any]], side: int) -> None:
    tr = Translator("lead", PX_ACCOUNT)
    common = {"accountId": PX_ACCOUNT, "contractId": "CON.F.US.EP.H25", "side": side}
    for u in updates:
        kind = u.pop("kind")
        if kind == "GatewayUserOrder":
            px_payload(tr, kind, {**common, "id": 1, "type": 1, **u})
        else:
            px_payload(tr, kind, {**common, "orderId": 1, **u})
    px_still_decodes(tr)


@FUZZ
@given(st.lists(PX_CHUNKS, max_size=8))
def test_projectx_stream_survives(chunks: list[str | bytes]) -> None:
    decoder, tr = signalr.FrameDecoder(max_buffer=64 * 1024), Translator("lead", PX_ACCOUNT)
    for chunk in chunks:
        for msg in survive(PX_ERRORS, decoder.feed, chunk) or []:
            assert isinstance(msg, dict)
            px_message(tr, msg)
    px_still_decodes(tr)


# ====================================================================== FIX
FIX_ERRORS = (
    ValueError,
)  # SessionBook: a report it cannot use (pydantic's ValidationError included); the client logs it
SOH = fw.SOH
FIX_NUMBERS = st.sampled_from(["1", "2", "0", "-3", "1.5", "1e999", "-1e999", "inf", "nan", "NaN", "", "x", "9" * 40,
                               "1e308", "0x10", " 2", "2 "])  # fmt: skip
FIX_VALUES: dict[int, st.SearchStrategy[str]] = {
    fw.MSG_TYPE: st.sampled_from(["8", "8", "8", "9", "3", "j", "AP", "AO", "Z", ""]),
    fw.MSG_SEQ_NUM: FIX_NUMBERS,
    fw.EXEC_TYPE: st.sampled_from(["0", "1", "2", "4", "5", "8", "F", "I", "G", "H", "A", "C", "3", "?", ""]),
    fw.EXEC_TRANS_TYPE: st.sampled_from(["0", "1", "2", "3", "9"]),
    fw.ORD_STATUS: st.sampled_from(["0", "1", "2", "4", "8", "A", "Z", ""]),
    fw.CL_ORD_ID: st.sampled_from(["C1", "C2", "C3", "X9", ""]),
    fw.ORIG_CL_ORD_ID: st.sampled_from(["C1", "C2", "R1", ""]),
    fw.ORDER_ID: st.sampled_from(["O1", "O2", "O3", ""]),
    fw.EXEC_ID: st.sampled_from(["E1", "E2", "E3", "E4", ""]),
    fw.ACCOUNT: st.sampled_from(["ACC", "OTHER"]),
    fw.SYMBOL: st.sampled_from(["ES", "NQ", "ZZZ", "", "es"]),
    fw.SIDE: st.sampled_from(["1", "2", "5", "9", ""]),
    fw.ORD_TYPE: st.sampled_from(["1", "2", "3", "4", "K", "P", ""]),
    fw.ORDER_QTY: FIX_NUMBERS,
    fw.PRICE: FIX_NUMBERS,
    fw.STOP_PX: FIX_NUMBERS,
    fw.LAST_QTY: FIX_NUMBERS,
    fw.LAST_PX: FIX_NUMBERS,
    fw.CUM_QTY: FIX_NUMBERS,
    fw.LEAVES_QTY: FIX_NUMBERS,
    fw.AVG_PX: FIX_NUMBERS,
    fw.TEXT: st.text(max_size=8).filter(lambda t: SOH not in t),
    fw.TOT_NUM_REPORTS: FIX_NUMBERS,
    fw.LAST_RPT_REQUESTED: st.sampled_from(["Y", "N"]),
    fw.POSS_DUP: st.sampled_from(["Y", "N"]),
    fw.NO_POSITIONS: FIX_NUMBERS,
    fw.POS_TYPE: st.sampled_from(["TQ", ""]),
    fw.LONG_QTY: FIX_NUMBERS,
    fw.SHORT_QTY: FIX_NUMBERS,
}
FIX_FIELD = st.sampled_from(sorted(FIX_VALUES)).flatmap(lambda tag: st.tuples(st.just(str(tag)), FIX_VALUES[tag]))
FIX_ODD_FIELD = st.tuples(st.sampled_from(["", "x", "-1", "0", "35 ", "9" * 30, "10"]), st.text(max_size=6))


@st.composite
def fix_messages(draw: st.DrawFn) -> str:
    fields = [("8", draw(st.sampled_from(["FIX.4.2", "FIX.4.4", "FIX.9", ""]))), ("35", "8")]
    fields += draw(st.lists(FIX_FIELD | FIX_ODD_FIELD, min_size=0, max_size=20))
    sep = draw(mostly(st.just(SOH), st.sampled_from(["|", "\n", SOH + SOH, "=", ""])))
    eq = draw(mostly(st.just("="), st.sampled_from(["==", ":", "", SOH])))
    raw = sep.join(f"{t}{eq}{v}" for t, v in fields) + sep
    return draw(mostly(st.just(raw), truncated(raw)))


def fix_book() -> SessionBook:
    book = SessionBook("ACC")
    for i, (side, typ) in enumerate(
        [(Side.BUY, OrderType.MARKET), (Side.SELL, OrderType.LIMIT), (Side.BUY, OrderType.STOP)]
    ):
        book.track(TrackedOrder(root=f"C{i + 1}", cl_ord_id=f"C{i + 1}", symbol="ES", side=side, order_type=typ, qty=2,
                                price=5000.0 if typ is OrderType.LIMIT else None,
                                stop_price=5100.0 if typ is OrderType.STOP else None))  # fmt: skip
    return book


def fix_message(book: SessionBook, raw: str) -> None:
    """What the FIX client does with one raw message (client._on_app / _on_exec_report / positions)."""
    f = fw.Fields.parse(raw)
    assert all(isinstance(t, int) and isinstance(v, str) for t, v in f.pairs)
    _ = f.msg_type, f.seq, f.text()
    for tag in (fw.ORDER_QTY, fw.LAST_QTY, fw.CUM_QTY):
        q = f.qty(tag)
        assert q is None or isinstance(q, int)
    for tag in (fw.PRICE, fw.LAST_PX, fw.AVG_PX):
        n = f.number(tag)
        assert n is None or math.isfinite(n)
    for entry in f.groups(fw.NO_POSITIONS, fw.POS_TYPE):
        _ = (fw.as_int(entry.get(fw.LONG_QTY)) or 0) - (fw.as_int(entry.get(fw.SHORT_QTY)) or 0)
    _ = fw.as_int(f.get(fw.TOTAL_NUM_POS_REPORTS))
    if f.msg_type == fw.EXEC_REPORT:
        rep = fw.ExecReport.from_fields(f)
        _ = rep.status
        if not rep.bust:
            keep(survive(FIX_ERRORS, book.apply, rep, f.seq, 1, 2))


def fix_still_decodes(book: SessionBook) -> None:
    root = "FRESH1"
    book.track(TrackedOrder(root=root, cl_ord_id=root, symbol="NQ", side=Side.SELL, order_type=OrderType.MARKET, qty=3))
    raw = SOH.join(["8=FIX.4.4", "35=8", "34=7", f"11={root}", "37=OF1", "17=EF1", "150=F", "39=2", "55=NQ", "54=2",
                    "38=3", "32=3", "31=21000.25", "14=3", "151=0", "6=21000.25"]) + SOH  # fmt: skip
    f = fw.Fields.parse(raw)
    out = book.apply(fw.ExecReport.from_fields(f), f.seq, 1, 2)
    assert [(e.kind, e.symbol, e.fill_qty, e.cum_qty) for e in out if e.kind is EventKind.FILL] == [
        (EventKind.FILL, "NQ", 3, 3)
    ]


@FUZZ
@given(st.text() | st.binary().map(lambda b: b.decode("latin-1")))
def test_fix_random_text(text: str) -> None:
    fix_message(fix_book(), text)
    fw.scrub(text)


@FUZZ
@given(st.lists(fix_messages(), max_size=12))
def test_fix_session_survives_broken_messages(raws: list[str]) -> None:
    book = fix_book()
    for raw in raws:
        fix_message(book, raw)
        fix_state_sane(book)
    fix_still_decodes(book)


def fix_state_sane(book: SessionBook) -> None:
    """What the book keeps must still make valid AccountEvents, or one bad report spoils the order for good."""
    for o in book.orders.values():
        assert 0 <= o.qty <= MAX_QTY and 0 <= o.filled <= MAX_QTY, (o.root, o.qty, o.filled)
        assert all(p is None or math.isfinite(p) for p in (o.price, o.stop_price, o.avg_px)), o
    for p in book.positions.values():
        assert abs(p.qty) <= MAX_QTY and math.isfinite(p.avg), p


FIX_ONE_ORDER = st.fixed_dictionaries(
    {
        "150": st.sampled_from(["0", "F", "5", "4", "8", "I", "A", "C", "1", "2", "G"]),
        "39": st.sampled_from(["0", "1", "2", "4", "8", "A", "E"]),
        "11": st.sampled_from(["C1", "R1", "R2", ""]),
        "41": st.sampled_from(["C1", "R1", ""]),
        "17": st.sampled_from(["E1", "E2", "E3", ""]),
        "38": st.sampled_from(["2", "0", "-3", "1e999", "nan", "99999999999999999999", ""]),
        "32": st.sampled_from(["1", "0", "-1", "2", "1e999", ""]),
        "14": st.sampled_from(["1", "2", "0", "-5", "50", "1e999", ""]),
        "151": st.sampled_from(["0", "1", "-1", ""]),
        "31": st.sampled_from(["5000.25", "nan", "inf", "-1", "0", "1e308", ""]),
        "44": st.sampled_from(["5000.25", "nan", "-inf", ""]),
        "6": st.sampled_from(["5000.25", "nan", "1e400", "1e308", ""]),
    }
)


@FUZZ
@given(st.lists(FIX_ONE_ORDER, max_size=10))
@example([{"150": "F", "39": "1", "11": "C1", "17": f"E{i}", "32": "1", "31": "1e308"} for i in (1, 2)])
def test_fix_book_survives_one_order_told_wrong(reports: list[dict[str, str]]) -> None:
    """Execution reports about one tracked order (ClOrdID C1), with typed but hostile values, in any order."""
    book = fix_book()
    for i, fields in enumerate(reports):
        head = ["8=FIX.4.4", "35=8", f"34={i + 2}", "37=O1", "55=ES", "54=1", "1=ACC"]
        raw = SOH.join(head + [f"{t}={v}" for t, v in fields.items() if v]) + SOH
        fix_message(book, raw)
        fix_state_sane(book)
    fix_still_decodes(book)


# ====================================================================== AccountEvent itself
EVENT_FIELDS = st.fixed_dictionaries(
    {
        "account": st.just("lead") | NASTY,
        "kind": st.sampled_from([k.value for k in EventKind] + ["FILL", "trade", ""]),
        "order_id": st.none() | st.text(max_size=5) | NASTY,
        "symbol": st.sampled_from(["ES", "NQ", "ZZZ", "", None]),
        "side": st.sampled_from(["buy", "sell", "BUY", "hold", None]),
        "order_type": st.sampled_from(["market", "limit", "stop", "stop_limit", "iceberg", None]),
        "qty": QTYS | NASTY,
        "price": PRICES | NASTY,
        "fill_qty": QTYS,
        "cum_qty": QTYS,
        "fill_price": PRICES,
        "position": QTYS | st.none(),
        "version": QTYS,
        "seq": QTYS,
    }
)


@FUZZ
@given(broken(EVENT_FIELDS) | NASTY)
def test_account_event_validation(raw: Any) -> None:
    ev = survive((ValidationError,), AccountEvent.model_validate, raw)
    if ev is not None:
        assert_within_bounds(ev)
        DECODED.append(ev)
    text = json.dumps(raw)
    survive((ValidationError,), AccountEvent.model_validate_json, text)
    survive((ValidationError,), AccountEvent.model_validate_json, text[: len(text) // 2].encode())


# ====================================================================== the engine
def decoded_events() -> list[AccountEvent]:
    """What the decoders produced above (run them now when this test runs alone)."""
    if not DECODED:
        for name, fn in sorted(globals().items()):
            if name.startswith("test_") and hasattr(fn, "hypothesis"):
                fn()
    return list(DECODED)


FAT = "GC"  # the symbol of the fat-finger fill below; nothing else trades it


def hostile_events() -> list[AccountEvent]:
    """Valid AccountEvents that make no sense: unknown symbols, fills of orders never seen, cumulative
    quantities far past the order (up to the edge's MAX_QTY), replays in reverse, orphan cancels and
    modifies, odd prices and clocks."""

    def ev(kind: EventKind, **kw: Any) -> AccountEvent:
        return AccountEvent(account=LEADER, kind=kind, **kw)

    fill, new = EventKind.FILL, EventKind.ORDER_NEW
    es = {"symbol": "ES", "side": Side.BUY}
    return [
        ev(fill, order_id="z1", symbol="ZZZ", side=Side.BUY, fill_qty=1, cum_qty=1, fill_price=1.0),
        ev(new, order_id="x1", symbol="XYZ", side=Side.SELL, order_type=OrderType.LIMIT, qty=2, price=10.0),
        ev(fill, order_id="x1", symbol="XYZ", side=Side.SELL, fill_qty=2, cum_qty=2, fill_price=10.0),
        ev(fill, order_id="ghost", fill_qty=3, cum_qty=3, fill_price=5000.0, **es),  # no order before it
        ev(new, order_id="small", order_type=OrderType.LIMIT, qty=1, price=4990.0, **es),
        ev(fill, order_id="small", fill_qty=1, cum_qty=40, fill_price=4990.0, **es),  # 40 filled of 1
        *[ev(fill, order_id="rev", fill_qty=1, cum_qty=c, fill_price=5001.0, seq=10 - c, **es) for c in (3, 2, 1)],
        ev(fill, order_id="rev", fill_qty=1, cum_qty=3, fill_price=5001.0, fill_id="again", **es),
        ev(EventKind.ORDER_CANCELLED, order_id="never-seen"),
        ev(EventKind.ORDER_REJECTED, order_id="never-seen-2", reason="x" * 5000),
        ev(EventKind.ORDER_MODIFIED, order_id="m1", order_type=OrderType.STOP, qty=4, stop_price=-1.0, version=9, **es),
        ev(EventKind.ORDER_MODIFIED, order_id="m1", order_type=OrderType.STOP, qty=4, stop_price=-2.0, version=3, **es),
        ev(EventKind.POSITION, symbol="NQ", position=-MAX_QTY, avg_price=0.0),
        ev(EventKind.POSITION, symbol="QQQ", position=7),
        ev(fill, order_id="odd", side=Side.SELL, symbol="NQ", fill_qty=2, cum_qty=2, fill_price=-3.5, seq=MAX_INT),
        ev(fill, order_id="odd", side=Side.BUY, symbol="ES", fill_qty=1, cum_qty=3, fill_price=0.0),  # side flips
        ev(fill, order_id=None, fill_id=None, symbol="MES", side=Side.BUY, fill_qty=1, cum_qty=1, fill_price=1.0),
        ev(
            fill,
            order_id="fat",
            symbol=FAT,
            side=Side.BUY,
            fill_qty=MAX_QTY,
            cum_qty=MAX_QTY,
            fill_price=2000.0,
            wall_ns=MAX_INT,
            recv_ns=MAX_INT,
        ),  # fmt: skip
    ]


async def test_engine_survives_every_decoded_and_hostile_event(tmp_path) -> None:
    events = decoded_events() + hostile_events()
    assert len(events) > 100
    async with running(tmp_path, [follower("a")]) as h:
        for ev in events:
            h.engine.on_leader_event(ev)  # the hot path: nothing may escape it
        await h.settle()
        # the bad ones were journaled, with what the leader said
        for symbol in ("ZZZ", "XYZ"):
            found = h.rows("SELECT COUNT(*) FROM errors WHERE message LIKE ? OR payload LIKE ?", *[f"%{symbol}%"] * 2)
            assert found[0][0] >= 1, symbol
        acct = h.x.accounts["a"]
        assert not {o.symbol for o in acct.orders.values()} & {"ZZZ", "XYZ", "QQQ"}
        # the fat-finger fill was refused by the default guard, and journaled so; nothing near its size went out
        max_order = follower("a").risk.max_order
        assert max_order is not None and all(0 < o.qty <= max_order for o in acct.orders.values())
        assert h.pos("a", FAT) == 0
        refused = "SELECT COUNT(*) FROM intents WHERE symbol=? AND status='skipped' AND reason LIKE '%max_order%'"
        assert h.rows(refused, FAT)[0][0] == 1
        # elsewhere the follower holds exactly what the engine believes the leader holds (1:1): never more
        believed = {s: q for s, q in h.engine.builder.positions.items() if q and s in INSTRUMENTS and s != FAT}
        assert {s: p.qty for s, p in acct.positions.items() if p.qty} == believed
        # and the engine still copies a normal trade
        before = h.pos("a", "ES")
        h.buy("ES", 1)
        await h.settle()
        assert h.pos("a", "ES") == before + 1
