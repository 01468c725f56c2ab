"""R|Protocol on the wire: the protobuf codec against hand-computed bytes and the field numbers of
Rithmic's .proto files, the framing, contracts and options, and the simulator's plants driven by a
bare client (no adapter code in between)."""

from __future__ import annotations

import re
import struct

import pytest

from adapters.rithmic import contracts, proto
from adapters.rithmic.contracts import Contract, ContractError
from adapters.rithmic.enums import (
    Duration,
    ExchangeNotify,
    InfraType,
    OrderNotify,
    OrderPlacement,
    PriceType,
    TransactionType,
)
from adapters.rithmic.messages import (
    TEMPLATES,
    ForcedLogout,
    Reject,
    RequestAccountList,
    RequestHeartbeat,
    RequestLoginInfo,
    RequestLogout,
    RequestRithmicSystemInfo,
    RequestSubscribeForOrderUpdates,
    RequestTradeRoutes,
    ResponseAccountList,
    ResponseHeartbeat,
    ResponseLogin,
    ResponseRithmicSystemInfo,
    ResponseSubscribeForOrderUpdates,
    ResponseTradeRoutes,
)
from adapters.rithmic.options import TEST_GATEWAY, RithmicOptions, gateway_of, parse_options
from adapters.rithmic.order_messages import (
    ExchangeOrderNotification,
    RequestCancelOrder,
    RequestNewOrder,
    RequestReplayExecutions,
    RequestShowOrders,
    ResponseCancelOrder,
    ResponseNewOrder,
    ResponseReplayExecutions,
    ResponseShowOrders,
    RithmicOrderNotification,
)
from adapters.rithmic.orders import PRICE_TYPE, new_order_fields, wire_prices
from adapters.rithmic.proto import MalformedFrame, Message
from copytui.config import AccountConfig
from copytui.models import OrderType, Side
from tests.adapters.rithmic_support import PASSWORD, USER, RawClient, filled_message, order, simulator

# ----------------------------------------------------------------------------- the codec


def _key(number: int, wire: int) -> bytes:
    """A field's tag written out by hand: (number << 3 | wire type) as a little-endian base-128 varint."""
    value, out = number << 3 | wire, bytearray()
    while True:
        out.append(value & 0x7F | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def test_template_id_and_strings_encode_as_protobuf_does() -> None:
    # template_id is field 154467, a varint: tag 0x98 0xb6 0x4b, then the value
    assert proto.encode(RequestLogout()) == b"\x98\xb6\x4b\x0c"
    assert _key(154467, 0) == b"\x98\xb6\x4b"
    body = proto.encode(RequestLogout(user_msg=["a", "bc"]))
    assert body == _key(132760, 2) + b"\x01a" + _key(132760, 2) + b"\x02bc" + b"\x98\xb6\x4b\x0c"
    # fields in number order, defaults left out, a double as 8 little-endian bytes
    hb = proto.encode(ResponseHeartbeat(rp_code=["0"], ssboe=1))
    assert hb == _key(132766, 2) + b"\x010" + _key(150100, 0) + b"\x01" + b"\x98\xb6\x4b\x13"
    login = proto.encode(ResponseLogin(heartbeat_interval=60.0))
    assert login == _key(153633, 1) + struct.pack("<d", 60.0) + b"\x98\xb6\x4b\x0b"
    assert proto.frame(RequestLogout()) == b"\x00\x00\x00\x04" + b"\x98\xb6\x4b\x0c"


@pytest.mark.parametrize("cls", sorted(TEMPLATES.values(), key=lambda c: c.TEMPLATE), ids=lambda c: c.__name__)
def test_every_message_round_trips_with_every_field_set(cls: type[Message]) -> None:
    msg = filled_message(cls)
    assert proto.decode(proto.encode(msg), TEMPLATES) == msg


def test_decoding_takes_any_field_order_unknown_fields_and_packed_or_unpacked_bools() -> None:
    unknown = (
        _key(999, 0) + b"\x05" + _key(998, 1) + b"\x00" * 8 + _key(997, 2) + b"\x02hi" + _key(996, 5) + b"\x00" * 4
    )
    tail = b"\x98\xb6\x4b\x11"  # template 17, ResponseRithmicSystemInfo
    unpacked = (
        _key(153628, 2)
        + b"\x04Apex"
        + _key(153649, 0)
        + b"\x00"
        + _key(153628, 2)
        + b"\x02R1"
        + _key(153649, 0)
        + b"\x01"
    )
    packed = _key(153628, 2) + b"\x04Apex" + _key(153628, 2) + b"\x02R1" + _key(153649, 2) + b"\x02\x00\x01"
    for body in (tail + unknown + unpacked, unpacked + unknown + tail, tail + packed):
        msg = proto.decode(body, TEMPLATES)
        assert msg == ResponseRithmicSystemInfo(system_name=["Apex", "R1"], has_aggregated_quotes=[False, True])
    assert proto.decode(b"\x98\xb6\x4b\xe6\x02", TEMPLATES) == 358  # a template this copytui does not read


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"\x98\xb6", "truncated varint"),
        (b"\x98\xb6\x4b\x13" + _key(132766, 2) + b"\x05ab", "runs past the end"),
        (b"\x98\xb6\x4b\x13" + _key(150100, 2) + b"\x01a", "ResponseHeartbeat.ssboe (150100) came with wire type 2"),
        (b"\x98\xb6\x4b\x13" + _key(132766, 2) + b"\x01\xff", "is not UTF-8 text"),
        (_key(132766, 2) + b"\x010", "no template_id"),
        (b"\x98\xb6\x4b\x13" + _key(5, 3), "wire type 3"),
        (b"\xff" * 11, "longer than ten bytes"),
    ],
)
def test_malformed_bodies_are_refused_naming_what(body: bytes, says: str) -> None:
    with pytest.raises(MalformedFrame, match=re.escape(says)):
        proto.decode(body, TEMPLATES)


def test_framing_checks_the_length_prefix() -> None:
    one, two = proto.frame(RequestLogout()), proto.frame(RequestHeartbeat(ssboe=3))
    assert proto.unframe(one + two) == [one[4:], two[4:]]  # two frames in one WebSocket message still read
    for bad in (b"\x00\x00", one[:-1], one + b"\x00", b"\x7f\xff\xff\xff" + one[4:], b"\xff\xff\xff\xff"):
        with pytest.raises(MalformedFrame):
            proto.unframe(bad)


def test_pre_built_parts_join_into_one_valid_message() -> None:
    static = proto.encode_fields(RequestNewOrder, with_template=True, account_id="A1", symbol="ESZ5", exchange="CME")
    mine = proto.encode_fields(RequestNewOrder, user_tag="t1", quantity=2, price=5000.25, price_type=PriceType.LIMIT)
    msg = proto.decode(static + mine, TEMPLATES)
    assert msg == RequestNewOrder(
        user_tag="t1", account_id="A1", symbol="ESZ5", exchange="CME", quantity=2, price=5000.25, price_type=1
    )
    with pytest.raises(TypeError, match="no field"):
        proto.encode_fields(RequestNewOrder, nonsense=1)


@pytest.mark.parametrize(
    ("order_type", "price", "stop"),
    [(OrderType.MARKET, None, None), (OrderType.LIMIT, 5000.25, None), (OrderType.STOP, None, 4990.5),
     (OrderType.STOP_LIMIT, 4990.25, 4990.5)],
)  # fmt: skip
def test_the_order_paths_own_encoder_writes_what_the_generic_one_does(order_type, price, stop) -> None:  # type: ignore[no-untyped-def]
    o = order(
        "ct0123456789abcdefghijklmnopqrst", side=Side.SELL, qty=7, order_type=order_type, price=price, stop_price=stop
    )
    wire_price, trigger = wire_prices(o)
    generic = proto.encode_fields(
        RequestNewOrder, with_template=True, user_msg=["req-1"], user_tag=o.client_order_id, quantity=7,
        price=price or 0.0, trigger_price=stop or 0.0, transaction_type=TransactionType.SELL,
        price_type=PRICE_TYPE[order_type], duration=Duration.DAY,
    )  # fmt: skip
    template = proto.encode_fields(RequestNewOrder, with_template=True)  # the pre-built part's share
    assert proto.decode(template + new_order_fields("req-1", o, wire_price, trigger), TEMPLATES) == proto.decode(
        generic, TEMPLATES
    )


def test_declared_numbers_match_rithmic_proto_files_for_the_order_path() -> None:
    """Spot checks against Rithmic's .proto numbers (all of them: tests/outside/rithmic/check_client.py)."""
    numbers = {f.name: f.number for f in proto.spec_of(RequestNewOrder).fields}
    assert numbers["user_tag"] == 154119 and numbers["account_id"] == 154008 and numbers["quantity"] == 112004
    assert numbers["manual_or_auto"] == 154710 and numbers["trigger_price"] == 149247
    fills = {f.name: f.number for f in proto.spec_of(ExchangeOrderNotification).fields}
    assert (fills["fill_id"], fills["fill_size"], fills["fill_price"], fills["total_fill_size"]) == (
        110311,
        110308,
        110307,
        154111,
    )
    assert (OrderNotify.OPEN, OrderNotify.COMPLETE, ExchangeNotify.FILL, ExchangeNotify.REJECT) == (13, 15, 5, 6)
    assert (TransactionType.BUY, PriceType.STOP_MARKET, OrderPlacement.AUTO) == (1, 4, 2)


# ----------------------------------------------------------------------------- contracts and options


def test_contracts_both_ways() -> None:
    assert contracts.symbol_of("NQU4", "CME") == "NQ"  # the front month Rithmic's ticker plant named in 2024
    assert contracts.symbol_of("MESZ5", "CME") == "MES" and contracts.symbol_of("M2KH26", "CME") == "M2K"
    assert contracts.symbol_of("CLF6", "NYMEX") == "CL" and contracts.symbol_of("MGCG6", "COMEX") == "MGC"
    assert contracts.symbol_of("ESZ5", "CBOT") is None  # the exchange is part of a contract
    assert contracts.symbol_of("6EZ5", "CME") is None and contracts.symbol_of("ESZ5-ESH6", "CME") is None
    assert contracts.front_quarter(2025, 11, "ES") == Contract("ESZ5", "CME")
    assert contracts.front_quarter(2025, 12, "YM") == Contract("YMZ5", "CBOT")
    assert contracts.front_quarter(2025, 1, "GC") == Contract("GCH5", "COMEX")
    assert contracts.parse_overrides("ES=ESZ5, CL=CLF6") == {
        "ES": Contract("ESZ5", "CME"),
        "CL": Contract("CLF6", "NYMEX"),
    }
    for bad, says in (
        ("ES=NQZ5", "'NQZ5' is not a ES futures contract"),
        ("ES", "must be SYMBOL=CONTRACT"),
        ("XX=XXZ5", "known symbol"),
    ):
        with pytest.raises(ContractError, match=says):
            contracts.parse_overrides(bad)


def _cfg(**kw: object) -> AccountConfig:
    return AccountConfig.model_validate({"name": "r1", "broker": "rithmic", "username": "u", **kw})


def test_options_refuse_unknown_keys_naming_the_known_ones() -> None:
    with pytest.raises(
        ValueError, match=r"unknown Rithmic option\(s\) systemName; known: app_name, app_version, ca_file"
    ):
        parse_options(_cfg(options={"systemName": "Apex"}))
    with pytest.raises(ValueError, match="options.contracts: .*ES=NQZ5"):
        parse_options(_cfg(options={"contracts": "ES=NQZ5"}))
    with pytest.raises(ValueError, match="options.order_timeout_s: must be a positive number"):
        parse_options(_cfg(options={"order_timeout_s": 0}))
    assert RithmicOptions().app_name == "copytui"


def test_where_the_gateway_is() -> None:
    assert gateway_of(_cfg(environment="demo"), RithmicOptions()) == (TEST_GATEWAY, "Rithmic Test")
    live = RithmicOptions(system_name="Apex", gateway="gw.example:443")
    assert gateway_of(_cfg(environment="live"), live) == ("wss://gw.example:443", "Apex")
    assert gateway_of(_cfg(environment="sim", host="127.0.0.1", port=9), RithmicOptions()) == (
        "ws://127.0.0.1:9",
        "Rithmic Test",
    )
    with pytest.raises(ValueError, match="live Rithmic needs options.gateway"):
        gateway_of(_cfg(environment="live"), RithmicOptions(system_name="Apex"))
    with pytest.raises(ValueError, match="set options.system_name"):
        gateway_of(_cfg(environment="live"), RithmicOptions(gateway="wss://gw.example:443"))
    with pytest.raises(ValueError, match="needs host and port"):
        gateway_of(_cfg(environment="sim"), RithmicOptions())


# ----------------------------------------------------------------------------- the simulator, by hand


async def test_before_login_only_system_info_is_answered() -> None:
    async with simulator() as sim, RawClient(sim.url) as raw:
        await raw.send(RequestRithmicSystemInfo(user_msg=["s"]))
        info = await raw.recv()
        assert isinstance(info, ResponseRithmicSystemInfo) and info.rp_code == ["0"] and "Apex" in info.system_name
        await raw.send(RequestLoginInfo(user_msg=["early"]))
        reject = await raw.recv()
        assert isinstance(reject, Reject) and reject.user_msg == ["early"] and reject.rp_code[0] != "0"


@pytest.mark.parametrize(
    ("kw", "says"),
    [
        ({"system_name": "Nowhere"}, "system name 'Nowhere' is not offered"),
        ({"password": "wrong"}, "login failed"),
        ({"user": "stranger"}, "login failed"),
        ({"infra": InfraType.HISTORY_PLANT}, "only the ticker, order and PnL plants"),
    ],
)
async def test_refused_logins_say_why(kw: dict[str, object], says: str) -> None:
    async with simulator() as sim, RawClient(sim.url) as raw:
        answer = await raw.login(**{"password": PASSWORD, **kw})  # type: ignore[arg-type]
        assert isinstance(answer, ResponseLogin) and answer.rp_code[0] != "0" and says in answer.rp_code[1]


async def test_order_plant_by_hand_answers_rows_then_the_last_answer() -> None:
    async with simulator() as sim, RawClient(sim.url) as raw:
        login = await raw.login()
        assert isinstance(login, ResponseLogin) and login.rp_code == ["0"] and login.heartbeat_interval > 0
        await raw.send(RequestAccountList(user_msg=["a"]))
        last, rows = await raw.until(ResponseAccountList)
        while isinstance(last, ResponseAccountList) and not last.rp_code:
            rows.append(last)
            last, more = await raw.until(ResponseAccountList)
            rows += more
        assert [r.account_id for r in rows] == ["RSIM-1001", "RSIM-1002"]  # type: ignore[attr-defined]
        assert all(r.rq_handler_rp_code == ["0"] and r.user_msg == ["a"] for r in rows)  # type: ignore[attr-defined]
        await raw.send(RequestTradeRoutes(user_msg=["t"], subscribe_for_updates=True))
        route = await raw.recv()
        assert isinstance(route, ResponseTradeRoutes) and route.trade_route and route.is_default
        while not (isinstance(route, ResponseTradeRoutes) and route.rp_code):
            route = await raw.recv()
        await raw.send(RequestSubscribeForOrderUpdates(user_msg=["s"], account_id="RSIM-1001"))
        assert (await raw.until(ResponseSubscribeForOrderUpdates))[0].rp_code == ["0"]  # type: ignore[attr-defined]
        front = sim.desk.contract("ES")
        await raw.send(
            RequestNewOrder(user_msg=["n"], user_tag="raw1", account_id="RSIM-1001", symbol=front.symbol,
                            exchange="CME", quantity=1, transaction_type=1, price_type=2, duration=1,
                            trade_route="simulator", manual_or_auto=2)
        )  # fmt: skip
        row = await raw.recv()
        assert isinstance(row, ResponseNewOrder) and row.rq_handler_rp_code == ["0"] and row.basket_id
        final = await raw.recv()
        assert isinstance(final, ResponseNewOrder) and final.rp_code == ["0"] and final.user_msg == ["n"]
        kinds = []
        while len(kinds) < 5:
            note = await raw.recv()
            assert isinstance(note, RithmicOrderNotification | ExchangeOrderNotification)
            assert note.user_tag == "raw1" and note.basket_id == row.basket_id and note.account_id == "RSIM-1001"
            kinds.append((type(note).__name__[:7], note.notify_type))
        assert kinds == [("Rithmic", 1), ("Exchang", 1), ("Rithmic", 13), ("Exchang", 5), ("Rithmic", 15)]
        await raw.send(
            RequestReplayExecutions(user_msg=["r"], account_id="RSIM-1001", start_index=0, finish_index=2**31 - 1)
        )
        done, replayed = await raw.until(ResponseReplayExecutions)
        assert done.rp_code == ["0"]  # type: ignore[attr-defined]
        [fill] = replayed
        assert (
            isinstance(fill, ExchangeOrderNotification)
            and fill.is_snapshot
            and fill.fill_id
            and fill.user_tag == "raw1"
        )
        await raw.send(RequestShowOrders(user_msg=["o"], account_id="RSIM-1001"))
        done, open_rows = await raw.until(ResponseShowOrders)
        assert open_rows == [] and done.rp_code == ["0"]  # type: ignore[attr-defined]
        await raw.send(RequestCancelOrder(user_msg=["c"], account_id="RSIM-1001", basket_id=row.basket_id))
        refused = await raw.recv()
        assert (
            isinstance(refused, ResponseCancelOrder)
            and refused.rp_code[0] != "0"
            and "not working" in refused.rp_code[1]
        )
        await raw.send(RequestShowOrders(user_msg=["x"], account_id="RSIM-1002-NOT"))
        assert (await raw.until(ResponseShowOrders))[0].rp_code[0] == "5"  # type: ignore[attr-defined]
    audit = [(e.action, e.client_order_id, e.outcome) for e in sim.audit.entries]
    assert audit == [("new_order", "raw1", "accepted"), ("cancel_order", "raw1", "refused")]
    request = sim.audit.entries[0].request
    assert request is not None and request["manual_or_auto"] == 2 and "password" not in str(sim.audit.as_json())


async def test_a_login_past_the_session_limit_forces_the_oldest_out() -> None:
    async with simulator(max_sessions=1) as sim, RawClient(sim.url) as first, RawClient(sim.url) as second:
        assert (await first.login()).rp_code == ["0"]  # type: ignore[attr-defined]
        assert (await second.login()).rp_code == ["0"]  # type: ignore[attr-defined]
        assert isinstance(await first.recv(), ForcedLogout)
        await second.send(RequestHeartbeat(user_msg=["h"]))
        assert isinstance(await second.recv(), ResponseHeartbeat)
        assert [c.user for c in sim.sessions(InfraType.ORDER_PLANT)] == [USER]
