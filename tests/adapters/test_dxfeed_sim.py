"""The dxLink simulator's own checks, driven by a bare client: the sequence enforced with an ERROR
that says what is missing, one token accepted, silent clients closed, COMPACT data in the order
asked; and its standalone run (``python -m adapters.dxfeed.simulator``) as a script would use it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from adapters.dxfeed.sim_events import QUOTE
from tests.adapters.dxfeed_support import TOKEN, RawClient, make_source, running_sim, wait_until

ROOT = Path(__file__).resolve().parents[2]


async def test_a_client_that_skips_auth_is_told_and_gets_no_channel():
    async with running_sim() as sim, RawClient.open(sim) as client:
        await client.send({"type": "SETUP", "channel": 0, "keepaliveTimeout": 60, "version": "0.1-test/1"})
        assert (await client.until("AUTH_STATE"))["state"] == "UNAUTHORIZED"
        await client.send(
            {"type": "CHANNEL_REQUEST", "channel": 1, "service": "FEED", "parameters": {"contract": "AUTO"}}
        )
        await client.send(
            {"type": "FEED_SUBSCRIPTION", "channel": 1, "add": [{"type": "Quote", "symbol": "/ESZ26:XCME"}]}
        )
        await client.send({"type": "KEEPALIVE", "channel": 0})
        answers = await client.collect_until("KEEPALIVE")
        assert [(m["type"], m.get("error")) for m in answers] == [
            ("ERROR", "UNAUTHORIZED"), ("ERROR", "UNAUTHORIZED"), ("KEEPALIVE", None),
        ]  # fmt: skip
        assert answers[0]["message"] == (
            "CHANNEL_REQUEST before AUTH: send AUTH with the token after AUTH_STATE UNAUTHORIZED"
        )
        assert answers[1]["message"].startswith("FEED_SUBSCRIPTION before AUTH")
        assert not [c for c in sim.connections if c.channels]


async def test_a_client_that_skips_setup_is_refused_and_closed():
    async with running_sim() as sim, RawClient.open(sim) as client:
        await client.send({"type": "AUTH", "channel": 0, "token": TOKEN})
        error = await client.until("ERROR")
        assert (error["error"], error["message"]) == (
            "BAD_ACTION",
            "AUTH before SETUP: SETUP must be the first message",
        )
        assert await client.closed()
        assert sim.received[0][1]["token"] == "***"


async def test_a_wrong_token_is_refused_and_closed():
    async with running_sim() as sim, RawClient.open(sim) as client:
        await client.authorize(token="guess")
        error = await client.until("ERROR")
        assert (error["error"], error["message"]) == ("UNAUTHORIZED", "the token was refused")
        assert (await client.until("AUTH_STATE"))["state"] == "UNAUTHORIZED"
        assert await client.closed()
        assert all(TOKEN not in r and "guess" not in r for r in sim.refusals)


async def test_feed_steps_out_of_order_and_unknown_types_get_an_error():
    async with running_sim() as sim, RawClient.open(sim) as client:
        await client.authorize()
        assert (await client.until("AUTH_STATE"))["state"] == "AUTHORIZED"
        await client.send({"type": "FEED_SETUP", "channel": 3, "acceptEventFields": {"Quote": ["eventSymbol"]}})
        assert (await client.until("ERROR"))["message"] == "FEED_SETUP on channel 3, which no CHANNEL_OPENED opened"
        await client.send(
            {"type": "CHANNEL_REQUEST", "channel": 3, "service": "FEED", "parameters": {"contract": "AUTO"}}
        )
        opened = await client.until("CHANNEL_OPENED")
        assert (opened["channel"], opened["service"]) == (3, "FEED")
        await client.send(
            {"type": "FEED_SUBSCRIPTION", "channel": 3, "add": [{"type": "Quote", "symbol": "/ESZ26:XCME"}]}
        )
        error = await client.until("ERROR")
        assert error["message"] == (
            "FEED_SUBSCRIPTION before FEED_SETUP on channel 3: send FEED_SETUP with acceptEventFields"
        )
        await client.send({"type": "CHANNEL_OPEN", "channel": 5})  # the obsolete alpha protocol
        error = await client.until("ERROR")
        assert (error["error"], error["message"]) == ("INVALID_MESSAGE", "unknown message type 'CHANNEL_OPEN'")
        await client.send({"type": "KEEPALIVE", "channel": 0})
        assert (await client.until("KEEPALIVE"))["channel"] == 0


async def test_the_sdk_sequence_gets_compact_data_in_the_order_asked():
    """tastytrade's order: one channel per event type (Quote on 7), FEED_SETUP with every Quote field."""
    async with running_sim() as sim, RawClient.open(sim) as client:
        symbol = next(s for s, root in sim.symbols.items() if root == "ES")
        await client.authorize()
        await client.until("AUTH_STATE")
        await client.send(
            {"type": "CHANNEL_REQUEST", "channel": 7, "service": "FEED", "parameters": {"contract": "AUTO"}}
        )
        await client.until("CHANNEL_OPENED")
        asked = ["eventSymbol", "askPrice", "bidPrice", "noSuchField", "bidSize"]
        await client.send({"type": "FEED_SETUP", "channel": 7, "acceptAggregationPeriod": 0.1,
                           "acceptDataFormat": "COMPACT", "acceptEventFields": {"Quote": asked}})  # fmt: skip
        config = await client.until("FEED_CONFIG")
        assert config["eventFields"] == {"Quote": ["eventSymbol", "askPrice", "bidPrice", "bidSize"]}
        assert config["dataFormat"] == "COMPACT"
        await client.send({"type": "FEED_SUBSCRIPTION", "channel": 7, "add": [{"type": "Quote", "symbol": symbol}]})
        data = await client.until("FEED_DATA")
        bid, ask = sim.exchange.quote("ES")
        assert data["channel"] == 7
        assert data["data"] == ["Quote", [symbol, ask, bid, sim.tape.sent["Quote", symbol]["bidSize"]]]
        sim.exchange.set_price("ES", bid + 1)
        data = await client.until("FEED_DATA")
        assert data["data"][1][:3] == [symbol, bid + 1.25, bid + 1]
        assert set(QUOTE) >= set(config["eventFields"]["Quote"])


async def test_a_silent_client_is_closed_after_its_keepalive_timeout():
    async with running_sim() as sim, RawClient.open(sim) as client:
        await client.send({"type": "SETUP", "channel": 0, "keepaliveTimeout": 0.3, "version": "0.1-test/1"})
        error = await client.until("ERROR")
        assert error["error"] == "TIMEOUT"
        assert error["message"] == "no message from the client in 0.3s (keepaliveTimeout of its SETUP)"
        assert await client.closed()
        await wait_until(lambda: not sim.connections, "the connection gone")


async def _read_url(proc: asyncio.subprocess.Process) -> tuple[str, list[str]]:
    lines: list[str] = []
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert line, f"the simulator ended early: {lines}"
        lines.append(line)
        if "Ctrl-C" in line:
            return lines[0].rsplit(" ", 1)[1].strip(), lines


async def test_the_standalone_simulator_serves_a_client_and_never_prints_the_token():
    env = {**os.environ, "DX_SIM_TOKEN": TOKEN}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.dxfeed.simulator", "--port", "0", "--token-env", "DX_SIM_TOKEN",
        "--tick-s", "0.05", cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        url, lines = await _read_url(proc)
        assert url.startswith("ws://127.0.0.1:")
        assert any(line.strip().startswith("symbols: ES=/ES") for line in lines)
        source = make_source(url)
        await source.connect()
        await source.subscribe(["ES"])
        first = await wait_until(lambda: source.quote("ES"), "a quote from the standalone simulator")
        await wait_until(lambda: source.quote("ES") != first, "the price walk moving the quote")
        await source.disconnect()
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    text = "".join(lines) + out.decode()
    assert "dxfeed simulator stopped" in text
    assert TOKEN not in text
    assert proc.returncode == 0


async def test_the_standalone_simulator_refuses_to_start_without_a_token():
    env = {k: v for k, v in os.environ.items() if k != "DX_NO_TOKEN"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.dxfeed.simulator", "--token-env", "DX_NO_TOKEN", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert err.decode().strip() == "error: $DX_NO_TOKEN is empty or unset: set it to the token clients must send"
