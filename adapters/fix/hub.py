"""One quickfix initiator shared by the FIX sessions that connect to one gateway together.

Why (issue 22): with an initiator per account there was a reader thread per account. When the
leader traded, every follower's gateway answered at once, and those threads fought the loop for the
GIL while it was still writing the other followers' orders. quickfix's SocketInitiator serves every
session of its settings from one thread; shared, there is one thread to fight with, and its
callbacks (:mod:`adapters.fix.bridge`) only copy each message out and hand it over in batches: one
wake-up of the loop per batch, and the parsing done on the loop, after the orders were written.

Grouping: by event loop and gateway address (host, port). quickfix connects with a blocking
connect(), so a gateway that does not answer holds up the initiator that dials it: sessions of
other gateways never share with it. quickfix cannot add a session to a running initiator, so the
accounts that connect together (the engine connects them all at once) are gathered first: each
takes a :class:`Ticket` before its first wait, and the initiator is built once every ticket holder
has joined (or after :data:`JOIN_WAIT_S`). An account that connects later gets an initiator of its
own, unless its session is still in a running one (it disconnected before): then that session is
enabled again, and quickfix dials it at its next reconnect tick.

Sessions stay each their own: a [SESSION] block with its own store (FileStorePath: the sequence
numbers kept across restarts), schedule, heartbeat and address. A disconnect logs that session out
and disables it (quickfix stops dialing it); the initiator stops with its last session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import quickfix as fix

from adapters.base import BrokerError
from adapters.fix import wire as w
from adapters.fix.bridge import ADMIN, ADMIN_OUT, APP, BAD, LOGON, LOGOUT, Bridge, Sending
from adapters.fix.msglog import RoutedLogFactory, ScrubbedLogFactory
from adapters.fix.quickfix_settings import initiator_settings
from adapters.fix.session_config import FixAccount

JOIN_WAIT_S = 2.0
"""Longest an account waits for the accounts connecting with it before its initiator is built anyway."""
HUSH_MAX_S = 0.05
"""Longest quickfix's thread waits for the loop to finish writing a batch of orders (see :meth:`Gateway.hush`)."""

log = logging.getLogger("adapters.fix")

GatewayKey = tuple[asyncio.AbstractEventLoop, str, int]


def session_key(begin_string: str | None, sender: str | None, target: str | None) -> str:
    """A session's name as quickfix's ``SessionID.toString()`` writes it (no qualifier)."""
    return f"{begin_string}:{sender}->{target}"


class Member(Protocol):
    """What the hub needs of one account's session (:class:`adapters.fix.session.FixSession`)."""

    key: str
    opts: FixAccount
    session_id: fix.SessionID
    password: str | None
    logs: ScrubbedLogFactory | None
    sent_by_seq: dict[int, tuple[str, str]]

    @property
    def store_dir(self) -> Path: ...
    def on_logon(self) -> None: ...
    def on_logout(self) -> None: ...
    def on_admin_in(self, f: w.Fields, recv_ns: int) -> None: ...
    def on_admin_out(self, f: w.Fields) -> None: ...
    def on_app_in(self, f: w.Fields, recv_ns: int) -> None: ...
    def bad(self, what: str) -> None: ...


_arriving: Counter[GatewayKey] = Counter()
_forming: dict[GatewayKey, _Forming] = {}
_holding: dict[str, Gateway] = {}
"""The running gateway that holds each session, by session key."""
_stopping: dict[str, threading.Thread] = {}
"""Initiators still stopping, by the sessions they held: a new one for the same session waits for them."""


class Ticket:
    """An account on its way to join its gateway: the initiator is not built while one is open."""

    def __init__(self, key: GatewayKey) -> None:
        self.key = key
        self.open = True
        _arriving[key] += 1

    def close(self) -> None:
        if self.open:
            self.open = False
            _arriving[self.key] -= 1
            if _arriving[self.key] <= 0:
                del _arriving[self.key]


def arrive(loop: asyncio.AbstractEventLoop, opts: FixAccount) -> Ticket:
    """Take a ticket, before the first wait of a connect (see the module's text)."""
    return Ticket((loop, opts.host, opts.port))


async def join(member: Member, ticket: Ticket) -> Gateway:
    """The running gateway ``member``'s session is in; the ticket is closed on the way."""
    try:
        await _await_stopped(member.key)
        held = _holding.get(member.key)
        if held is not None:
            return held.rejoin(member, ticket.key[0])
        forming = _forming.get(ticket.key)
        if fix.Session.lookupSession(member.session_id) is not None or (
            forming is not None and any(m.key == member.key for m, _ in forming.pending)
        ):
            raise _already_open(member)
        if forming is None:
            forming = _forming[ticket.key] = _Forming(ticket.key)
        joined: asyncio.Future[Gateway] = ticket.key[0].create_future()
        forming.pending.append((member, joined))
    finally:
        ticket.close()
    if ticket.key not in _arriving:  # the last of those connecting together: build for everyone
        await forming.build()
    else:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(joined), JOIN_WAIT_S)
        if not joined.done():  # someone still arriving is slow (a keyring prompt?): go without them
            await forming.build()
    return await joined


def _already_open(member: Member) -> BrokerError:
    return BrokerError(
        f"fix account {member.opts.name}: FIX session {member.key} is already open in this copytui "
        "(another account with the same CompIDs?): give each account its own sender_comp_id"
    )


async def _await_stopped(key: str) -> None:
    thread = _stopping.get(key)
    if thread is not None:
        await asyncio.to_thread(thread.join)
        if _stopping.get(key) is thread:
            del _stopping[key]


@dataclass
class _Forming:
    """Accounts of one gateway gathered for the initiator about to be built."""

    key: GatewayKey
    pending: list[tuple[Member, asyncio.Future[Gateway]]] = field(default_factory=list)
    building: bool = False

    async def build(self) -> None:
        if self.building:
            return
        self.building = True
        if _forming.get(self.key) is self:
            del _forming[self.key]  # who joins from now on gathers for another initiator
        try:
            await self._build()
        except BaseException as exc:  # cancelled, or a bug: nobody may wait forever for this initiator
            for _, joined in self.pending:
                _settle(joined, exc)
            raise

    async def _build(self) -> None:
        members = [m for m, _ in self.pending]
        try:
            gateway = await Gateway.start(self.key, members)
        except BrokerError as exc:
            if len(members) == 1:
                _settle(self.pending[0][1], exc)
                return
            # one account's settings spoil the whole initiator: give each its own, so that only its own fails
            for member, joined in self.pending:
                try:
                    _settle(joined, await Gateway.start(self.key, [member]))
                except BrokerError as alone:
                    _settle(joined, alone)
            return
        for _, joined in self.pending:
            _settle(joined, gateway)


def _settle(joined: asyncio.Future[Gateway], outcome: Gateway | BaseException) -> None:
    if joined.done():
        return
    if isinstance(outcome, BaseException):
        joined.set_exception(outcome)
    else:
        joined.set_result(outcome)


class Gateway:
    """One running quickfix initiator and the sessions it holds."""

    def __init__(self, key: GatewayKey) -> None:
        self.loop = key[0]
        self.address = f"{key[1]}:{key[2]}"
        self.members: dict[str, Member] = {}
        """The account driving each session now, by session key (read on quickfix's thread too)."""
        self.sessions: dict[str, Any] = {}
        """quickfix's Session of each session key (valid while the initiator runs)."""
        self.settings_of: dict[str, tuple[FixAccount, Path]] = {}
        self.sending: Sending | None = None
        """Set by the loop around a write: what ``toApp``, called inside it, records by MsgSeqNum."""
        self.app = Bridge(self)
        self.logs = RoutedLogFactory(self.log_sink, self.read_one)
        self.read_ns = 0
        """perf_counter_ns when quickfix's thread last read a message (before any wait)."""
        self._quiet = threading.Event()
        self._quiet.set()
        self._initiator: Any = None
        self._inbox: deque[tuple[str, str | None, str, int]] = deque()
        self._woken = False

    @classmethod
    async def start(cls, key: GatewayKey, members: list[Member]) -> Gateway:
        gateway = cls(key)
        for m in members:
            gateway.members[m.key] = m
            gateway.settings_of[m.key] = (m.opts, m.store_dir)
            m.store_dir.mkdir(parents=True, exist_ok=True)
        settings = initiator_settings([(m.opts, m.store_dir) for m in members])
        ids = {m.key: m.session_id for m in members}
        app, logs = gateway.app, gateway.logs

        def build_and_start() -> tuple[Any, dict[str, Any]]:
            initiator = fix.SocketInitiator(app, fix.FileStoreFactory(settings), settings, logs)
            initiator.start()
            return initiator, {k: fix.Session.lookupSession(sid) for k, sid in ids.items()}

        try:
            gateway._initiator, gateway.sessions = await asyncio.to_thread(build_and_start)
        except (fix.ConfigError, fix.RuntimeError) as exc:
            names = ", ".join(m.opts.name for m in members)
            raise BrokerError(f"fix account {names}: quickfix refused the session settings: {exc}") from None
        for k in gateway.sessions:
            _holding[k] = gateway
        return gateway

    def rejoin(self, member: Member, loop: asyncio.AbstractEventLoop) -> Gateway:
        """``member`` takes over its session, held here since an earlier account left it."""
        if member.key in self.members:
            raise _already_open(member)
        if loop is not self.loop or self.settings_of.get(member.key) != (member.opts, member.store_dir):
            raise BrokerError(
                f"fix account {member.opts.name}: FIX session {member.key} is still open in this copytui with "
                "other settings: restart copytui to change them"
            )
        self.members[member.key] = member
        self.sessions[member.key].logon()  # enabled again: quickfix dials it at its next reconnect tick
        return self

    def leave(self, member: Member) -> None:
        """``member`` is done with its session (logged out and disabled); the last one stops the initiator."""
        if self.members.get(member.key) is member:
            del self.members[member.key]
        if not self.members:
            self._stop()

    def _stop(self) -> None:
        """Stop quickfix's thread. Its poll loop notices a stop only at its next wake-up (up to a
        second), so the stop finishes in a thread of its own; a new initiator for one of these
        sessions waits for it (quickfix keeps sessions in a process-wide table)."""
        initiator, self._initiator = self._initiator, None
        if initiator is None:
            return
        held = [initiator, self.app, self.logs]  # the callbacks outlive the engine that calls them
        del initiator  # the thread holds the last reference: quickfix's objects die there

        def stop() -> None:
            held[0].stop(True)
            held.clear()

        thread = threading.Thread(target=stop, name=f"fix-stop-{self.address}")
        for k in self.sessions:
            _stopping[k] = thread
            if _holding.get(k) is self:
                del _holding[k]
        self.sessions = {}
        thread.start()

    def hush(self) -> None:
        """On the loop, before writing an order: until the loop's current turn is over, quickfix's
        thread waits before it runs Python for what it reads (:meth:`wait_quiet`).

        Why: each write gives up the GIL, and quickfix's thread, reading the answers to the orders
        just written, took it back message after message while the loop waited (up to 5 ms a
        write, measured). Answers lose nothing by waiting: the loop, busy writing, could not
        handle them before its turn is over anyway."""
        quiet = self._quiet
        if quiet.is_set():
            quiet.clear()
            self.loop.call_soon(quiet.set)

    # ------------------------------------------------------------ from quickfix's thread
    def read_one(self) -> None:
        """On quickfix's thread, first thing for each message read (its log line): note when it was
        read. No waiting here: quickfix holds the session's state mutex around its log calls, and
        the loop's next write needs that mutex."""
        self.read_ns = time.perf_counter_ns()

    def wait_quiet(self) -> None:
        """On quickfix's thread, in ``fromApp`` / ``fromAdmin`` (quickfix holds no session lock
        there): wait while the loop writes."""
        quiet = self._quiet
        if not quiet.is_set():
            quiet.wait(HUSH_MAX_S)  # waits without the GIL

    def log_sink(self, key: str) -> ScrubbedLogFactory | None:
        member = self.members.get(key)
        return member.logs if member is not None else None

    def hand_over(self, kind: str, key: str | None, payload: str, recv_ns: int) -> None:
        """From any thread: queue one message or event; the loop is woken once per batch."""
        self._inbox.append((kind, key, payload, recv_ns))
        if not self._woken:
            self._woken = True
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening
                self.loop.call_soon_threadsafe(self._drain)

    # ------------------------------------------------------------ on the loop
    def _drain(self) -> None:
        self._woken = False  # first: what is queued from now on wakes the loop again
        inbox = self._inbox
        while inbox:
            kind, key, payload, recv_ns = inbox.popleft()
            member: Member | None = None
            try:
                if kind in (APP, ADMIN):
                    f = w.Fields.parse(payload)
                    member = self.members.get(session_key(f.get(8), f.get(w.TARGET_COMP_ID), f.get(w.SENDER_COMP_ID)))
                    if member is None:
                        continue  # its account left the session
                    if kind == APP:
                        member.on_app_in(f, recv_ns)
                    else:
                        member.on_admin_in(f, recv_ns)
                    continue
                member = self.members.get(key or "")
                if member is None:
                    continue
                if kind == LOGON:
                    member.on_logon()
                elif kind == LOGOUT:
                    member.on_logout()
                elif kind == ADMIN_OUT:
                    member.on_admin_out(w.Fields.parse(payload))
                elif kind == BAD:
                    member.bad(payload)
            except Exception as exc:  # one bad message must not stop the others
                log.exception("FIX message handling failed")
                if member is not None:
                    member.bad(f"handling failed: {type(exc).__name__}: {exc}")


def running_sessions() -> dict[str, Gateway]:
    """Which gateway holds each session now (for tests and diagnostics)."""
    return dict(_holding)


__all__ = ["JOIN_WAIT_S", "Gateway", "Member", "Ticket", "arrive", "join", "running_sessions", "session_key"]
