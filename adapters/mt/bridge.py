"""copytui's end of the bridge: one TCP listener per address in the process, and the terminals
that dial it.

A terminal's EA connects, copytui challenges it, and its hello names the account (the login) and
proves it knows that account's token (:func:`adapters.mt.protocol.proof`). The hello binds the
connection to the adapter that claimed the login (:class:`Owner`); a login nobody claimed yet
waits a few seconds (the process's adapters connect together), then is refused. A wrong token,
a wrong server or an unknown login is answered ``refused`` and told to the owner (its health
counts it: journaled and alerted by the engine). A second connection for one login replaces the
first (a terminal that restarted before its old socket timed out).

:class:`TerminalLink` is one authenticated connection: sequence numbers both ways, requests and
their replies, events acknowledged, heartbeats, and silence detection.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import time
from typing import ClassVar, Protocol

from adapters.mt.protocol import (
    MAX_LINE,
    VERSION,
    Ack,
    Challenge,
    DealEvent,
    Heartbeat,
    Hello,
    Message,
    OrderEvent,
    Refused,
    Reply,
    Request,
    Welcome,
)
from adapters.mt.wire import SeqCheck, WireError, decode_terminal, encode, proof

log = logging.getLogger("copytui.adapters.mt")

HELLO_WAIT_S = 10.0
"""A terminal that dialed must say hello within this."""
UNCLAIMED_WAIT_S = 10.0
"""A hello for a login no adapter claimed yet waits this long for one."""
SILENT_BEATS = 3


class LinkClosed(ConnectionError):
    """The terminal's connection ended; the request's outcome is unknown."""


class Owner(Protocol):
    """The adapter a terminal binds to (by login)."""

    login: int
    expected_server: str | None
    heartbeat_s: float

    def token(self) -> str | None: ...

    def attach(self, link: TerminalLink) -> None: ...

    def detach(self, link: TerminalLink, why: str) -> None: ...

    def refused(self, why: str) -> None:
        """A terminal claiming this account was turned away (wrong token, wrong server)."""

    def dropped(self, why: str) -> None:
        """A line from the terminal was refused at the edge."""

    def gap(self) -> None:
        """A line from the terminal was lost: what it said must be read back (a resync)."""

    def event(self, message: OrderEvent | DealEvent) -> None: ...


class TerminalLink:
    """One authenticated terminal connection, until it closes."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        hello: Hello,
        owner: Owner,
        peer: str,
        sent: int,
    ) -> None:
        self.reader, self.writer = reader, writer
        self.hello, self.owner, self.peer = hello, owner, peer
        self._out = sent
        self._in = SeqCheck()
        self._in.take(hello.seq)
        self._pending: dict[int, asyncio.Future[Reply]] = {}
        self._last_tx = time.monotonic()
        self.closed = asyncio.Event()
        self.why = ""
        self.session = secrets.token_hex(8)
        self.started_mono = time.monotonic()

    @property
    def login(self) -> int:
        return self.hello.login

    def terminal_now_ms(self) -> int:
        """The trade server's clock now, from the hello's reading of it."""
        return self.hello.time_ms + int((time.monotonic() - self.started_mono) * 1000)

    def send(self, message: Message) -> int:
        """Write one message now; its sequence number."""
        if self.closed.is_set():
            raise LinkClosed(f"terminal {self.login} is not connected ({self.why})")
        self._out += 1
        self.writer.write(encode(message.model_copy(update={"seq": self._out})))
        self._last_tx = time.monotonic()
        return self._out

    async def request(self, request: Request, timeout_s: float) -> Reply:
        """Send ``request`` and wait for its reply: :class:`LinkClosed` or TimeoutError when none came."""
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        seq = self.send(request)
        self._pending[seq] = future
        try:
            async with asyncio.timeout(timeout_s):
                await self.writer.drain()
                return await future
        except ConnectionError as exc:
            raise LinkClosed(f"terminal {self.login}: {exc or 'connection lost'}") from None
        finally:
            self._pending.pop(seq, None)

    def close(self, why: str) -> None:
        if self.closed.is_set():
            return
        self.why = why
        self.closed.set()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(LinkClosed(f"terminal {self.login}: {why}"))
        self.writer.close()

    async def run(self) -> str:
        """Read until the connection ends; why it ended."""
        beat = asyncio.get_running_loop().create_task(self._beat(), name=f"mt-heartbeat-{self.login}")
        try:
            while not self.closed.is_set():
                try:
                    async with asyncio.timeout(self.owner.heartbeat_s * SILENT_BEATS):
                        line = await self.reader.readline()
                except TimeoutError:
                    self.close(f"silent for {self.owner.heartbeat_s * SILENT_BEATS:g}s")
                    break
                except ValueError:
                    self.close(f"sent a line longer than {MAX_LINE} bytes")
                    break
                except ConnectionError as exc:
                    self.close(f"connection lost: {exc}")
                    break
                if not line:
                    self.close("the terminal closed the connection")
                    break
                self._on_line(line)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            self.close(self.why or "closed")
        return self.why

    async def _beat(self) -> None:
        interval = self.owner.heartbeat_s
        while True:
            await asyncio.sleep(interval / 2)
            if time.monotonic() - self._last_tx >= interval and not self.closed.is_set():
                self.send(Heartbeat())

    def _on_line(self, line: bytes) -> None:
        owner = self.owner
        try:
            message = decode_terminal(line)
        except WireError as exc:
            owner.dropped(f"terminal {self.login}: {exc}")
            if exc.seq is not None:
                self._in.take(exc.seq)
            owner.gap()
            return
        if message.seq <= self._in.last:
            owner.dropped(f"terminal {self.login}: seq {message.seq} repeats (last was {self._in.last})")
            return
        lost = self._in.take(message.seq)
        if lost is not None:
            owner.dropped(f"terminal {self.login}: {lost}")
            owner.gap()
        if isinstance(message, Reply):
            future = self._pending.get(message.re)
            if future is None or future.done():
                owner.dropped(f"terminal {self.login}: reply to request {message.re}, which no longer waits (late)")
            else:
                future.set_result(message)
        elif isinstance(message, OrderEvent | DealEvent):
            try:
                owner.event(message)
            except Exception as exc:  # a bug on our side must not end the terminal's session
                log.exception("MetaTrader terminal %s: event %s failed", self.login, message.seq)
                owner.dropped(f"terminal {self.login}: event {message.seq} failed: {type(exc).__name__}: {exc}")
            self.send(Ack(upto=message.seq))
        elif isinstance(message, Hello):
            owner.dropped(f"terminal {self.login}: a second hello on one connection")


class BridgeServer:
    """The listener on one address, shared by every account of the process that names it."""

    _shared: ClassVar[dict[tuple[int, str, int], BridgeServer]] = {}

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.owners: dict[int, Owner] = {}
        self.links: dict[int, TerminalLink] = {}
        self._server: asyncio.Server | None = None
        self._claimed = asyncio.Condition()
        self._started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @classmethod
    async def claim(cls, host: str, port: int, owner: Owner) -> BridgeServer:
        """Bind ``owner`` to its login on the listener at host:port, starting it if needed.
        OSError when the address cannot be listened on; ValueError when the login is taken."""
        key = (id(asyncio.get_running_loop()), host, port)
        server = cls._shared.get(key)
        if server is None:
            server = cls._shared[key] = cls(host, port)  # the accounts connecting with this one wait for it
            try:
                await server._start()
            except BaseException as exc:
                del cls._shared[key]
                server._started.set_exception(exc)
                server._started.exception()  # retrieved: each waiting account raises it itself
                raise
            server._started.set_result(None)
        else:
            await asyncio.shield(server._started)
        await server._bind(owner)
        return server

    async def release(self, owner: Owner) -> None:
        if self.owners.get(owner.login) is owner:
            del self.owners[owner.login]
            link = self.links.pop(owner.login, None)
            if link is not None:
                link.close("copytui disconnected the account")
        if not self.owners:
            await self._stop()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port, limit=MAX_LINE + 1)
        log.info("MetaTrader bridge listening on %s:%s", self.host, self.port)

    async def _stop(self) -> None:
        for key, server in list(self._shared.items()):
            if server is self:
                del self._shared[key]
        if self._server is not None:
            self._server.close()
            self._server = None
        for link in list(self.links.values()):
            link.close("copytui stopped listening")
        for writer in list(self._writers):
            writer.close()
        # closed sockets end their handlers at once; they are waited for, not cancelled (asyncio's
        # stream callback of Python 3.11 reports a cancelled handler as an error)
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=5.0)

    async def _bind(self, owner: Owner) -> None:
        held = self.owners.get(owner.login)
        if held is not None and held is not owner:
            raise ValueError(f"login {owner.login} is already claimed by another account of this copytui")
        async with self._claimed:
            self.owners[owner.login] = owner
            self._claimed.notify_all()

    async def _owner_of(self, login: int) -> Owner | None:
        async with self._claimed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(UNCLAIMED_WAIT_S):
                    await self._claimed.wait_for(lambda: login in self.owners)
        return self.owners.get(login)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        peer = ":".join(str(p) for p in (writer.get_extra_info("peername") or ("?",))[:2])
        link = None
        try:
            link = await self._handshake(reader, writer, peer)
            if link is not None:
                why = await link.run()
                ours = why.startswith("copytui")  # copytui disconnected the account or stopped listening
                log.log(logging.INFO if ours else logging.WARNING, "MetaTrader terminal %s (%s) disconnected: %s",
                        link.login, peer, why)  # fmt: skip
        except (ConnectionError, OSError) as exc:
            log.info("MetaTrader bridge: connection from %s ended: %s", peer, exc)
        except Exception:  # one connection's bug must not take the listener down
            log.exception("MetaTrader bridge: connection from %s failed", peer)
        finally:
            self._handlers.discard(task)
            self._writers.discard(writer)
            if link is not None:
                link.close(link.why or "ended")
                if self.links.get(link.login) is link:
                    del self.links[link.login]
                link.owner.detach(link, link.why)
            writer.close()

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> TerminalLink | None:
        nonce = secrets.token_hex(16)
        writer.write(encode(Challenge(seq=1, nonce=nonce)))
        await writer.drain()
        try:
            async with asyncio.timeout(HELLO_WAIT_S):
                line = await reader.readline()
        except TimeoutError:
            log.warning("MetaTrader bridge: %s said no hello within %gs", peer, HELLO_WAIT_S)
            return None
        if not line:
            return None
        try:
            hello = decode_terminal(line)
        except WireError as exc:
            await self._refuse(writer, f"unreadable hello: {exc}", None, peer)
            return None
        if not isinstance(hello, Hello) or hello.seq != 1:
            await self._refuse(writer, "the first message must be hello (seq 1)", None, peer)
            return None
        if hello.v != VERSION:
            why = f"bridge protocol {hello.v} is not spoken here (this copytui speaks {VERSION}): install its EA"
            await self._refuse(writer, why, None, peer, hello.login)
            return None
        owner = await self._owner_of(hello.login)
        if owner is None:
            why = f"no account with login {hello.login} is configured on this copytui bridge"
            await self._refuse(writer, why, None, peer, hello.login)
            return None
        token = owner.token() or ""
        if not token or not hmac.compare_digest(proof(token, nonce, hello.login), hello.proof):
            why = f"wrong token for login {hello.login} (the EA's Token input must be the account's bridge token)"
            await self._refuse(writer, why, owner, peer)
            return None
        if owner.expected_server and hello.server != owner.expected_server:
            why = f"login {hello.login} is on server {hello.server!r}, the account's options.server says " + repr(
                owner.expected_server
            )
            await self._refuse(writer, why, owner, peer)
            return None
        link = TerminalLink(reader, writer, hello, owner, peer, sent=1)
        old = self.links.get(hello.login)
        if old is not None:
            old.close("replaced by a new connection of the same terminal")
        self.links[hello.login] = link
        link.send(Welcome(session=link.session, heartbeat_s=owner.heartbeat_s))
        await writer.drain()
        log.info("MetaTrader terminal %s (%s, %s) connected from %s", hello.login, hello.server, hello.mode, peer)
        owner.attach(link)
        return link

    async def _refuse(
        self, writer: asyncio.StreamWriter, why: str, owner: Owner | None, peer: str, login: int | None = None
    ) -> None:
        log.warning("MetaTrader bridge refused a terminal from %s: %s", peer, why)
        writer.write(encode(Refused(seq=2, reason=why)))
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        told = f"refused a terminal from {peer}: {why}"
        if owner is not None:
            owner.refused(told)
        elif login is not None:  # nobody's account: every account on this listener hears of it
            for each in list(self.owners.values()):
                each.dropped(told)
        return None
