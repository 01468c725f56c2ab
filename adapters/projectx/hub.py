"""The ProjectX user hub over a WebSocket: negotiate (optional), handshake, subscribe, read.

One :class:`UserHub` is one connection; the adapter makes a new one after a drop. Messages are
handed to ``on_invocation(target, arguments, recv_ns)`` in arrival order, with ``recv_ns`` read
right after the frame came off the socket. The token travels as ``?access_token=`` (the gateway's
documented way); no text this module raises or logs carries the URL with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import time
from collections.abc import Callable
from typing import Any
from urllib import parse

import aiohttp

from adapters.base import AuthFailed, BrokerError, Disconnected
from adapters.projectx import signalr
from adapters.projectx.signalr import MessageType, SignalRProtocolError

log = logging.getLogger("copytui.adapters.projectx.hub")

OnInvocation = Callable[[str, list[Any], int], None]
_TOKEN_RE = re.compile(r"(access_token=)[^&\s'\"]+")


def redact(text: str) -> str:
    return _TOKEN_RE.sub(r"\1***", text)


class HubClosed(Disconnected):
    """The hub connection ended; ``allow_reconnect`` is False only when the server said so."""

    def __init__(self, message: str, allow_reconnect: bool = True) -> None:
        super().__init__(message)
        self.allow_reconnect = allow_reconnect


class UserHub:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        hub_url: str,
        token: str,
        on_invocation: OnInvocation,
        *,
        negotiate: bool = False,
        ping_interval_s: float = 15.0,
        server_timeout_s: float = 30.0,
        open_timeout_s: float = 10.0,
    ) -> None:
        self.session = session
        self.hub_url = hub_url
        self._token = token
        self.on_invocation = on_invocation
        self.negotiate = negotiate
        self.ping_interval_s = ping_interval_s
        self.server_timeout_s = server_timeout_s
        self.open_timeout_s = open_timeout_s
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.decoder = signalr.FrameDecoder()
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self.protocol_errors: list[str] = []

    def _url_with_token(self) -> str:
        scheme, netloc, path, query, _ = parse.urlsplit(self.hub_url)
        q = [*parse.parse_qsl(query), ("access_token", self._token)]
        return parse.urlunsplit((scheme, netloc, path, parse.urlencode(q), ""))

    # ------------------------------------------------------------ opening
    async def open(self) -> None:
        url = self._url_with_token()
        conn_id = None
        try:
            if self.negotiate:
                conn_id = await self._negotiate(url)
            self.ws = await self.session.ws_connect(
                signalr.websocket_url(url, conn_id),
                autoping=True,
                heartbeat=None,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0),
                max_msg_size=8 * 1024 * 1024,
            )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status == 401:
                raise AuthFailed("ProjectX user hub refused the session token (401)") from None
            raise Disconnected(f"ProjectX user hub refused the WebSocket upgrade: HTTP {exc.status}") from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise Disconnected(
                f"cannot reach the ProjectX user hub: {redact(str(exc)) or type(exc).__name__}"
            ) from None
        await self.ws.send_str(signalr.HANDSHAKE_REQUEST)
        msg = await self._receive(self.open_timeout_s)
        try:
            rest = signalr.parse_handshake_response(msg)
        except SignalRProtocolError as exc:
            await self.close()
            raise BrokerError(f"ProjectX user hub: {exc}") from None
        if rest:
            self._dispatch(rest, time.perf_counter_ns())

    async def _negotiate(self, url: str) -> str:
        async with self.session.post(
            signalr.negotiate_url(url), timeout=aiohttp.ClientTimeout(total=self.open_timeout_s)
        ) as resp:
            if resp.status == 401:
                raise AuthFailed("ProjectX user hub negotiate refused the session token (401)")
            if resp.status != 200:
                raise Disconnected(f"ProjectX user hub negotiate answered HTTP {resp.status}")
            try:
                data = await resp.json(content_type=None)
                return signalr.connection_id(data)
            except (ValueError, SignalRProtocolError) as exc:
                raise BrokerError(f"ProjectX user hub negotiate: {exc}") from None

    async def _receive(self, timeout_s: float) -> str:
        assert self.ws is not None
        try:
            msg = await self.ws.receive(timeout=timeout_s)
        except TimeoutError:
            raise HubClosed(f"ProjectX user hub sent nothing for {timeout_s:g}s") from None
        if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            return msg.data if isinstance(msg.data, str) else msg.data.decode("utf-8", "replace")
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
            raise HubClosed(f"ProjectX user hub closed the WebSocket (code {self.ws.close_code})")
        if msg.type is aiohttp.WSMsgType.ERROR:
            raise HubClosed(f"ProjectX user hub WebSocket error: {redact(str(msg.data))}")
        raise HubClosed(f"ProjectX user hub sent an unexpected WebSocket frame {msg.type!r}")

    # --------------------------------------------------------- invocations
    async def invoke(self, target: str, *args: Any, timeout_s: float = 5.0) -> Any:
        """Invoke a hub method and wait for its completion (the reader must be running)."""
        assert self.ws is not None
        inv_id = str(next(self._ids))
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[inv_id] = fut
        try:
            await self.ws.send_str(signalr.invocation(target, list(args), inv_id))
            return await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            raise BrokerError(f"ProjectX user hub did not complete {target} within {timeout_s:.0f}s") from None
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise HubClosed(f"ProjectX user hub send failed: {type(exc).__name__}") from None
        finally:
            self._pending.pop(inv_id, None)

    # ------------------------------------------------------------- reading
    async def run(self) -> None:
        """Read until the connection ends; always raises HubClosed (or is cancelled)."""
        assert self.ws is not None
        pinger = asyncio.get_running_loop().create_task(self._keepalive(), name="projectx-hub-keepalive")
        try:
            while True:
                data = await self._receive(self.server_timeout_s)
                self._dispatch(data, time.perf_counter_ns())
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(HubClosed("ProjectX user hub connection ended"))

    async def _keepalive(self) -> None:
        assert self.ws is not None
        while not self.ws.closed:
            await asyncio.sleep(self.ping_interval_s)
            with contextlib.suppress(aiohttp.ClientError, ConnectionError):
                await self.ws.send_str(signalr.ping())

    def _dispatch(self, data: str, recv_ns: int) -> None:
        try:
            messages = self.decoder.feed(data)
        except SignalRProtocolError as exc:
            self._protocol_error(str(exc))
            return
        for msg in messages:
            try:
                kind = signalr.message_type(msg)
            except SignalRProtocolError as exc:
                self._protocol_error(str(exc))
                continue
            if kind is MessageType.INVOCATION:
                target, args = msg.get("target"), msg.get("arguments", [])
                if not isinstance(target, str) or not isinstance(args, list):
                    self._protocol_error(f"invocation without a string 'target' and a list 'arguments': {msg!r:.120}")
                    continue
                self.on_invocation(target, args, recv_ns)
            elif kind is MessageType.COMPLETION:
                fut = self._pending.get(str(msg.get("invocationId")))
                if fut is not None and not fut.done():
                    if msg.get("error"):
                        fut.set_exception(BrokerError(f"ProjectX user hub: {msg['error']}"))
                    else:
                        fut.set_result(msg.get("result"))
            elif kind is MessageType.CLOSE:
                allow = msg.get("allowReconnect")
                raise HubClosed(
                    f"ProjectX user hub closed the session: {msg.get('error') or 'no reason given'}",
                    allow_reconnect=allow is not False,
                )
            # pings need no answer (our keepalive runs on its own clock); other types are ignored

    def _protocol_error(self, text: str) -> None:
        log.warning("ProjectX user hub: skipped a bad frame: %s", text)
        self.protocol_errors.append(text)

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            with contextlib.suppress(aiohttp.ClientError, ConnectionError, RuntimeError):
                await self.ws.send_str(signalr.close())
            with contextlib.suppress(aiohttp.ClientError, ConnectionError, RuntimeError, TimeoutError):
                await self.ws.close()
