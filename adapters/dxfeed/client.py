"""A :class:`~adapters.marketdata.MarketDataSource` over dxFeed's dxLink WebSocket.

One ``connect()`` runs sessions one after another until ``disconnect()``. A session is one socket:
SETUP, AUTH when the server says UNAUTHORIZED, one FEED channel, FEED_SETUP (COMPACT, Quote and
Trade fields), FEED_SUBSCRIPTION for every symbol asked so far, then frames read until the socket
ends. KEEPALIVE goes out every half of the keepalive timeout; nothing from the server for its own
keepaliveTimeout ends the session. A lost session is opened again after a :class:`Backoff` delay
(reset once a session worked) and subscribes again to everything.

A refused token (AUTH_STATE UNAUTHORIZED after AUTH, or an ERROR UNAUTHORIZED) stops the source:
health "auth failed" with what to do, and no retry, since the same token would be refused again.
Other ERROR frames are shown in the health note and logged. A frame that cannot be read is
counted in ``Health.dropped`` with the reason, and the feed goes on. The token is read from the
keyring at each session and never appears in a note, a log line or an exception.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from adapters.base import AuthFailed
from adapters.dxfeed import wire
from adapters.dxfeed.options import DxFeedOptions
from adapters.dxfeed.symbols import SymbolMap
from adapters.kit import Backoff, repeat_forever
from adapters.marketdata import Quote, SessionSource

log = logging.getLogger("copytui.adapters.dxfeed")
socket_log = logging.getLogger("copytui.adapters.dxfeed.socket")
socket_log.setLevel(logging.WARNING)  # websockets: every frame at DEBUG (AUTH and its token), each connection at INFO


class SessionLost(Exception):
    """The session ended for a reason worth opening a new one."""


def utc_today() -> date:
    return datetime.now(UTC).date()


class DxLinkSource(SessionSource):
    source = "dxfeed"
    label = "dxFeed"
    log = log
    quiet = (SessionLost, OSError, TimeoutError, WebSocketException)

    def __init__(
        self,
        name: str,
        options: DxFeedOptions,
        token: Callable[[], str | None],
        *,
        today: Callable[[], date] = utc_today,
    ) -> None:
        """``token()``: the dxLink token from the keyring, read at each session; ``today()``: the
        day whose front months the symbols map to (at construction)."""
        super().__init__(name, options.stale_after_ms, Backoff(options.reconnect_delay_s, options.reconnect_max_s))
        self.options = options
        self._token = token
        self.symbols = SymbolMap(options.symbols, today())
        self._wanted: list[str] = []
        self._fields: dict[str, tuple[str, ...]] = dict(wire.EVENT_FIELDS)
        self._ws: ClientConnection | None = None
        self._feed_ready = False
        self._scrub: Callable[[str], str] = str
        self.server_errors: collections.deque[str] = collections.deque(maxlen=50)
        """ERROR frames received ("TYPE: message"), newest last."""

    # ------------------------------------------------------------ contract
    async def disconnect(self) -> None:
        self._closing = True
        ws = self._ws
        if ws is not None:
            await ws.close()
        await self._stop_sessions()

    async def subscribe(self, symbols: Iterable[str]) -> None:
        new = []
        for root in symbols:
            symbol = self.symbols.to_dx(root)
            if symbol not in self._wanted:
                self._wanted.append(symbol)
                new.append(symbol)
        ws = self._ws
        if new and ws is not None and self._feed_ready:
            await self._send(ws, wire.feed_subscription(new))

    # ------------------------------------------------------------ sessions
    def _describe(self, exc: BaseException) -> str:
        return self._scrub(super()._describe(exc))  # a token in an exception's text never reaches the desk

    def _ended(self) -> None:
        self._ws, self._feed_ready, self._scrub = None, False, str

    async def _session(self) -> None:
        token = self._token()
        if not token:
            raise AuthFailed(f"no dxLink token stored for market data {self.name} (keyring field 'token')")
        self._scrub = lambda text: text.replace(token, "***")
        opts = self.options
        if not self._started:
            self._health.connecting(opts.url)
        try:
            async with asyncio.timeout(opts.connect_timeout_s):
                ws = await connect(opts.url, ping_interval=None, open_timeout=None, max_size=2**24, logger=socket_log)
                self._ws = ws
                try:
                    server_timeout, period = await self._handshake(ws, token)
                except BaseException:
                    await ws.close()
                    raise
        except TimeoutError:
            step = "the SETUP / AUTH / FEED channel exchange" if self._ws is not None else "the WebSocket to open"
            raise SessionLost(f"dxLink at {opts.url}: no answer within {opts.connect_timeout_s:g}s ({step})") from None
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise SessionLost(f"dxLink at {opts.url} answered HTTP {status}, not a WebSocket: check the url") from None
        except OSError as exc:
            raise SessionLost(f"cannot reach dxLink at {opts.url}: {exc.strerror or exc}") from None
        keepalive = self._tasks.spawn(
            repeat_forever(period, lambda: self._send(ws, wire.KEEPALIVE)), f"dxfeed-keepalive-{self.name}"
        )
        try:
            if self._started:
                self._health.reconnected()
            else:
                self._health.up(f"dxLink {opts.url}")
            self._backoff.reset()
            self._settle(None)
            await self._read(ws, server_timeout)
        finally:
            keepalive.cancel()
            await ws.close()

    async def _handshake(self, ws: ClientConnection, token: str) -> tuple[float, float]:
        """SETUP to an open FEED channel; the server's keepalive timeout and our KEEPALIVE period."""
        opts = self.options
        await self._send(ws, wire.setup(opts.keepalive_timeout_s))
        server_timeout, ours, sent_auth = 60.0, opts.keepalive_timeout_s, False
        while True:
            message = self._parse(await ws.recv())
            if message is None:
                continue
            kind = message.get("type")
            if kind == "SETUP":
                server_timeout = _seconds(message.get("keepaliveTimeout"), server_timeout)
                ours = min(ours, _seconds(message.get("acceptKeepaliveTimeout"), ours))
            elif kind == "AUTH_STATE" and message.get("state") == "UNAUTHORIZED":
                if sent_auth:
                    raise AuthFailed(self._refused("AUTH_STATE UNAUTHORIZED"))
                await self._send(ws, wire.auth(token))
                sent_auth = True
            elif kind == "AUTH_STATE" and message.get("state") == "AUTHORIZED":
                self._fields = dict(wire.EVENT_FIELDS)
                await self._send(ws, wire.channel_request())
            elif kind == "CHANNEL_OPENED" and message.get("channel") == wire.FEED_CHANNEL:
                await self._send(ws, wire.feed_setup(opts.aggregation_period_s))
                self._feed_ready = True  # before the await: a subscribe() meanwhile sends its own
                if self._wanted:
                    await self._send(ws, wire.feed_subscription(list(self._wanted)))
                return server_timeout, ours / 2
            elif kind == "ERROR":
                self._error(message)

    async def _read(self, ws: ClientConnection, idle_s: float) -> None:
        while True:
            try:
                async with asyncio.timeout(idle_s):
                    raw = await ws.recv()
            except TimeoutError:
                raise SessionLost(f"nothing from dxLink in {idle_s:g}s (its keepaliveTimeout)") from None
            except ConnectionClosed as exc:
                raise SessionLost(f"dxLink closed the connection ({_close_text(exc)})") from None
            self._dispatch(raw)

    # ------------------------------------------------------------ frames
    def _dispatch(self, raw: str | bytes) -> None:
        message = self._parse(raw)
        if message is None:
            return
        kind = message.get("type")
        if kind == "FEED_DATA":
            self._feed_data(message)
        elif kind == "FEED_CONFIG":
            try:
                self._fields.update(wire.config_fields(message))
            except wire.FeedDataError as exc:
                self._bad(str(exc))
            data_format = message.get("dataFormat")
            if data_format not in (None, "COMPACT", "FULL"):
                self._bad(f"FEED_CONFIG dataFormat {data_format!r:.40} is neither COMPACT nor FULL")
        elif kind == "ERROR":
            self._error(message)
        elif kind == "AUTH_STATE" and message.get("state") == "UNAUTHORIZED":
            raise AuthFailed(self._refused("AUTH_STATE UNAUTHORIZED during the session"))
        elif kind == "CHANNEL_CLOSED" and message.get("channel") == wire.FEED_CHANNEL:
            raise SessionLost("dxLink closed the FEED channel")
        # SETUP, KEEPALIVE, AUTH_STATE AUTHORIZED and unknown types: nothing to do (dxLink says skip)

    def _feed_data(self, message: dict[str, Any]) -> None:
        now = time.monotonic_ns()
        try:
            events = wire.decode_feed_data(message.get("data"), self._fields)
            quotes = [q for kind, event in events for q in self._quotes_of(kind, event, now)]
        except wire.FeedDataError as exc:
            self._bad(str(exc))
            return
        for quote in quotes:
            self._store(quote)
        self._health.seen()

    def _quotes_of(self, kind: str, event: dict[str, Any], now: int) -> list[Quote]:
        roots = self.symbols.roots(wire.symbol_of(event))
        out = []
        if kind == "Quote":
            bid, ask = wire.number(event, "bidPrice"), wire.number(event, "askPrice")
            bid_size, ask_size = wire.number(event, "bidSize"), wire.number(event, "askSize")
            event_ms = wire.millis(event, "bidTime", "askTime") or wire.millis(event, "eventTime")
            for root in roots:
                prev = self._quotes.get(root)
                last = prev.last if prev is not None else None
                out.append(
                    Quote(
                        symbol=root,
                        bid=bid,
                        ask=ask,
                        last=last,
                        bid_size=bid_size,
                        ask_size=ask_size,
                        event_ms=event_ms,
                        received_ns=now,
                    )
                )
        elif kind == "Trade":
            price = wire.number(event, "price")
            event_ms = wire.millis(event, "time") or wire.millis(event, "eventTime")
            for root in roots:
                prev = self._quotes.get(root) or Quote(symbol=root, received_ns=now)
                out.append(
                    Quote(
                        symbol=root,
                        bid=prev.bid,
                        ask=prev.ask,
                        last=price,
                        bid_size=prev.bid_size,
                        ask_size=prev.ask_size,
                        event_ms=event_ms,
                        received_ns=now,
                    )
                )
        return out

    def _parse(self, raw: str | bytes) -> dict[str, Any] | None:
        try:
            message = json.loads(raw)
        except ValueError:
            self._bad(f"not JSON: {self._scrub(str(raw))!r:.80}")
            return None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            self._bad(f"not a dxLink message (no type): {self._scrub(str(raw))!r:.80}")
            return None
        return message

    def _bad(self, why: str) -> None:
        why = self._scrub(why)
        log.warning("dxFeed %s: frame refused: %s", self.name, why)
        self._health.drop(why)
        self._health.note(f"frame refused: {why}")

    def _error(self, message: dict[str, Any]) -> None:
        error, text = str(message.get("error", "UNKNOWN")), self._scrub(str(message.get("message", "")))
        if error == "UNAUTHORIZED":
            raise AuthFailed(self._refused(f"ERROR UNAUTHORIZED: {text}"))
        self.server_errors.append(f"{error}: {text}")
        log.warning("dxFeed %s: dxLink ERROR %s: %s", self.name, error, text)
        self._health.note(f"dxLink ERROR {error}: {text}")

    def _refused(self, what: str) -> str:
        return (
            f"dxLink refused the token of market data {self.name} ({self._scrub(what)}): store a valid one "
            f"(keyring field 'token') and connect again"
        )

    async def _send(self, ws: ClientConnection, message: dict[str, Any]) -> None:
        try:
            await ws.send(json.dumps(message, separators=(",", ":")))
        except ConnectionClosed:
            pass  # the reader sees the end and says why


def _seconds(value: Any, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return default


def _close_text(exc: ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "no close frame"
    return f"code {frame.code}" + (f": {frame.reason}" if frame.reason else "")
