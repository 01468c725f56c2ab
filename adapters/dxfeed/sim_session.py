"""One client of the dxLink simulator: the protocol checked step by step.

The order is strict: SETUP first (anything else is refused with an ERROR and the socket closed),
then AUTH with the simulator's token (a wrong token, or every token when ``unauthorised``: ERROR
UNAUTHORIZED and AUTH_STATE UNAUTHORIZED, then closed), then CHANNEL_REQUEST for FEED, FEED_SETUP
on the opened channel and FEED_SUBSCRIPTION after it. A step out of order gets an ERROR that says
which step is missing; an unknown message type gets ERROR INVALID_MESSAGE. KEEPALIVE is answered.
A client silent for longer than the keepaliveTimeout of its SETUP (before SETUP: ``setup_timeout_s``)
gets ERROR TIMEOUT and is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from adapters.dxfeed import sim_events

if TYPE_CHECKING:
    from adapters.dxfeed.simulator import DxLinkSimulator

CONTRACTS = ("AUTO", "TICKER", "STREAM", "HISTORY")


@dataclass
class FeedChannel:
    fields: dict[str, tuple[str, ...]] | None = None
    """Event type -> the fields sent, once FEED_SETUP came (None before)."""
    subscribed: set[tuple[str, str]] = field(default_factory=set)
    """(event type, dxFeed symbol)."""


class Closing(Exception):
    """The client broke the protocol badly enough to be closed (after its ERROR was sent)."""


class SimConnection:
    def __init__(self, sim: DxLinkSimulator, ws: ServerConnection, number: int) -> None:
        self.sim, self.ws, self.number = sim, ws, number
        self.setup_done = False
        self.authorized = False
        self.client_timeout_s = sim.setup_timeout_s
        self.channels: dict[int, FeedChannel] = {}
        self.last_received = self.last_sent = time.monotonic()

    # ------------------------------------------------------------ serving
    async def serve(self) -> None:
        watchdog = asyncio.get_running_loop().create_task(self._watchdog(), name=f"dxfeed-sim-watchdog-{self.number}")
        try:
            async for raw in self.ws:
                self.last_received = time.monotonic()
                await self._receive(raw)
        except (ConnectionClosed, Closing):
            pass
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            await self.ws.close()

    async def _watchdog(self) -> None:
        beat = self.sim.keepalive_timeout_s / 2
        while True:
            await asyncio.sleep(min(0.1, beat))
            now = time.monotonic()
            if now - self.last_received > self.client_timeout_s:
                what = "keepaliveTimeout of its SETUP" if self.setup_done else "the simulator's setup timeout"
                await self.error("TIMEOUT", f"no message from the client in {self.client_timeout_s:g}s ({what})")
                await self.ws.close(1000, "keepalive timeout")
                return
            if self.setup_done and now - self.last_sent > beat:
                await self.send({"type": "KEEPALIVE", "channel": 0})

    async def send(self, message: dict[str, Any]) -> None:
        if self.sim.frozen:
            return
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(json.dumps(message, separators=(",", ":")))
            self.last_sent = time.monotonic()

    async def error(self, kind: str, text: str, channel: int = 0) -> None:
        self.sim.refusals.append(f"{kind}: {text}")
        await self.send({"type": "ERROR", "channel": channel, "error": kind, "message": text})

    # ------------------------------------------------------------ protocol
    async def _receive(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.error("INVALID_MESSAGE", "every message is a JSON object with a type")
            return
        self.sim.record(self.number, message)
        kind = message["type"]
        if not self.setup_done and kind != "SETUP":
            await self.error("BAD_ACTION", f"{kind} before SETUP: SETUP must be the first message")
            raise Closing
        handler = _HANDLERS.get(kind)
        if handler is None:
            await self.error("INVALID_MESSAGE", f"unknown message type {kind!r}")
            return
        if kind not in ("SETUP", "AUTH", "KEEPALIVE") and not self.authorized:
            await self.error(
                "UNAUTHORIZED", f"{kind} before AUTH: send AUTH with the token after AUTH_STATE UNAUTHORIZED"
            )
            return
        await handler(self, message)

    async def _setup(self, message: dict[str, Any]) -> None:
        version, timeout = message.get("version"), message.get("keepaliveTimeout", 60)
        if not isinstance(version, str) or not version[:1].isdigit():
            await self.error("UNSUPPORTED_PROTOCOL", f"SETUP needs a version like '0.1-client/1.0', got {version!r}")
            raise Closing
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            await self.error("INVALID_MESSAGE", f"SETUP keepaliveTimeout must be a positive number, got {timeout!r}")
            raise Closing
        first = not self.setup_done
        self.setup_done, self.client_timeout_s = True, float(timeout)
        await self.send(
            {
                "type": "SETUP",
                "channel": 0,
                "keepaliveTimeout": self.sim.keepalive_timeout_s,
                "acceptKeepaliveTimeout": float(timeout),
                "version": "1.0-copytui-sim",
            }
        )
        if first:
            await self.send({"type": "AUTH_STATE", "channel": 0, "state": "UNAUTHORIZED"})

    async def _auth(self, message: dict[str, Any]) -> None:
        token = message.get("token")
        if self.sim.unauthorised or not isinstance(token, str) or token != self.sim.token:
            await self.error("UNAUTHORIZED", "the token was refused")
            await self.send({"type": "AUTH_STATE", "channel": 0, "state": "UNAUTHORIZED"})
            raise Closing
        self.authorized = True
        await self.send({"type": "AUTH_STATE", "channel": 0, "state": "AUTHORIZED", "userId": "sim"})

    async def _keepalive(self, message: dict[str, Any]) -> None:
        await self.send({"type": "KEEPALIVE", "channel": 0})

    async def _channel_request(self, message: dict[str, Any]) -> None:
        channel, service = message.get("channel"), message.get("service")
        parameters = message.get("parameters") or {}
        if isinstance(channel, bool) or not isinstance(channel, int) or channel <= 0:
            await self.error("BAD_ACTION", f"CHANNEL_REQUEST needs a positive channel number, got {channel!r}")
        elif service != "FEED":
            await self.error("BAD_ACTION", f"service {service!r} is not served here (FEED only)", channel)
        elif not isinstance(parameters, dict) or parameters.get("contract") not in CONTRACTS:
            await self.error("INVALID_MESSAGE", f"FEED parameters need a contract of {', '.join(CONTRACTS)}", channel)
        else:
            self.channels[channel] = FeedChannel()
            await self.send({"type": "CHANNEL_OPENED", "channel": channel, "service": "FEED", "parameters": parameters})

    async def _channel_cancel(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        if isinstance(channel, int) and self.channels.pop(channel, None) is not None:
            await self.send({"type": "CHANNEL_CLOSED", "channel": channel})

    async def _open_channel(self, message: dict[str, Any]) -> tuple[int, FeedChannel] | None:
        channel = message.get("channel")
        if isinstance(channel, int) and channel in self.channels:
            return channel, self.channels[channel]
        await self.error("BAD_ACTION", f"{message['type']} on channel {channel!r}, which no CHANNEL_OPENED opened")
        return None

    async def _feed_setup(self, message: dict[str, Any]) -> None:
        opened = await self._open_channel(message)
        if opened is None:
            return
        channel, feed = opened
        asked = message.get("acceptEventFields") or {}
        if not isinstance(asked, dict) or not all(isinstance(v, list) for v in asked.values()):
            await self.error("INVALID_MESSAGE", "acceptEventFields maps event types to lists of fields", channel)
            return
        feed.fields = dict(feed.fields or {})
        for kind, fields in asked.items():
            if kind in sim_events.KNOWN:
                feed.fields[kind] = sim_events.served_fields(kind, fields, self.sim.reverse_fields)
        period = message.get("acceptAggregationPeriod", 0.1)
        await self.send(
            {
                "type": "FEED_CONFIG",
                "channel": channel,
                "aggregationPeriod": period if isinstance(period, int | float) else 0.1,
                "dataFormat": "COMPACT",
                "eventFields": {kind: list(fields) for kind, fields in feed.fields.items()},
            }
        )

    async def _feed_subscription(self, message: dict[str, Any]) -> None:
        opened = await self._open_channel(message)
        if opened is None:
            return
        channel, feed = opened
        if feed.fields is None:
            await self.error(
                "BAD_ACTION",
                f"FEED_SUBSCRIPTION before FEED_SETUP on channel {channel}: send FEED_SETUP with acceptEventFields",
                channel,
            )
            return
        if message.get("reset"):
            feed.subscribed.clear()
        for item in message.get("remove") or ():
            if isinstance(item, dict):
                feed.subscribed.discard((str(item.get("type")), str(item.get("symbol"))))
        added = []
        for item in message.get("add") or ():
            kind, symbol = (item.get("type"), item.get("symbol")) if isinstance(item, dict) else (None, None)
            if kind not in feed.fields or not isinstance(symbol, str):
                await self.error(
                    "BAD_ACTION", f"cannot subscribe {item!r:.60}: no FEED_SETUP fields for that type here", channel
                )
                continue
            feed.subscribed.add((kind, symbol))
            added.append((kind, symbol))
        await self.sim.snapshot(self, channel, added)

    def wants(self, kind: str, symbol: str) -> list[tuple[int, tuple[str, ...]]]:
        """(channel, fields) of every channel subscribed to ``kind`` of ``symbol``."""
        return [
            (number, feed.fields[kind])
            for number, feed in self.channels.items()
            if feed.fields is not None and (kind, symbol) in feed.subscribed
        ]

    def subscribed_symbols(self) -> set[str]:
        return {symbol for feed in self.channels.values() for _, symbol in feed.subscribed}

    def drop(self) -> None:
        """Cut the socket without a close frame, as a network drop does."""
        self.ws.transport.abort()


_HANDLERS = {
    "SETUP": SimConnection._setup,
    "AUTH": SimConnection._auth,
    "KEEPALIVE": SimConnection._keepalive,
    "CHANNEL_REQUEST": SimConnection._channel_request,
    "CHANNEL_CANCEL": SimConnection._channel_cancel,
    "FEED_SETUP": SimConnection._feed_setup,
    "FEED_SUBSCRIPTION": SimConnection._feed_subscription,
}
