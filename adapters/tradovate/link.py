"""The account WebSocket of the Tradovate adapter: one socket at a time, each request matched to its
answer by id, every other frame handed to the adapter (:class:`StreamHandler`).

A request waits for its answer at most ``request_timeout_s``; no answer by then makes its outcome
ambiguous (ask the broker, never resend). While the stream is down, or when a write fails so that
nothing was sent, a request waits for the resync up to ``reconnect_wait_s``. A request written to
a socket that then went away fails with :class:`~adapters.tradovate.rest.Lost`, so that the order
path asks the broker before anything is sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp

from adapters.base import AmbiguousOutcome, BrokerError, Disconnected
from adapters.kit.tasks import TaskGroup
from adapters.tradovate.frames import (
    HEARTBEAT,
    FrameError,
    Response,
    classify,
    encode_request,
    parse_server_frame,
)
from adapters.tradovate.rest import Lost

log = logging.getLogger("copytui.adapters.tradovate")

_CLOSE_TYPES = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)


def frame_writer(ws: aiohttp.ClientWebSocketResponse) -> Callable[[bytes], None] | None:
    """aiohttp's own synchronous write of one frame (header, mask, payload: one transport write),
    called without the coroutine ``send_str`` wraps around it: a few microseconds less for each
    follower order. It is a private method: looked up when the socket opens, and where this aiohttp
    has none, or compresses frames, ``send_str`` is used. Flow control is the transport's: a slow
    socket's frames wait in its buffer, in order."""
    writer = getattr(ws, "_writer", None)
    write = getattr(writer, "_write_websocket_frame", None)
    if write is None or getattr(writer, "compress", False) or ws.compress:
        return None

    def text_frame(payload: bytes) -> None:
        write(payload, aiohttp.WSMsgType.TEXT, 0)

    return text_frame


class _NoAnswer(Exception):
    """No answer to a request within ``request_timeout_s``."""


class StreamHandler(Protocol):
    """What the link hands over to the adapter: the frames that answer no request, and the end of
    a socket that was not closed on purpose."""

    async def on_props(self, data: Any, recv_ns: int) -> None: ...

    def on_shutdown(self, data: Any) -> str:
        """The server announced its end of the stream: the reason to report."""
        ...

    def on_bad(self, exc: BrokerError) -> None: ...

    def on_lost(self, reason: str) -> None: ...


class Link:
    def __init__(
        self,
        account: str,
        handler: StreamHandler,
        tasks: TaskGroup,
        *,
        request_timeout_s: float,
        reconnect_wait_s: float,
        idle_timeout_s: float,
    ) -> None:
        self.account = account
        self.handler = handler
        self.tasks = tasks
        self.request_timeout_s = request_timeout_s
        self.reconnect_wait_s = reconnect_wait_s
        self.idle_timeout_s = idle_timeout_s
        self.ready = asyncio.Event()
        """Set while a socket is open and synced: requests go out at once."""
        self.closing = False
        """Set by ``stop`` (disconnect): a socket ending now is not reported lost."""
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._write: Callable[[bytes], None] | None = None
        """Writes one text frame to ``_ws`` at once (see ``frame_writer``); None: ``send_str``."""
        self._gen = 0
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Response]] = {}

    # ------------------------------------------------------------ socket
    async def open(self, session: aiohttp.ClientSession, url: str, token: str) -> int:
        """Open a socket and authorize it with ``token``: the status of the answer. On 200 the
        socket is the link's and read from now on (the adapter sets ``ready`` once it is synced);
        otherwise it is closed again."""
        ws = await session.ws_connect(url, autoping=True, compress=0, max_msg_size=0)
        self._gen += 1
        try:
            frame = parse_server_frame(await self._receive_text(ws))
            if frame.kind != "open":
                raise FrameError(f"expected the 'o' open frame first, got a {frame.kind} frame")
            await ws.send_str(encode_request("authorize", 0, token))
            status = await self._await_response(ws, 0)
        except BaseException:
            await _close(ws)
            raise
        if status != 200:
            await _close(ws)
            return status
        self._ws = ws
        self._write = frame_writer(ws)
        self.tasks.spawn(self._reader(ws, self._gen), f"tradovate-reader-{self.account}")
        return status

    async def discard(self) -> None:
        """The socket just opened could not be synced: closed, and not reported lost."""
        self._gen += 1
        ws, self._ws = self._ws, None
        await _close(ws)

    def start(self) -> None:
        self.closing = False

    def stop(self) -> None:
        """Disconnecting: nothing is sent any more and the socket's end is expected."""
        self.closing = True
        self.ready.clear()

    async def close(self, why: BrokerError) -> None:
        """Requests still waiting fail with ``why``; the socket is closed."""
        self.fail_pending(why)
        ws, self._ws = self._ws, None
        await _close(ws)

    async def beat(self) -> None:
        """One ``[]`` heartbeat, when a socket is open."""
        ws = self._ws
        if ws is not None and not ws.closed:
            with contextlib.suppress(Exception):
                await ws.send_str(HEARTBEAT)

    async def _receive_text(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        msg = await ws.receive(timeout=self.request_timeout_s)
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise Disconnected(f"tradovate WebSocket closed during the handshake ({msg.type.name})")
        return str(msg.data)

    async def _await_response(self, ws: aiohttp.ClientWebSocketResponse, request_id: int) -> int:
        while True:
            frame = parse_server_frame(await self._receive_text(ws))
            if frame.kind == "close":
                raise Disconnected(f"tradovate closed the WebSocket: {frame.code} {frame.reason}")
            for item in frame.items:
                msg = classify(item)
                if isinstance(msg, Response) and msg.id == request_id:
                    return msg.status

    # ---------------------------------------------------------- requests
    async def call(self, endpoint: str, body: Any, *, wait_ready: bool = True) -> tuple[int, Response]:
        """Write one request and wait for its answer: (written at, perf_counter ns; the answer)."""
        deadline = time.monotonic() + self.reconnect_wait_s
        while True:
            ws = self._ws
            if wait_ready and not self.ready.is_set() or ws is None or ws.closed:
                if not wait_ready:
                    raise Disconnected(f"tradovate stream of {self.account} is down: {endpoint} was not sent")
                try:
                    await asyncio.wait_for(self.ready.wait(), max(deadline - time.monotonic(), 0.0))
                except TimeoutError:
                    raise Disconnected(f"tradovate stream of {self.account} is down: {endpoint} was not sent") from None
                continue
            rid = next(self._ids)
            fut: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
            self._pending[rid] = fut
            try:
                text = encode_request(endpoint, rid, body)
                if (write := self._write) is not None:
                    write(text.encode())
                else:
                    await ws.send_str(text)
            except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
                self._pending.pop(rid, None)
                log.info("tradovate %s: %s not written (%s); waiting for the stream", self.account, endpoint, exc)
                if not wait_ready:
                    raise Disconnected(f"tradovate {endpoint} was not sent: {exc}") from None
                while self._ws is ws and time.monotonic() < deadline:  # until the reader reopens it
                    await asyncio.sleep(0.01)
                continue
            sent = time.perf_counter_ns()
            break
        # a bare timer instead of asyncio.wait_for: a few microseconds less per order on the hot path
        timer = asyncio.get_running_loop().call_later(self.request_timeout_s, self._expire, rid)
        try:
            resp = await fut
        except _NoAnswer:
            raise AmbiguousOutcome(f"tradovate {endpoint}: no answer within {self.request_timeout_s:g}s") from None
        except Lost as exc:
            exc.sent_ns = sent
            raise
        finally:
            timer.cancel()
        return sent, resp

    async def wait_ready(self, timeout_s: float) -> bool:
        """Whether the stream is (back) up within ``timeout_s``."""
        try:
            await asyncio.wait_for(self.ready.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def _expire(self, rid: int) -> None:
        fut = self._pending.pop(rid, None)
        if fut is not None and not fut.done():
            fut.set_exception(_NoAnswer())

    def fail_pending(self, exc: Exception) -> None:
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(exc)

    # ------------------------------------------------------------ reader
    async def _reader(self, ws: aiohttp.ClientWebSocketResponse, gen: int) -> None:
        reason = "closed by the server"
        try:
            while True:
                msg = await ws.receive(timeout=self.idle_timeout_s)
                recv_ns = time.perf_counter_ns()
                if msg.type is aiohttp.WSMsgType.TEXT:
                    closed = await self._on_text(str(msg.data), recv_ns)
                    if closed:
                        reason = closed
                        break
                elif msg.type in _CLOSE_TYPES:
                    break
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    reason = f"socket error: {ws.exception()}"
                    break
        except TimeoutError:
            reason = f"no frame for {self.idle_timeout_s:g}s"
        except (aiohttp.ClientError, ConnectionError) as exc:
            reason = f"socket error: {exc}"
        if gen == self._gen and not self.closing:
            await self._lost(reason)

    async def _on_text(self, text: str, recv_ns: int) -> str | None:
        """Handle one frame; a reason string when the server ended the stream."""
        try:
            frame = parse_server_frame(text)
        except FrameError as exc:
            self.handler.on_bad(exc)
            return None
        if frame.kind == "close":
            return f"server closed the stream: {frame.code} {frame.reason}"
        for item in frame.items:
            try:
                msg = classify(item)
            except FrameError as exc:
                self.handler.on_bad(exc)
                continue
            if isinstance(msg, Response):
                fut = self._pending.pop(msg.id, None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)
            elif msg.name == "props":
                await self.handler.on_props(msg.data, recv_ns)
            elif msg.name == "shutdown":
                return self.handler.on_shutdown(msg.data)
        return None

    async def _lost(self, reason: str) -> None:
        self.ready.clear()
        ws, self._ws = self._ws, None
        self.handler.on_lost(reason)
        self.fail_pending(Lost(reason))
        await _close(ws)


async def _close(ws: aiohttp.ClientWebSocketResponse | None) -> None:
    if ws is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 1.0)
