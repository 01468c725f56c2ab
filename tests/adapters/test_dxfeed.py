"""The dxLink market-data source against the dxLink simulator over loopback (issue 20): what the
copy path reads from ``quote()`` / ``stale()`` and what the desk reads from ``health()``."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest

from adapters.base import AuthFailed, HealthState
from adapters.dxfeed import wire
from adapters.dxfeed.client import utc_today
from adapters.dxfeed.symbols import dx_symbol
from tests.adapters.dxfeed_support import TOKEN, connected, make_source, messages_of, running_sim, wait_until


def es_symbol(sim) -> str:
    return next(symbol for symbol, root in sim.symbols.items() if root == "ES")


async def test_quotes_arrive_field_for_field_with_the_exchange_prices():
    async with running_sim() as sim, connected(sim, "ES", "CL") as source:
        sim.exchange.set_price("ES", 5012.25)
        sim.exchange.set_price("CL", 77.43)
        await wait_until(lambda: (q := source.quote("ES")) and q.bid == 5012.25 and q.last == 5012.25, "ES quote")
        await wait_until(lambda: (q := source.quote("CL")) and q.bid == 77.43 and q.last == 77.43, "CL quote")
        for root in ("ES", "CL"):
            quote, symbol = source.quote(root), source.symbols.to_dx(root)
            sent = sim.tape.sent["Quote", symbol]
            assert symbol in sim.symbols and sim.symbols[symbol] == root
            assert (quote.bid, quote.ask) == sim.exchange.quote(root)
            assert (quote.bid, quote.ask, quote.bid_size, quote.ask_size) == (
                sent["bidPrice"], sent["askPrice"], sent["bidSize"], sent["askSize"],
            )  # fmt: skip
            assert quote.last == sim.tape.sent["Trade", symbol]["price"] == sim.exchange.price(root)
            assert quote.event_ms == sim.tape.sent["Trade", symbol]["time"]
            assert not source.stale(root, time.monotonic_ns())
        health = source.health()
        assert health.state is HealthState.CONNECTED and sim.url in health.detail
        setup = messages_of(sim, "FEED_SETUP")[0]
        assert setup["acceptDataFormat"] == "COMPACT"
        assert setup["acceptEventFields"] == {"Quote": list(wire.QUOTE_FIELDS), "Trade": list(wire.TRADE_FIELDS)}


async def test_quote_is_the_latest_and_the_sequence_is_the_sdk_one():
    async with running_sim() as sim, connected(sim, "NQ") as source:
        for price in (17510.0, 17498.75, 17503.5):
            sim.exchange.set_price("NQ", price)
            await wait_until(lambda p=price: (q := source.quote("NQ")) and q.bid == p, f"NQ bid {price}")
        assert source.quote("NQ").ask == 17503.75
        kinds = [m["type"] for _, m in sim.received if m["type"] != "KEEPALIVE"]
        assert kinds == ["SETUP", "AUTH", "CHANNEL_REQUEST", "FEED_SETUP", "FEED_SUBSCRIPTION"]
        request = messages_of(sim, "CHANNEL_REQUEST")[0]
        assert request == {
            "type": "CHANNEL_REQUEST",
            "channel": 1,
            "service": "FEED",
            "parameters": {"contract": "AUTO"},
        }
        assert messages_of(sim, "AUTH")[0]["token"] == "***"  # the simulator keeps no token either


async def test_subscribe_again_adds_symbols_and_a_micro_may_be_quoted_by_its_full_size():
    async with running_sim() as sim:
        es = es_symbol(sim)
        async with connected(sim, "ES", symbols={"MES": es}) as source:
            await wait_until(lambda: source.quote("ES"), "ES quote")
            await source.subscribe(["MES", "GC"])
            sim.exchange.set_price("ES", 4990.5)
            await wait_until(lambda: (q := source.quote("MES")) and q.bid == 4990.5, "MES quoted from ES")
            await wait_until(lambda: source.quote("GC"), "GC quote")
            assert source.quote("ES").bid == 4990.5
            assert source.symbols.to_dx("MES") == es
            with pytest.raises(ValueError, match="no dxFeed symbol for 'ZB'"):
                await source.subscribe(["ZB"])


async def test_a_stale_feed_is_shown_stale_and_never_passed_off_as_live():
    async with running_sim() as sim, connected(sim, "ES", stale_after_ms=300) as source:
        await wait_until(lambda: source.quote("ES"), "ES quote")
        before = source.quote("ES")
        sim.stale = True
        sim.exchange.set_price("ES", before.bid + 10)
        await wait_until(lambda: source.stale("ES", time.monotonic_ns()), "ES stale")
        assert source.quote("ES").bid == before.bid  # the old quote is kept, flagged stale
        assert "old" in source.staleness("ES", time.monotonic_ns())
        assert source.health().state is HealthState.CONNECTED  # the socket and its keepalives go on
        sim.stale = False
        await wait_until(lambda: source.quote("ES").bid == before.bid + 10, "fresh ES quote")
        assert not source.stale("ES", time.monotonic_ns())
        assert source.stale("NQ", time.monotonic_ns())
        assert source.staleness("NQ", time.monotonic_ns()) == "no quote of NQ yet"


async def test_a_dropped_socket_reconnects_and_resubscribes():
    async with running_sim() as sim, connected(sim, "ES", "CL") as source:
        await wait_until(lambda: source.quote("ES") and source.quote("CL"), "quotes")
        assert sim.drop_sockets() == 1
        await wait_until(lambda: source.health().state is HealthState.RECONNECTING, "feed reported lost")
        now = time.monotonic_ns()
        assert source.stale("ES", now) and "reconnecting" in source.staleness("ES", now)
        await wait_until(lambda: source.health().connected, "feed back")
        assert source.health().reconnects == 1
        sim.exchange.set_price("ES", 5050.0)
        await wait_until(lambda: source.quote("ES").bid == 5050.0, "ES quote after the reconnect")
        second = max(n for n, _ in sim.received)
        added = {item["symbol"] for m in messages_of(sim, "FEED_SUBSCRIPTION", second) for item in m["add"]}
        assert added == {source.symbols.to_dx("ES"), source.symbols.to_dx("CL")}


async def test_a_refused_token_stops_with_a_clear_note_and_no_retry(caplog):
    caplog.set_level(logging.DEBUG)
    async with running_sim(unauthorised=True) as sim:
        source = make_source(sim.url, reconnect_delay_s=0.05)
        with pytest.raises(AuthFailed, match="refused the token") as refused:
            await source.connect()
        health = source.health()
        assert health.state is HealthState.AUTH_FAILED
        assert "dx" in health.detail and "token" in health.detail
        await source.subscribe(["ES"])
        await wait_until(lambda: sim.refusals, "the refusal")
        await asyncio.sleep(0.5)  # ten reconnect delays: a retry would have come
        assert len(messages_of(sim, "AUTH")) == 1
        for text in (health.detail, str(refused.value), caplog.text, *sim.refusals):
            assert TOKEN not in text
        await source.disconnect()


async def test_a_wrong_or_missing_token_is_refused_without_a_retry_storm():
    async with running_sim() as sim:
        wrong = make_source(sim.url, token="not-the-token", reconnect_delay_s=0.05)
        with pytest.raises(AuthFailed):
            await wrong.connect()
        assert wrong.health().state is HealthState.AUTH_FAILED
        missing = make_source(sim.url, token=None)
        with pytest.raises(AuthFailed, match="no dxLink token stored for market data dx"):
            await missing.connect()
        assert len(messages_of(sim, "SETUP")) == 1  # the missing token never dialled


async def test_a_malformed_feed_data_frame_is_reported_and_the_feed_goes_on():
    async with running_sim() as sim, connected(sim, "ES") as source:
        symbol = source.symbols.to_dx("ES")
        await wait_until(lambda: source.quote("ES"), "ES quote")
        good = source.quote("ES")
        await sim.inject({"type": "FEED_DATA", "channel": 1, "data": ["Quote", [symbol, 0, 1.0]]})
        await wait_until(lambda: source.health().dropped == 1, "the short frame refused")
        assert "not a multiple of its 8 fields" in source.health().last_dropped
        await sim.inject("{not json")
        await wait_until(lambda: source.health().dropped == 2, "the non-JSON frame refused")
        bad_price = [symbol, 0, "abc", 1.0, 1, 1, 0, 0]
        await sim.inject({"type": "FEED_DATA", "channel": 1, "data": ["Quote", bad_price]})
        await wait_until(lambda: source.health().dropped == 3, "the bad price refused")
        assert "bidPrice" in source.health().last_dropped and "not a number" in source.health().last_dropped
        assert source.quote("ES") == good  # nothing of a bad frame was used
        assert source.health().connected
        sim.exchange.set_price("ES", good.bid - 5)
        await wait_until(lambda: source.quote("ES").bid == good.bid - 5, "quotes after the bad frames")


async def test_nan_and_null_values_read_as_missing():
    async with running_sim() as sim, connected(sim, "ES") as source:
        symbol = source.symbols.to_dx("ES")
        await wait_until(lambda: source.quote("ES"), "ES quote")
        sim.stale = True  # nothing else arrives meanwhile
        values = [symbol, 0, "NaN", 5001.25, None, 7, 0, 0]
        await sim.inject({"type": "FEED_DATA", "channel": 1, "data": ["Quote", values]})
        await wait_until(lambda: source.quote("ES").ask == 5001.25, "the quote with NaN")
        quote = source.quote("ES")
        assert (quote.bid, quote.bid_size, quote.ask_size, quote.event_ms) == (None, None, 7.0, None)
        assert source.health().dropped == 0


async def test_feed_config_announcing_another_field_order_is_honoured():
    async with running_sim(reverse_fields=True) as sim, connected(sim, "ES", "GC") as source:
        sim.exchange.set_price("GC", 2361.4)
        await wait_until(lambda: (q := source.quote("GC")) and q.bid == 2361.4 and q.last == 2361.4, "GC quote")
        conn = next(iter(sim.connections))
        assert conn.channels[1].fields["Quote"] == tuple(reversed(wire.QUOTE_FIELDS))
        for root in ("ES", "GC"):
            sent, quote = sim.tape.sent["Quote", source.symbols.to_dx(root)], source.quote(root)
            assert (quote.bid, quote.ask, quote.bid_size, quote.ask_size) == (
                sent["bidPrice"], sent["askPrice"], sent["bidSize"], sent["askSize"],
            )  # fmt: skip
        assert source.health().dropped == 0


async def test_error_frames_are_shown():
    async with running_sim() as sim, connected(sim, "ES") as source:
        await sim.inject({"type": "ERROR", "channel": 0, "error": "BAD_ACTION", "message": "subscription too long"})
        await wait_until(lambda: source.server_errors, "the ERROR seen")
        assert source.health().detail == "dxLink ERROR BAD_ACTION: subscription too long"
        assert list(source.server_errors) == ["BAD_ACTION: subscription too long"]
        assert source.health().connected


async def test_keepalives_go_out_on_the_negotiated_period():
    async with running_sim() as sim, connected(sim, "ES", keepalive_timeout_s=1.0) as source:
        assert messages_of(sim, "SETUP")[0]["keepaliveTimeout"] == 1
        await wait_until(lambda: len(messages_of(sim, "KEEPALIVE")) >= 3, "three keepalives")
        # the simulator closes a client silent for its keepaliveTimeout: still the first session
        assert source.health().connected and source.health().reconnects == 0
        assert not sim.refusals


async def test_disconnect_is_shown_and_quotes_are_stale_after_it():
    async with running_sim() as sim:
        source = make_source(sim.url)
        await source.connect()
        await source.subscribe(["ES"])
        await wait_until(lambda: source.quote("ES"), "ES quote")
        await source.disconnect()
        assert source.health().state is HealthState.DISCONNECTED
        assert source.stale("ES", time.monotonic_ns())
        await wait_until(lambda: not sim.connections, "the socket closed")


async def test_symbols_follow_the_front_month_of_the_day():
    async with running_sim() as sim, connected(sim, "YM", "MGC") as source:
        await wait_until(lambda: source.quote("YM") and source.quote("MGC"), "YM and MGC quotes")
        for root, mic in (("YM", "XCBT"), ("MGC", "XCEC")):
            symbol = source.symbols.to_dx(root)
            assert symbol == dx_symbol(root, utc_today()) and symbol.endswith(f":{mic}")
            assert sim.symbols[symbol] == root  # the simulator serves the same front month


async def test_sockets_dropped_every_so_often_come_back_each_time():
    async with running_sim(drop_every_s=0.3) as sim, connected(sim, "ES") as source:
        await wait_until(lambda: source.health().reconnects >= 2 and source.health().connected, "two reconnects")
        sim.drop_every_s = 0.0
        sim.exchange.set_price("ES", 5003.0)
        await wait_until(lambda: source.health().connected and source.quote("ES").bid == 5003.0, "quotes again")


async def test_an_unreachable_feed_does_not_hold_up_connect_and_is_joined_when_it_comes():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = make_source(f"ws://127.0.0.1:{port}/dxlink-ws", reconnect_delay_s=0.05, reconnect_max_s=0.2)
    await source.connect()  # returns: copying never waits on market data
    try:
        assert source.health().state is HealthState.RECONNECTING
        assert source.health().detail.startswith(f"cannot reach dxLink at ws://127.0.0.1:{port}/dxlink-ws: ")
        await source.subscribe(["ES"])
        assert source.stale("ES", time.monotonic_ns())
        async with running_sim(port=port):
            await wait_until(lambda: source.quote("ES"), "the first quote once the feed is up")
            assert source.health().connected
    finally:
        await source.disconnect()


async def test_a_server_gone_silent_is_left_and_opened_again():
    async with running_sim(keepalive_timeout_s=1.5) as sim, connected(sim, "ES") as source:
        await wait_until(lambda: source.quote("ES"), "ES quote")
        sim.frozen = True
        await wait_until(lambda: source.health().state is HealthState.RECONNECTING, "the silent server left")
        assert source.health().detail == "nothing from dxLink in 1.5s (its keepaliveTimeout)"
        sim.frozen = False
        await wait_until(lambda: source.health().connected, "a new session")
        assert source.health().reconnects == 1


async def test_the_token_refused_during_a_session_stops_the_source():
    async with running_sim() as sim, connected(sim, "ES") as source:
        await wait_until(lambda: source.quote("ES"), "ES quote")
        await sim.inject({"type": "AUTH_STATE", "channel": 0, "state": "UNAUTHORIZED"})
        await wait_until(lambda: source.health().state is HealthState.AUTH_FAILED, "auth failed")
        assert "AUTH_STATE UNAUTHORIZED during the session" in source.health().detail
        assert source.stale("ES", time.monotonic_ns())
        await asyncio.sleep(1.2)  # two reconnect delays: a retry would have dialled again
        assert len(messages_of(sim, "SETUP")) == 1


async def test_a_closed_feed_channel_opens_a_new_session():
    async with running_sim() as sim, connected(sim, "ES") as source:
        await wait_until(lambda: source.quote("ES"), "ES quote")
        await sim.inject({"type": "CHANNEL_CLOSED", "channel": 1})
        await wait_until(lambda: source.health().reconnects == 1 and source.health().connected, "a new session")
        # the client subscribed before calling itself connected; the simulator reads it moments later
        await wait_until(lambda: len(messages_of(sim, "FEED_SUBSCRIPTION")) == 2, "the second session's subscription")
        assert (
            messages_of(sim, "FEED_SUBSCRIPTION")[1]["add"][0]["symbol"]
            == messages_of(sim, "FEED_SUBSCRIPTION")[0]["add"][0]["symbol"]
        )


async def test_a_url_that_is_no_websocket_is_said_so():
    http = await asyncio.start_server(_answer_404, "127.0.0.1", 0)
    port = http.sockets[0].getsockname()[1]
    source = make_source(f"ws://127.0.0.1:{port}/nothing-here", reconnect_delay_s=5.0)
    try:
        await source.connect()
        assert source.health().state is HealthState.RECONNECTING
        assert source.health().detail == (
            f"dxLink at ws://127.0.0.1:{port}/nothing-here answered HTTP 404, not a WebSocket: check the url"
        )
    finally:
        await source.disconnect()
        http.close()


async def _answer_404(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A web server that is not dxLink: every request gets 404."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    await writer.drain()
    writer.close()
