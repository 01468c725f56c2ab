"""Tradovate's own market data as a market-data source (issue 20, phase 2): the source against the
Tradovate simulator's REST (login, contracts) and its md WebSocket (adapters/tradovate/sim_md.py),
over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.base import AuthFailed, HealthState
from adapters.paper.exchange import PaperExchange
from adapters.tradovate.marketdata import TradovateMarketData, create_source
from adapters.tradovate.settings import SIM_SEC
from adapters.tradovate.sim_md import TradovateMdServer
from adapters.tradovate.simulator import TradovateSimulator
from tests.adapters.dxfeed_support import wait_until

PASSWORD = "tv-md-pass-81c3"  # this test login's password, checked never to leak


@contextlib.asynccontextmanager
async def servers(**md: Any) -> AsyncIterator[tuple[TradovateSimulator, TradovateMdServer]]:
    sim = TradovateSimulator(PaperExchange(seed=3), heartbeat_s=0.5)
    sim.add_account("DEMO1", username="mduser", password=PASSWORD)
    await sim.start()
    server = await TradovateMdServer(sim, **md).start()
    try:
        yield sim, server
    finally:
        await server.stop()
        await sim.stop()


def make(sim: TradovateSimulator, server: TradovateMdServer, password: str = PASSWORD, **options: Any):
    opts = {"environment": "sim", "username": "mduser", "rest_url": sim.url, "md_url": server.url,
            "reconnect_delay_s": 0.2, "heartbeat_s": 0.2} | options  # fmt: skip
    return create_source("tvmd", opts, {"password": password, "sec": SIM_SEC}.get)


@contextlib.asynccontextmanager
async def connected(sim, server, *symbols: str, **options: Any) -> AsyncIterator[TradovateMarketData]:
    source = make(sim, server, **options)
    await source.connect()
    try:
        await source.subscribe(symbols)
        yield source
    finally:
        await source.disconnect()


def subscribed(server: TradovateMdServer, connection: int | None = None) -> list[Any]:
    return [b["symbol"] for n, e, b in server.requests if e == "md/subscribequote" and connection in (None, n)]


async def test_quotes_arrive_field_for_field_from_the_front_contracts():
    async with servers() as (sim, server), connected(sim, server, "ES", "GC") as source:
        sim.exchange.set_price("ES", 5007.5)
        sim.exchange.set_price("GC", 2344.3)
        await wait_until(lambda: (q := source.quote("ES")) and q.bid == 5007.5, "ES quote")
        await wait_until(lambda: (q := source.quote("GC")) and q.bid == 2344.3, "GC quote")
        for root in ("ES", "GC"):
            contract = sim.ledger.front(root)
            sent, quote = server.sent[contract["id"]]["entries"], source.quote(root)
            assert source.names[root] == contract["name"]
            assert (quote.bid, quote.ask) == sim.exchange.quote(root)
            assert (quote.bid, quote.bid_size, quote.ask, quote.ask_size, quote.last) == (
                sent["Bid"]["price"], sent["Bid"]["size"], sent["Offer"]["price"], sent["Offer"]["size"],
                sent["Trade"]["price"],
            )  # fmt: skip
            assert not source.stale(root, time.monotonic_ns())
        assert sorted(subscribed(server)) == sorted([sim.ledger.front("ES")["name"], sim.ledger.front("GC")["name"]])
        assert source.health().connected and server.url in source.health().detail
        await wait_until(lambda: server.heartbeats >= 2, "client heartbeats")


async def test_a_pinned_contract_is_the_one_subscribed_and_an_unknown_one_is_said():
    async with servers() as (sim, server):
        nxt = [c["name"] for c in sim.ledger.contracts.values() if c["name"].startswith("NQ")][1]
        async with connected(sim, server, "NQ", "CL", contracts=f"NQ={nxt},CL=CLX9") as source:
            await wait_until(lambda: source.quote("NQ"), "NQ quote")
            assert subscribed(server) == [nxt]
            assert "no quotes for CL: the pinned contract CLX9 is unknown to Tradovate" in source.health().detail
            with pytest.raises(ValueError, match="no Tradovate contract for 'ZB'"):
                await source.subscribe(["ZB"])


async def test_a_stale_md_socket_is_shown_stale():
    async with servers() as (sim, server), connected(sim, server, "ES", stale_after_ms=300) as source:
        await wait_until(lambda: source.quote("ES"), "ES quote")
        server.stale = True
        old = source.quote("ES").bid
        sim.exchange.set_price("ES", old + 3)
        await wait_until(lambda: source.stale("ES", time.monotonic_ns()), "ES stale")
        assert source.quote("ES").bid == old and source.health().connected
        server.stale = False
        await wait_until(lambda: source.quote("ES").bid == old + 3, "a fresh quote")


async def test_a_dropped_md_socket_reconnects_and_resubscribes():
    async with servers() as (sim, server), connected(sim, server, "ES", "MNQ") as source:
        await wait_until(lambda: source.quote("ES") and source.quote("MNQ"), "quotes")
        assert server.drop_sockets() == 1
        await wait_until(lambda: source.health().reconnects == 1 and source.health().connected, "the reconnect")
        second = max(n for n, _, _ in server.requests)
        assert sorted(subscribed(server, second)) == sorted([source.names["ES"], source.names["MNQ"]])
        sim.exchange.set_price("NQ", 17444.25)
        await wait_until(lambda: source.quote("MNQ").bid == 17444.25, "MNQ quoted again")


async def test_a_refused_login_stops_with_no_password_anywhere(caplog):
    caplog.set_level(logging.DEBUG)
    async with servers() as (sim, server):
        source = make(sim, server, password="wrong-pass-0000")
        with pytest.raises(AuthFailed, match="tradovate refused the login for mduser") as refused:
            await source.connect()
        assert source.health().state is HealthState.AUTH_FAILED
        await asyncio.sleep(0.6)  # three reconnect delays: a retry would have logged in again
        assert sim.logins == 0 and not server.requests
        for text in (source.health().detail, str(refused.value), caplog.text):
            assert "wrong-pass-0000" not in text and PASSWORD not in text
        await source.disconnect()


async def test_an_md_token_refused_twice_stops_after_one_fresh_login():
    async with servers() as (sim, server):
        server.refuse_tokens = True
        source = make(sim, server)
        with pytest.raises(AuthFailed, match="refused the market-data token of mduser twice"):
            await source.connect()
        assert sim.logins == 2  # the first login, and one more for a fresh mdAccessToken
        assert [e for _, e, _ in server.requests] == ["authorize", "authorize"]
        await source.disconnect()


async def test_malformed_md_frames_are_reported_and_the_feed_goes_on():
    async with servers() as (sim, server), connected(sim, server, "ES") as source:
        await wait_until(lambda: source.quote("ES"), "ES quote")
        good = source.quote("ES")
        contract = sim.ledger.front("ES")["id"]
        server.inject('a[{"e":"md","d":{"quotes":[{"contractId":"x","entries":{}}]}}]')
        await wait_until(lambda: source.health().dropped == 1, "the bad quote refused")
        assert "integer contractId" in source.health().last_dropped
        server.inject(
            f'a[{{"e":"md","d":{{"quotes":[{{"contractId":{contract},"entries":{{"Bid":{{"price":"x"}}}}}}]}}}}]'
        )
        await wait_until(lambda: source.health().dropped == 2, "the bad price refused")
        assert "md entry Bid.price is 'x', not a number" in source.health().last_dropped
        server.inject("zz")
        await wait_until(lambda: source.health().dropped == 3, "the unknown frame refused")
        assert source.quote("ES") == good and source.health().connected
        server.inject(
            f'a[{{"e":"md","d":{{"quotes":[{{"contractId":{contract},"entries":{{"Offer":{{"price":5100.0}}}}}}]}}}}]'
        )
        await wait_until(lambda: source.quote("ES").ask == 5100.0, "a partial quote")
        assert source.quote("ES").bid == good.bid  # the entries left out keep their values


async def test_a_shutdown_event_opens_a_new_session():
    async with servers() as (sim, server), connected(sim, server, "ES") as source:
        await wait_until(lambda: source.quote("ES"), "ES quote")
        server.inject('a[{"e":"shutdown","d":{"reasonCode":"Maintenance"}}]')
        await wait_until(lambda: source.health().reconnects == 1 and source.health().connected, "a new session")


def test_bad_options_are_refused_saying_what_to_fix():
    def refusal(options: dict) -> str:
        with pytest.raises(ValueError) as refused:
            create_source("tvmd", options, lambda _f: None)
        return str(refused.value)

    assert "market data tvmd: options.username is required: your Tradovate login name" in refusal({})
    assert "environment sim needs rest_url and md_url" in refusal({"username": "u", "environment": "sim"})
    assert "md_url 'http://x/v1' must start with ws:// or wss://" in refusal({"username": "u", "md_url": "http://x/v1"})
    assert "options.contracts: 'ES' must look like ES=ESZ5" in refusal({"username": "u", "contracts": "ES"})
    assert "unknown Tradovate option(s) token" in refusal({"username": "u", "token": "t"})


async def test_the_standalone_md_simulator_serves_a_source():
    import os
    import signal
    import sys
    from pathlib import Path

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.tradovate.sim_md", "--port", "0", "--tick-s", "0.05",
        cwd=Path(__file__).resolve().parents[2], env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    lines: list[str] = []
    try:
        while not lines or "Ctrl-C" not in lines[-1]:
            lines.append((await asyncio.wait_for(proc.stdout.readline(), 30)).decode())
            assert lines[-1], f"the simulator ended early: {lines}"
        md_url = lines[0].split()[-1]
        rest_url = lines[1].split()[3].rstrip(";")
        source = create_source(
            "tvmd", {"environment": "sim", "username": "trader1", "rest_url": rest_url, "md_url": md_url},
            {"password": "demo", "sec": "demo"}.get,
        )  # fmt: skip
        await source.connect()
        await source.subscribe(["ES"])
        first = await wait_until(lambda: source.quote("ES"), "a quote from the standalone simulator")
        await wait_until(lambda: source.quote("ES").bid != first.bid, "the price walk moving the quote")
        await source.disconnect()
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert "tradovate market-data simulator stopped" in out.decode()
