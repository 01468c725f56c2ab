"""The bridge protocol at the wire: the documented lines of each message decode to what they say,
bad lines fail loudly, copytui's messages stay flat (what the EA's small JSON reader can read),
the proof is HMAC-SHA256 as any tool computes it, and each side is driven by hand-written lines
(no code of the other side): a raw terminal against the adapter's bridge, a raw bridge against
the stand-in EA."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from adapters.mt import retcodes
from adapters.mt.protocol import (
    VERSION,
    Ack,
    Cancel,
    Challenge,
    Close,
    DealEvent,
    DealRow,
    Deals,
    Find,
    Flatten,
    Heartbeat,
    Hello,
    Modify,
    OrderEvent,
    OrderRow,
    Orders,
    Place,
    PositionRow,
    Positions,
    Refused,
    Reply,
    SlTp,
    SymbolInfo,
    Welcome,
)
from adapters.mt.sim_book import TerminalBook
from adapters.mt.sim_terminal import StandIn
from adapters.mt.symbols import LotProblem, Route, SymbolBook, SymbolMapError, parse_routes
from adapters.mt.wire import SeqCheck, WireError, decode_copytui, decode_terminal, encode, magic_of, proof
from adapters.paper.exchange import PaperExchange
from copytui.models import EventKind, OrderStatus, OrderType, Side
from tests.adapters.mt_support import TOKEN, make_adapter, order, until

NONCE = "00112233445566778899aabbccddeeff"
SYMBOL = (
    '{"name":"US500","volume_min":0.1,"volume_max":50,"volume_step":0.1,"tick_size":0.25,"digits":2,"contract_size":1}'
)

# ------------------------------------------------------------------ the documented lines
TERMINAL_LINES = {
    "hello": (
        '{"seq":1,"type":"hello","v":1,"platform":"mt5","build":4755,"ea":"copytui-bridge 1.0","login":5001,'
        '"server":"Broker-Demo","company":"Broker Ltd","currency":"USD","mode":"netting","trade_allowed":true,'
        '"time_ms":1767225600000,"last_deal":9000,"last_deal_ms":1767225500000,'
        '"proof":"' + "ab" * 32 + '","symbols":[' + SYMBOL + "]}"
    ),
    "reply": '{"seq":2,"type":"reply","re":3,"ok":true,"retcode":10009,"message":"done","order":7001,"orders":[7001]}',
    "order": (
        '{"seq":3,"type":"order","replay":false,"order":{"ticket":7001,"symbol":"US500","side":"buy","kind":"limit",'
        '"volume":0.2,"filled":0,"price":4990.5,"stop":0,"sl":0,"tp":0,"avg_price":0,"magic":12,"comment":"ctabc",'
        '"position":0,"state":"placed","time_ms":1767225600100,"reason":""}}'
    ),
    "deal": (
        '{"seq":4,"type":"deal","replay":true,"deal":{"ticket":9001,"order":7001,"position":7001,"symbol":"US500",'
        '"side":"buy","entry":"in","volume":0.1,"price":4990.5,"time_ms":1767225600200,"magic":12,"comment":"ctabc",'
        '"order_volume":0.2,"order_filled":0.1,"net":0.1,"net_price":4990.5}}'
    ),
    "hb": '{"seq":5,"type":"hb"}',
}

COPYTUI_LINES = {
    "challenge": '{"seq":1,"type":"challenge","v":1,"nonce":"' + NONCE + '"}',
    "welcome": '{"seq":2,"type":"welcome","session":"0123456789abcdef","heartbeat_s":5.0}',
    "refused": '{"seq":2,"type":"refused","reason":"wrong token for login 5001"}',
    "ack": '{"seq":3,"type":"ack","upto":4}',
    "hb": '{"seq":4,"type":"hb"}',
    "place": (
        '{"seq":5,"type":"req","op":"place","symbol":"US500","side":"sell","kind":"market","volume":0.3,"price":0,'
        '"stop":0,"sl":0,"tp":0,"comment":"ct0a1b2c","magic":123456,"deviation":20,"reduce_first":true}'
    ),
    "modify": '{"seq":6,"type":"req","op":"modify","ticket":7001,"price":4980.25,"stop":0,"sl":0,"tp":0}',
    "cancel": '{"seq":7,"type":"req","op":"cancel","ticket":7001}',
    "close": '{"seq":8,"type":"req","op":"close","position":7001,"volume":0.1,"comment":"","magic":0,"deviation":20}',
    "sltp": '{"seq":9,"type":"req","op":"sltp","position":7001,"sl":4900,"tp":5100}',
    "positions": '{"seq":10,"type":"req","op":"positions","symbol":""}',
    "orders": '{"seq":11,"type":"req","op":"orders","symbol":"US500"}',
    "deals": '{"seq":12,"type":"req","op":"deals","after_ms":1767225600000,"after_ticket":9001,"limit":500}',
    "find": '{"seq":13,"type":"req","op":"find","comment":"ct0a1b2c","magic":123456,"since_ms":0}',
    "flatten": '{"seq":14,"type":"req","op":"flatten","symbol":"","deviation":20}',
}


def test_the_terminals_documented_lines_decode() -> None:
    hello = decode_terminal(TERMINAL_LINES["hello"].encode())
    assert isinstance(hello, Hello) and (hello.login, hello.mode, hello.symbols[0].volume_step) == (
        5001,
        "netting",
        0.1,
    )
    reply = decode_terminal(TERMINAL_LINES["reply"].encode())
    assert isinstance(reply, Reply) and (reply.re, reply.retcode, reply.orders) == (3, retcodes.DONE, [7001])
    ev = decode_terminal(TERMINAL_LINES["order"].encode())
    assert isinstance(ev, OrderEvent) and (ev.order.kind, ev.order.price, ev.order.state) == ("limit", 4990.5, "placed")
    deal = decode_terminal(TERMINAL_LINES["deal"].encode())
    assert isinstance(deal, DealEvent) and deal.replay and (deal.deal.order_filled, deal.deal.net) == (0.1, 0.1)
    assert isinstance(decode_terminal(TERMINAL_LINES["hb"].encode()), Heartbeat)


@pytest.mark.parametrize(
    ("name", "cls"),
    [("challenge", Challenge), ("welcome", Welcome), ("refused", Refused), ("ack", Ack), ("hb", Heartbeat),
     ("place", Place), ("modify", Modify), ("cancel", Cancel), ("close", Close), ("sltp", SlTp),
     ("positions", Positions), ("orders", Orders), ("deals", Deals), ("find", Find), ("flatten", Flatten)],
)  # fmt: skip
def test_copytuis_documented_lines_decode_and_are_flat(name: str, cls: type) -> None:
    line = COPYTUI_LINES[name]
    message = decode_copytui(line.encode())
    assert type(message) is cls
    written = json.loads(encode(message))
    assert written == json.loads(line)  # every field written out, as documented
    assert not [k for k, v in written.items() if isinstance(v, dict | list)]  # the EA reads flat objects only


@pytest.mark.parametrize(
    ("line", "says"),
    [
        (b"not json", "not JSON"),
        (b"[1,2]", "not a JSON object but list"),
        (b'{"seq":1,"type":"bogus"}', "bogus refused"),
        (b'{"seq":2,"type":"hb","extra":1}', "extra: Extra inputs are not permitted"),
        (TERMINAL_LINES["reply"].replace('"ok":true', '"ok":"maybe"').encode(), "reply refused: ok"),
        (TERMINAL_LINES["deal"].replace('"volume":0.1', '"volume":-0.1').encode(), "deal refused: deal.volume"),
        (TERMINAL_LINES["hello"].replace("ab" * 32, "secret").encode(), "hello refused: proof"),
        (b'{"seq":1,"type":"hb","x":"' + b"y" * (1 << 20) + b'"}', "longer than"),
    ],
)
def test_bad_terminal_lines_fail_loudly(line: bytes, says: str) -> None:
    with pytest.raises(WireError, match=says):
        decode_terminal(line)


def test_a_bad_line_with_a_readable_seq_keeps_it() -> None:
    with pytest.raises(WireError) as err:
        decode_terminal(b'{"seq":9,"type":"deal","garbled":true}')
    assert err.value.seq == 9


def test_the_proof_is_hmac_sha256_of_nonce_and_login() -> None:
    # as openssl says it: printf '00112233445566778899aabbccddeeff:5001' |
    #                     openssl dgst -sha256 -hmac 'correct horse battery staple'
    expected = "dfb9fd52d89648fd216d97bed34221df4872b755f0d639542e37dd064177e84e"
    assert proof("correct horse battery staple", NONCE, 5001) == expected
    assert proof("correct horse battery staple", NONCE, 5002) != expected


def test_magic_numbers_fit_mt4_and_name_one_client_id() -> None:
    magics = {magic_of(f"ct{i:06d}") for i in range(5000)}
    assert len(magics) == 5000 and all(0 < m < 2**31 for m in magics)
    assert magic_of("ctabc") == magic_of("ctabc")


def test_sequence_numbers_tell_gaps_and_repeats() -> None:
    check = SeqCheck()
    assert check.take(1) is None and check.take(2) is None
    assert check.take(5) == "seq 3..4 never arrived"
    assert check.take(5) == "seq 5 repeats (last was 5)"
    assert check.take(7) == "seq 6 never arrived" and check.take(8) is None


def test_retcodes_sort_into_done_refused_requoted_unknown() -> None:
    outcome = retcodes.outcome
    assert {outcome(c) for c in (10008, 10009, 10010, 10025)} == {retcodes.Outcome.DONE}
    assert {outcome(c) for c in (10004, 10020, 10021)} == {retcodes.Outcome.REQUOTED}
    assert {outcome(c) for c in (10011, 10012, 10031)} == {retcodes.Outcome.UNKNOWN}
    assert outcome(10019) is retcodes.Outcome.REFUSED and outcome(99999) is retcodes.Outcome.REFUSED
    assert retcodes.describe(10027, "AutoTrading disabled") == (
        "MetaTrader 10027 CLIENT_DISABLES_AT: AutoTrading disabled (turn on Algo Trading in the terminal's toolbar "
        "and allow it in the EA's properties)"
    )


# ------------------------------------------------------------------ the symbol map
def test_the_symbol_map_reads_and_refuses_clearly() -> None:
    assert parse_routes("ES=US500:0.1, NQ=USTEC") == {
        "ES": Route("ES", "US500", 0.1),
        "NQ": Route("NQ", "USTEC", 1.0),
    }
    for text, says in [
        ("ES", "is not SYMBOL=MT_SYMBOL"),
        ("ES=US500, ES=SPX", "ES is mapped twice"),
        ("ES=US500, NQ=US500", "US500 is the terminal symbol of two"),
        ("ES=US 500", "is not a MetaTrader symbol name"),
        ("ES=US500:-1", "must be a positive number"),
    ]:
        with pytest.raises(SymbolMapError, match=says):
            parse_routes(text)


def test_lots_and_contracts_convert_exactly_or_not_at_all() -> None:
    book = SymbolBook(parse_routes("ES=US500:0.1"))
    hello = decode_terminal(TERMINAL_LINES["hello"].encode())
    assert isinstance(hello, Hello)
    assert book.learn(hello.symbols) == []
    route, lots = book.lots("ES", 3)
    assert (route.mt, lots) == ("US500", 0.3)
    assert book.contracts(route, 0.3) == 3 and book.contracts(route, 0.30000000000000004) == 3
    with pytest.raises(LotProblem, match="0.05 lots of US500 is not a whole number of ES contracts"):
        book.contracts(route, 0.05)
    assert book.of_terminal("US500") == route and book.of_terminal("ES") is None  # ES trades as US500 here
    assert book.of_terminal("NQ") == Route("NQ", "NQ", 1.0) and book.of_terminal("EURUSD") is None
    assert book.price(route, 4990.3) == 4990.25


def test_an_untradable_market_watch_symbol_is_refused_only_when_mapped() -> None:
    hello = decode_terminal(TERMINAL_LINES["hello"].replace('"volume_step":0.1', '"volume_step":0').encode())
    assert isinstance(hello, Hello)
    book = SymbolBook(parse_routes("ES=US500:0.1"))
    assert book.learn(hello.symbols) == ["US500 (for ES) is not tradable on this account (no volume step)"]
    with pytest.raises(LotProblem, match="US500 is not tradable on this account"):
        book.lots("ES", 1)
    assert SymbolBook({}).learn(hello.symbols) == []  # not mapped: nobody cares


# ------------------------------------------------------------------ a hand-written terminal against the bridge
class RawTerminal:
    """A terminal whose every line is written out here: what any EA that speaks the protocol sends."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.seq = 0

    async def read(self) -> dict[str, Any]:
        async with asyncio.timeout(10):  # a hang guard, not a timing assertion
            line = await self.reader.readline()
        assert line, "the bridge closed the connection"
        return dict(json.loads(line))

    async def read_until(self, kind: str) -> dict[str, Any]:
        while (got := await self.read())["type"] != kind:
            pass
        return got

    def write(self, text: str) -> None:
        self.seq += 1
        self.writer.write(text.replace("SEQ", str(self.seq)).encode() + b"\n")


def hello_line(nonce: str, login: int = 5001, token: str = TOKEN) -> str:
    return (
        TERMINAL_LINES["hello"]
        .replace('"seq":1', '"seq":SEQ')
        .replace('"login":5001', f'"login":{login}')
        .replace("ab" * 32, proof(token, nonce, login))
        .replace('"symbols":[' + SYMBOL + "]", '"symbols":[' + SYMBOL.replace("US500", "ES") + "]")
    )


async def test_a_hand_written_terminal_is_welcomed_asked_and_acknowledged() -> None:
    port = _free()
    adapter = make_adapter(port, "mt1", 5001)
    connecting = asyncio.create_task(adapter.connect())
    reader, writer = await _dial(port)
    raw = RawTerminal(reader, writer)
    try:
        challenge = await raw.read()
        assert (challenge["seq"], challenge["type"], challenge["v"]) == (1, "challenge", VERSION)
        raw.write(hello_line(challenge["nonce"]))
        welcome = await raw.read()
        assert (welcome["seq"], welcome["type"], welcome["heartbeat_s"]) == (2, "welcome", 5.0)
        baseline = await raw.read()
        assert (baseline["type"], baseline["op"]) == ("req", "orders")
        raw.write(f'{{"seq":SEQ,"type":"reply","re":{baseline["seq"]},"ok":true,"retcode":10009,"pending":[]}}')
        await connecting
        assert adapter.health.connected and adapter.account_key == "mt-Broker-Demo-5001"

        placing = asyncio.create_task(adapter.place(order("ctraw1", side=Side.SELL, qty=2)))
        place = await raw.read_until("req")
        assert {k: place[k] for k in ("op", "symbol", "side", "kind", "volume", "comment", "reduce_first")} == {
            "op": "place", "symbol": "ES", "side": "sell", "kind": "market", "volume": 2.0, "comment": "ctraw1",
            "reduce_first": False,
        }  # fmt: skip
        assert place["magic"] == magic_of("ctraw1")
        raw.write(
            f'{{"seq":SEQ,"type":"reply","re":{place["seq"]},"ok":true,"retcode":10009,"order":7001,"orders":[7001]}}'
        )
        ack = await placing
        assert (ack.status, ack.broker_order_id) == (OrderStatus.WORKING, "7001")

        events = []
        reading = asyncio.create_task(_read_into(adapter, events))
        deal = (
            '{"seq":SEQ,"type":"deal","replay":false,"deal":{"ticket":9001,"order":7001,"position":7001,"symbol":"ES",'
            '"side":"sell","entry":"in","volume":2,"price":4990.5,"time_ms":1767225600200,"magic":12,'
            '"comment":"ctraw1","order_volume":2,"order_filled":2,"net":-2,"net_price":4990.5}}'
        )
        raw.write(deal)
        ack_line = await raw.read_until("ack")
        assert ack_line["upto"] == raw.seq
        await until("the fill", lambda: any(e.kind is EventKind.FILL for e in events))
        fill = next(e for e in events if e.kind is EventKind.FILL)
        assert (fill.order_id, fill.client_order_id, fill.fill_qty, fill.cum_qty, fill.side) == (
            "7001", "ctraw1", 2, 2, Side.SELL,
        )  # fmt: skip
        await until("the position", lambda: any(e.kind is EventKind.POSITION and e.position == -2 for e in events))
        raw.write('{"seq":SEQ,"type":"hb"}')
        raw.seq += 3  # three lines lost on the way: counted, and what they said is read back
        raw.write('{"seq":SEQ,"type":"hb"}')
        resync = await raw.read_until("req")
        assert (resync["op"], resync["after_ms"]) == ("deals", 1767225600200 - 2000)  # from its last deal
        assert adapter.health.dropped == 1 and "never arrived" in adapter.health.last_dropped
        reading.cancel()
    finally:
        writer.close()
        await adapter.disconnect()


async def test_a_terminal_that_says_no_hello_or_a_wrong_version_is_dropped() -> None:
    port = _free()
    adapter = make_adapter(port, "mt1", 5001)
    connecting = asyncio.create_task(adapter.connect())
    reader, writer = await _dial(port)
    raw = RawTerminal(reader, writer)
    try:
        challenge = await raw.read()
        raw.write(hello_line(challenge["nonce"]).replace('"v":1', '"v":2'))
        refused = await raw.read()
        assert refused["type"] == "refused" and "bridge protocol 2 is not spoken here" in refused["reason"]
        assert await reader.readline() == b""  # and the bridge hung up
        await until("the account told", lambda: adapter.health.dropped == 1)
    finally:
        writer.close()
        connecting.cancel()
        await adapter.disconnect()


async def _read_into(adapter: Any, events: list[Any]) -> None:
    async for ev in adapter.subscribe():
        events.append(ev)


def _free() -> int:
    from adapters.mt.simulator import free_port

    return free_port()


async def _dial(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    async def attempt() -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            return await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return None

    got: tuple[asyncio.StreamReader, asyncio.StreamWriter] = await until("the bridge to listen", attempt)
    return got


# ------------------------------------------------------------------ a hand-written bridge against the stand-in
async def test_the_stand_in_speaks_the_documented_lines_to_a_hand_written_bridge() -> None:
    exchange = PaperExchange(seed=3)
    lines: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[asyncio.StreamWriter] = []

    async def bridge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sent.append(writer)
        writer.write(COPYTUI_LINES["challenge"].encode() + b"\n")
        while line := await reader.readline():
            await lines.put(json.loads(line))

    server = await asyncio.start_server(bridge, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    book = TerminalBook(exchange, "5001", 5001, hedging=True)
    terminal = StandIn(book, port, TOKEN)
    running = asyncio.create_task(terminal.run())

    async def next_line() -> dict[str, Any]:
        async with asyncio.timeout(10):  # a hang guard
            return await lines.get()

    try:
        hello = await next_line()
        assert (hello["seq"], hello["type"], hello["v"], hello["login"], hello["mode"]) == (
            1,
            "hello",
            1,
            5001,
            "hedging",
        )
        assert hello["proof"] == proof(TOKEN, NONCE, 5001) and TOKEN not in json.dumps(hello)
        assert {s["name"] for s in hello["symbols"]} >= {"ES", "NQ"}
        writer = sent[0]
        writer.write(COPYTUI_LINES["welcome"].encode() + b"\n")
        place = COPYTUI_LINES["place"].replace('"seq":5', '"seq":3').replace('"symbol":"US500"', '"symbol":"ES"')
        writer.write(
            place.replace('"volume":0.3', '"volume":2').replace('"reduce_first":true', '"reduce_first":false').encode()
            + b"\n"
        )
        reply = await next_line()
        assert (reply["seq"], reply["type"], reply["re"], reply["ok"], reply["retcode"]) == (2, "reply", 3, True, 10009)
        first, second, third = await next_line(), await next_line(), await next_line()  # after the reply, as MT5 does
        assert [first["type"], second["type"], third["type"]] == ["order", "deal", "order"]
        assert (first["order"]["state"], second["deal"]["entry"], third["order"]["state"]) == ("placed", "in", "filled")
        assert second["deal"]["comment"] == "ct0a1b2c" and second["deal"]["net"] == -2
        assert [first["seq"], second["seq"], third["seq"]] == [3, 4, 5]
        writer.write(b'{"seq":4,"type":"ack","upto":4}\n')
        await until("acknowledged events dropped", lambda: len(terminal.outbox) == 1)
        writer.close()  # the bridge goes away: the EA redials, and sends what was not acknowledged again
        hello2 = await next_line()
        assert hello2["type"] == "hello" and hello2["seq"] == 1
        sent[1].write(COPYTUI_LINES["welcome"].encode() + b"\n")
        replayed = await next_line()
        assert (replayed["seq"], replayed["type"], replayed["replay"], replayed["order"]["state"]) == (
            2,
            "order",
            True,
            "filled",
        )
        sent[1].write(COPYTUI_LINES["refused"].encode() + b"\n")
        await until("the refusal kept", lambda: terminal.refusals == ["wrong token for login 5001"])
    finally:
        terminal.stop()
        running.cancel()
        server.close()
        book.detach()


def test_kinds_and_states_cover_metatraders_order_types() -> None:
    from adapters.mt.intake import ORDER_TYPES

    # MetaTrader keeps no trailing stop on the server (the terminal moves the stop): the EA reports
    # a trailing stop as a stop and its moves as modifications, which copytui follows
    assert set(ORDER_TYPES.values()) == set(OrderType) - {OrderType.TRAILING_STOP}


# ------------------------------------------------------------------ the EAs' source against the protocol
MQL = Path(__file__).resolve().parents[2] / "adapters" / "mt" / "mql"


def _body(source: str, signature: str) -> str:
    start = source.index(signature)
    return source[start : source.index("\n  }\n", start)]


def _keys(text: str) -> set[str]:
    return set(re.findall(r'\\"([a-z_]+)\\":', text))


@pytest.mark.parametrize("ea", ["CopytuiBridge.mq5", "CopytuiBridge.mq4"])
def test_the_eas_write_the_protocols_fields_and_answer_its_ops(ea: str) -> None:
    """The EAs cannot be compiled here: this reads their source for what they write, so a field
    renamed on one side only fails here rather than on a trader's terminal."""
    source = (MQL / ea).read_text()
    shared = (MQL / "CopytuiBridge.mqh").read_text()
    ops = set(re.findall(r'if\(op == "(\w+)"\)', source))
    assert ops == {"place", "modify", "cancel", "close", "sltp", "flatten", "positions", "orders", "deals", "find"}
    order = _body(source, "string OrderJson(")
    assert _keys(order) == set(OrderRow.model_fields)
    deal = _body(source, "string DealJson(") + (_body(source, "string NetFields(") if ea.endswith("4") else "")
    assert _keys(deal) | {"net", "net_price"} == set(DealRow.model_fields)
    position = _body(source, "string PositionJson(" if ea.endswith("5") else "string DoPositions(")
    assert _keys(position) - {"positions"} == set(PositionRow.model_fields)  # MT4 writes the rows in place
    hello = _body(shared, "void SendHello(") + _body(source, "string HelloAccount(")
    assert _keys(hello) - set(SymbolInfo.model_fields) == set(Hello.model_fields) - {"seq", "symbols"} | {"symbols"}
    assert set(SymbolInfo.model_fields) <= _keys(hello)
    for kind in ('\\"type\\":\\"deal\\",\\"replay\\":false', '\\"type\\":\\"order\\",\\"replay\\":false'):
        assert kind in source  # the events, as the stand-in sends them
    reply = _body(shared, "string Result(")
    assert _keys(reply) == {"ok", "retcode", "message"}
    assert {"order", "orders"} <= _keys(_body(source, "string Made("))
