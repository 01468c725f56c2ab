"""The DTC connection of one ``connect()``: sessions one after another until ``close()``.

A session is one TCP connection: (optionally the binary ENCODING_REQUEST), LOGON_REQUEST, the
LOGON_RESPONSE checked (trading allowed), TRADE_ACCOUNTS_REQUEST checked against the configured
trade account, then frames read until the connection ends. HEARTBEATs go out every
``heartbeat_interval_s``; nothing from the server for ``idle_timeout_s`` ends the session. The
adapter's ``on_up`` hook runs before the session is reported up (the first connect learns what
the account has; a later one resyncs what happened meanwhile); ``on_down`` is told why a session
ended, so that requests in flight are answered. Then the link waits (:class:`Backoff`, reset after
a session that worked) and opens the next; a LOGOFF with DoNotReconnect or a logon refused with
"no reconnect" stops it (``HealthState.STOPPED``).

A server whose Encoding setting is not JSON answers the JSON logon with binary bytes (or its
encoding response says another encoding): that is refused with what to change in Sierra Chart.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.base import AuthFailed, BrokerError, Disconnected, Health, HealthState
from adapters.kit.session import Backoff
from adapters.sierrachart import messages as m
from adapters.sierrachart.options import SierraChartOptions
from adapters.sierrachart.requests import ANSWERS, Collect, int_field
from adapters.sierrachart.wire import (
    ENCODING_MESSAGE_SIZE,
    ENCODING_REQUEST_JSON,
    PROTOCOL_VERSION,
    Encoding,
    FrameError,
    Framer,
    LogonResult,
    Msg,
    decode,
    encode,
    looks_binary,
    parse_encoding_message,
)

log = logging.getLogger("copytui.adapters.sierrachart")

SET_JSON = (
    "set the DTC server's encoding to JSON (Sierra Chart: Global Settings >> Sierra Chart Server Settings >> "
    "DTC Protocol Server >> Encoding: JSON)"
)
MAX_RECONNECT_DELAY_S = 5.0


class EncodingRefused(BrokerError):
    """The server does not speak DTC JSON on this port."""


class TradingNotAllowed(BrokerError):
    """The DTC server's Allow Trading is off."""


class SessionEnded(BrokerError):
    def __init__(self, reason: str, reconnect: bool = True) -> None:
        super().__init__(reason)
        self.reconnect = reconnect


class LogonRefused(AuthFailed):
    def __init__(self, reason: str, reconnect: bool = True) -> None:
        super().__init__(reason)
        self.reconnect = reconnect


@dataclass
class Session:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    peer: str
    framer: Framer = field(default_factory=Framer)
    backlog: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    last_read: float = field(default_factory=time.monotonic)


class DtcLink:
    def __init__(
        self,
        account: str,
        host: str,
        port: int,
        opts: SierraChartOptions,
        health: Health,
        *,
        credentials: Callable[[], tuple[str, str]],
        trade_account: str | None,
        on_message: Callable[[dict[str, Any], int], None],
        on_up: Callable[[bool], Awaitable[None]],
        on_down: Callable[[str], None],
        on_bad_frame: Callable[[str], None],
    ) -> None:
        self.account, self.host, self.port, self.opts, self.health = account, host, port, opts, health
        self.credentials = credentials
        self.trade_account = trade_account
        self.on_message, self.on_up, self.on_down, self.on_bad_frame = on_message, on_up, on_down, on_bad_frame
        self.backoff = Backoff(opts.reconnect_delay_s, MAX_RECONNECT_DELAY_S)
        self.ready = asyncio.Event()
        self.first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.session: Session | None = None
        self.peer = host
        self.accounts: list[str] = []
        self._requests: dict[int, Collect] = {}
        self._ids = itertools.count(1)
        self._closing = False

    # ------------------------------------------------------------ sessions
    async def run(self) -> None:
        """Sessions until closed; the first one's failure is ``connect()``'s (``first``)."""
        while not self._closing:
            tasks: list[asyncio.Task[None]] = []
            try:
                session = await self._open()
                loop = asyncio.get_running_loop()
                reader = loop.create_task(self._read(session), name=f"sierrachart-read-{self.account}")
                tasks = [reader, loop.create_task(self._upkeep(session), name=f"sierrachart-beat-{self.account}")]
                await self._check_account()
                await self.on_up(not self.first.done())
                self.ready.set()
                if self.first.done():
                    self.health.reconnected()
                else:
                    self.health.up(f"DTC {self.peer}:{self.port} trade account {self.trade_account}")
                    self.first.set_result(None)
                self.backoff.reset()
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # how the session ended
                raise SessionEnded("the session ended")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._ended(exc):
                    return
            finally:
                self._teardown(tasks)
            await asyncio.sleep(self.backoff.next())

    def _ended(self, exc: Exception) -> bool:
        """Said and counted; False when the link must stop (the first session failed, or no reconnect)."""
        why = str(exc) or type(exc).__name__
        if not isinstance(exc, BrokerError | OSError | FrameError | TimeoutError):
            log.exception("Sierra Chart %s: the DTC session failed", self.account)
            why = f"{type(exc).__name__}: {exc}"
        self.on_down(why)
        if not self.first.done():
            self.first.set_exception(exc if isinstance(exc, BrokerError) else Disconnected(f"Sierra Chart DTC: {why}"))
            return False
        if self._closing:
            return False
        if isinstance(exc, SessionEnded | LogonRefused) and not exc.reconnect:
            log.error("Sierra Chart %s: the server said not to reconnect: %s", self.account, why)
            self.health.down(HealthState.STOPPED, why)
            return False
        log.warning("Sierra Chart %s: DTC connection down: %s", self.account, why)
        self.health.lost(why)
        return True

    def _teardown(self, tasks: list[asyncio.Task[None]]) -> None:
        self.ready.clear()
        for task in tasks:
            task.cancel()
        for pending in self._requests.values():
            if not pending.future.done():
                pending.future.set_exception(Disconnected(f"Sierra Chart {self.account}: the DTC connection closed"))
        self._requests.clear()
        if self.session is not None:
            self.session.writer.close()
            self.session = None

    @property
    def closing(self) -> bool:
        return self._closing

    async def close(self) -> None:
        self._closing = True
        if self.session is not None:
            with contextlib.suppress(OSError):
                self.session.writer.write(encode(Msg.LOGOFF, {"Reason": "copytui disconnecting", "DoNotReconnect": 1}))
            self.session.writer.close()

    async def _open(self) -> Session:
        opts = self.opts
        if not self.first.done():
            self.health.connecting(f"DTC {self.host}:{self.port}")
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), opts.connect_timeout_s
            )
        except (OSError, TimeoutError) as exc:
            raise Disconnected(f"cannot reach the DTC server at {self.host}:{self.port}: {exc or 'timeout'}") from None
        peer = writer.get_extra_info("peername")
        session = Session(reader, writer, str(peer[0]) if peer else self.host)
        try:
            if opts.encoding_request:
                await self._negotiate(session)
            user, password = await asyncio.to_thread(self.credentials)  # the keyring blocks on D-Bus
            logon = {"ProtocolVersion": PROTOCOL_VERSION, "Username": user, "Password": password,
                     "HeartbeatIntervalInSeconds": opts.heartbeat_interval_s, "TradeAccount": self.trade_account or "",
                     "ClientName": "copytui"}  # fmt: skip
            writer.write(encode(Msg.LOGON_REQUEST, logon))
            answer = await asyncio.wait_for(self._logon_answer(session), opts.connect_timeout_s)
        except TimeoutError:
            writer.close()
            raise Disconnected(
                f"the DTC server at {self.host}:{self.port} did not answer the logon within "
                f"{opts.connect_timeout_s:g}s: if its encoding is not JSON, {SET_JSON}"
            ) from None
        except BaseException:
            writer.close()
            raise
        self._check_logon(answer)
        self.session, self.peer = session, session.peer
        return session

    async def _negotiate(self, session: Session) -> None:
        session.writer.write(ENCODING_REQUEST_JSON)
        data = await asyncio.wait_for(session.reader.readexactly(ENCODING_MESSAGE_SIZE), self.opts.connect_timeout_s)
        try:
            _, encoding = parse_encoding_message(data)
        except FrameError as exc:
            raise EncodingRefused(
                f"the DTC server's answer to ENCODING_REQUEST is not one ({exc}): {SET_JSON}"
            ) from None
        if encoding != Encoding.JSON:
            name = Encoding(encoding).name if encoding in Encoding._value2member_map_ else str(encoding)
            raise EncodingRefused(f"the DTC server refused JSON encoding (it answered {name}): {SET_JSON}")

    async def _logon_answer(self, session: Session) -> m.LogonResponse:
        while True:
            data = await session.reader.read(65536)
            if not data:
                raise Disconnected(
                    f"the DTC server at {self.host}:{self.port} closed the connection without answering the logon "
                    f"(is Enable DTC Protocol Server on and its encoding JSON? {SET_JSON})"
                )
            recv_ns = time.perf_counter_ns()
            if session.framer.pending == 0 and looks_binary(data):
                raise EncodingRefused(f"the DTC server answered in a binary encoding, not JSON: {SET_JSON}")
            answer: m.LogonResponse | None = None
            for frame in session.framer.feed(data):
                try:
                    msg = decode(frame)
                except FrameError as exc:
                    if looks_binary(frame):
                        raise EncodingRefused(f"the DTC server answered in a binary encoding: {SET_JSON}") from None
                    raise Disconnected(f"the DTC server's answer to the logon is not DTC JSON: {exc}") from None
                if answer is not None:
                    session.backlog.append((msg, recv_ns))
                elif msg["Type"] == Msg.LOGON_RESPONSE:
                    answer = m.logon_response(msg)
                elif msg["Type"] == Msg.LOGOFF:
                    text = m.server_text(msg) or "no reason given"
                    reconnect = int_field(msg, "DoNotReconnect") != 1
                    raise LogonRefused(f"Sierra Chart refused the DTC logon of {self.account}: {text}", reconnect)
            if answer is not None:
                return answer

    def _check_logon(self, answer: m.LogonResponse) -> None:
        text = answer.text or "no reason given"
        if answer.result == LogonResult.SUCCESS:
            if not answer.trading_supported:
                raise TradingNotAllowed(
                    "the DTC server does not allow trading: enable Global Settings >> Sierra Chart Server Settings "
                    ">> DTC Protocol Server >> Allow Trading"
                )
            return
        if answer.result == LogonResult.RECONNECT_NEW_ADDRESS:
            raise Disconnected(f"the DTC server asks to reconnect elsewhere ({text}); copytui does not follow it")
        raise LogonRefused(
            f"Sierra Chart refused the DTC logon of {self.account}: {text} "
            f"(the DTC server's username and password: copytui accounts add {self.account})",
            reconnect=answer.result != LogonResult.ERROR_NO_RECONNECT,
        )

    async def _check_account(self) -> None:
        found = [
            m.text(a, "TradeAccount", "TRADE_ACCOUNT_RESPONSE")
            for a in await self.request(Msg.TRADE_ACCOUNTS_REQUEST, {})
        ]
        self.accounts = [a for a in found if a]
        want = self.trade_account
        if want is None:
            if len(self.accounts) != 1:
                listed = ", ".join(self.accounts) or "none"
                raise BrokerError(
                    f"Sierra Chart has {len(self.accounts)} trade accounts ({listed}): set account_id to one"
                )
            self.trade_account = self.accounts[0]
            return
        same = [a for a in self.accounts if a.casefold() == want.casefold()]
        if not same:
            listed = ", ".join(self.accounts) or "none"
            raise BrokerError(f"Sierra Chart has no trade account {want!r}; it has {listed}: fix account_id")
        self.trade_account = same[0]  # the server's own spelling

    # ------------------------------------------------------------ reading
    async def _read(self, session: Session) -> None:
        for msg, recv_ns in session.backlog:
            self._dispatch(msg, recv_ns)
        session.backlog.clear()
        reader, framer = session.reader, session.framer
        while True:
            data = await reader.read(65536)
            if not data:
                raise SessionEnded("the DTC server closed the connection")
            recv_ns = time.perf_counter_ns()
            session.last_read = time.monotonic()
            try:
                frames = framer.feed(data)
            except FrameError as exc:
                self.on_bad_frame(str(exc))
                continue
            for frame in frames:
                try:
                    msg = decode(frame)
                except FrameError as exc:
                    self.on_bad_frame(str(exc))
                    continue
                self._dispatch(msg, recv_ns)

    def _dispatch(self, msg: dict[str, Any], recv_ns: int) -> None:
        t = msg["Type"]
        if t == Msg.HEARTBEAT:
            return
        if t == Msg.LOGOFF:
            try:
                text = m.server_text(msg) or "no reason given"
            except FrameError:
                text = "no readable reason"
            raise SessionEnded(
                f"Sierra Chart logged the session off: {text}", reconnect=int_field(msg, "DoNotReconnect") != 1
            )
        if t in ANSWERS:
            pending = self._requests.get(int_field(msg, "RequestID"))
            if pending is not None:
                pending.add(msg)
                return
        self.on_message(msg, recv_ns)

    async def _upkeep(self, session: Session) -> None:
        """HEARTBEATs out every heartbeat_interval_s; a server silent for idle_timeout_s ends the session."""
        beat = encode(Msg.HEARTBEAT, {"NumDroppedMessages": 0, "CurrentDateTime": 0})
        interval = float(self.opts.heartbeat_interval_s)
        check = min(interval, self.opts.idle_timeout_s / 4)
        last_beat = time.monotonic()
        while True:
            await asyncio.sleep(check)
            now = time.monotonic()
            if now - session.last_read > self.opts.idle_timeout_s:
                raise SessionEnded(f"no frame from the DTC server for {now - session.last_read:.1f}s")
            if now - last_beat >= interval:
                session.writer.write(beat)
                last_beat = now

    # ------------------------------------------------------------ writing
    def send(self, data: bytes) -> None:
        """Write one encoded message now; Disconnected when no session is open (nothing written)."""
        session = self.session
        if session is None or session.writer.is_closing():
            raise Disconnected(f"Sierra Chart {self.account}: the DTC connection is down")
        session.writer.write(data)

    async def wait_ready(self, timeout_s: float) -> bool:
        if self.ready.is_set():
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ready.wait(), timeout_s)
        return self.ready.is_set()

    async def request(self, msg_type: int, fields: dict[str, Any]) -> list[dict[str, Any]]:
        """Send a request with a fresh RequestID; its answers, once the server says they are complete."""
        rid = next(self._ids)
        pending = Collect(asyncio.get_running_loop().create_future())
        self._requests[rid] = pending
        try:
            self.send(encode(msg_type, {"RequestID": rid, **fields}))
            return await asyncio.wait_for(pending.future, self.opts.request_timeout_s)
        except TimeoutError:
            raise BrokerError(
                f"Sierra Chart {self.account}: no complete answer to {Msg(msg_type).name} within "
                f"{self.opts.request_timeout_s:g}s"
            ) from None
        finally:
            self._requests.pop(rid, None)
