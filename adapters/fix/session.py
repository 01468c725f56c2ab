"""The quickfix initiator behind one FIX account, driven from copytui's event loop: starting it and
waiting for the logon, logging out and stopping it, writing a message, and what quickfix says about
the session (logon, logout, why a connection failed), kept in the account's Health.

Threads: quickfix reads the socket on its own thread; :mod:`adapters.fix.bridge` hands each message
to the loop through :meth:`FixSession.post`, which never waits on the loop. Sending is a direct
``Session.sendToTarget`` from the loop thread: quickfix serializes it with a session mutex, the
Python binding releases the GIL around it, and it writes to the socket without waiting (about
20 us per order, measured); the one blocking call, ``Initiator.stop``, runs in a thread of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import quickfix as fix

from adapters.base import AuthFailed, BrokerError, Disconnected, Health
from adapters.fix import wire as w
from adapters.fix.msglog import ScrubbedLogFactory
from adapters.fix.quickfix_settings import initiator_settings, session_id
from adapters.fix.session_config import FixAccount

SETTLE_WAIT_S = 3.0
"""How long an order waits, after a logon, for the gateway to answer a settling TestRequest."""
SETTLE_RETRY_S = 0.25
"""A settling TestRequest unanswered this long is sent again (with a new id)."""

log = logging.getLogger("adapters.fix")

_TELLING_EVENTS = ("Connection failed", "Socket Error", "Timed out", "MsgSeqNum too low", "Connecting to")
_STOPPING: dict[str, threading.Thread] = {}
"""Initiators still stopping, by SessionID: a new initiator for the same session waits for them."""


class FixSession:
    """One account's quickfix initiator. ``detail`` adds to the health detail shown while logged on
    (the reads the gateway refused)."""

    def __init__(
        self,
        opts: FixAccount,
        health: Health,
        data_dir: Path,
        secret: Callable[[], str | None] | None,
        detail: Callable[[], str],
    ) -> None:
        self.opts = opts
        self.health = health
        self.data_dir = data_dir
        self.session_id = session_id(opts)  # built once: a SessionID costs a few SWIG calls, and every order asks
        self.token = secrets.token_hex(4)
        """Names this adapter's life: fill cursors and the TestRequest that hurries a logout carry it."""
        self.password: str | None = None
        self.sent_by_seq: dict[int, tuple[str, str]] = {}
        """(MsgType, ClOrdID or request id) of each application message sent, by MsgSeqNum, so
        that a Reject (RefSeqNum) finds the request it refuses; filled by the bridge."""
        self.bad_frames = 0
        """Messages from the gateway that copytui could not use (unreadable, an unusable fill, a bust it
        cannot apply): each is counted here and shown in ``health.detail``, never only logged."""
        self.loop: asyncio.AbstractEventLoop | None = None
        self._secret = secret
        self._detail = detail
        self._initiator: Any = None
        self._logs: ScrubbedLogFactory | None = None
        self._logon: asyncio.Future[None] | None = None
        self._logged_out: asyncio.Event | None = None
        self._ever_logged_on = False
        self._settled: asyncio.Event | None = None
        self._waiting = asyncio.Lock()
        self._settle_id = ""
        self._settles = 0
        self._closing = False
        self._last_reason = ""

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"

    @property
    def started(self) -> bool:
        return self._initiator is not None

    # ------------------------------------------------------------ from quickfix's threads
    def post(self, fn: Callable[..., None], *args: Any) -> None:
        """From any thread: run ``fn(*args)`` on the loop, soon. Drops it once the loop is gone."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._guard, fn, args)

    def _guard(self, fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        except Exception as exc:  # one bad message must not stop the session
            log.exception("FIX message handling failed")
            self.bad(f"handling failed: {type(exc).__name__}: {exc}")

    def on_qf_event(self, text: str) -> None:
        # quickfix's thread: why a connection failed or ended, for the desk while not connected
        if any(k in text for k in _TELLING_EVENTS):
            self.post(self._event_detail, text)

    # ------------------------------------------------------------ on the loop
    def bad(self, what: str) -> None:
        """Count a message copytui could not use, and say so on the desk."""
        self.bad_frames += 1
        self.health.drop(f"FIX message: {what}")  # the engine journals and alerts it
        self.health.note(f"skipped a FIX message ({self.bad_frames} so far): {what}")
        log.warning("fix %s: skipped a message: %s", self.opts.name, what)

    def note(self, text: str) -> None:
        self.health.note(text)
        log.info("fix %s: %s", self.opts.name, text)

    def logged_on_detail(self) -> str:
        return f"logged on: {self.opts.label}{self._detail()}"

    def _event_detail(self, text: str) -> None:
        self._last_reason = text
        if not self.health.connected and not self._closing:
            self.health.note(f"{text}; quickfix retries every {self.opts.reconnect_interval}s")

    def on_logon(self) -> None:
        if self._ever_logged_on:
            self.health.reconnected()
        self._ever_logged_on = True
        self.health.up(self.logged_on_detail())
        self.health.seen()
        self._last_reason = ""
        self._begin_settle()
        if self._logon is not None and not self._logon.done():
            self._logon.set_result(None)

    def _begin_settle(self) -> None:
        """Right after a logon the gateway may ask for a resend, which copytui answers with a gap
        fill (it never resends an order late). An order written before that gap fill would be
        covered by it and dropped by the gateway, so orders wait until a TestRequest sent now is
        answered: the gateway sent its resend request before that answer, and quickfix answered it
        on receipt."""
        if self._settled is None:
            self._settled = asyncio.Event()
        self._settled.clear()
        self._settles += 1
        self._settle_id = f"settle-{self.token}-{self._settles}"
        m = w.message(self.opts.begin_string, "1")
        w.put(m, 112, self._settle_id)
        with contextlib.suppress(Exception):
            fix.Session.sendToTarget(m, self.session_id)

    def resend_answered(self) -> None:
        """quickfix answered a resend request of the gateway with a gap fill, which covers the
        settling TestRequest if it was written before: settle again with a new one (quickfix
        writes it after the gap fill, holding the session's lock while it sends that)."""
        if self.logged_on():
            self._begin_settle()

    def settle_answered(self, test_req_id: str) -> None:
        if test_req_id == self._settle_id and self._settled is not None:
            self._settled.set()

    def on_logout(self) -> None:
        if self._closing:
            self.health.down(detail="logged out")
        else:
            why = self._last_reason or "connection lost"
            self.health.lost(f"logged out ({why}); quickfix reconnects every {self.opts.reconnect_interval}s")
        if self._logged_out is not None:
            self._logged_out.set()

    def gateway_logout(self, text: str) -> None:
        """The gateway's Logout (35=5): its text says why; before the first logon it refuses it."""
        self._last_reason = f"gateway logout: {text}"
        if self._logon is not None and not self._logon.done():
            self._logon.set_exception(
                AuthFailed(f"fix account {self.opts.name}: {self.opts.label} refused the logon: {text}")
            )

    def logged_on(self) -> bool:
        session = fix.Session.lookupSession(self.session_id) if self._initiator is not None else None
        return bool(session is not None and session.isLoggedOn())

    def require_logon(self, what: str) -> None:
        if not self.logged_on():
            raise Disconnected(f"fix account {self.opts.name}: not logged on ({self.health.state}); {what} not sent")

    async def ready(self, what: str) -> None:
        """Logged on and past the logon's resend exchange (see ``_begin_settle``), else Disconnected."""
        self.require_logon(what)
        settled = self._settled
        if (settled is None or settled.is_set()) and not self._waiting.locked():
            return
        async with self._waiting:  # FIFO: orders held for the settle go out in the order they came
            await self._settle_wait(settled, what)
        self.require_logon(what)

    async def _settle_wait(self, settled: asyncio.Event | None, what: str) -> None:
        if settled is None:
            return
        deadline = time.monotonic() + SETTLE_WAIT_S
        while not settled.is_set():
            # both sides may be filling gaps at once, each gap fill swallowing what was written
            # before it (a TestRequest or its answer): ask again, until one comes through
            left = deadline - time.monotonic()
            if left <= 0:
                raise Disconnected(
                    f"fix account {self.opts.name}: {self.opts.label} did not answer a TestRequest within "
                    f"{SETTLE_WAIT_S:g}s of the logon; {what} not sent"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(settled.wait(), min(SETTLE_RETRY_S, left))
            if not settled.is_set():
                self.require_logon(what)
                self._begin_settle()

    def send(self, m: fix.Message) -> int:
        """Write one message from the loop thread; perf_counter_ns right after it was written."""
        try:
            ok = fix.Session.sendToTarget(m, self.session_id)
        except fix.SessionNotFound:
            raise Disconnected(f"fix account {self.opts.name}: no FIX session") from None
        if not ok:
            raise Disconnected(f"fix account {self.opts.name}: quickfix did not send (session not logged on)")
        return time.perf_counter_ns()

    # ------------------------------------------------------------ start and stop
    async def start(self, application: fix.Application) -> None:
        """Start quickfix's initiator with ``application`` as its callbacks; return once logged on."""
        await _await_stopped(self.session_id.toString())
        if fix.Session.lookupSession(self.session_id) is not None:
            raise BrokerError(
                f"fix account {self.opts.name}: FIX session {self.session_id.toString()} is already open in this "
                "copytui (another account with the same CompIDs?): give each account its own sender_comp_id"
            )
        loop = asyncio.get_running_loop()
        self.loop = loop
        self._closing = False
        if self._secret is not None:
            self.password = await asyncio.to_thread(self._secret)  # keyring calls block
        self.health.connecting(f"logging on to {self.opts.label}")
        self._logon = loop.create_future()
        self._logged_out = asyncio.Event()
        settings = initiator_settings(self.opts, self.store_dir)
        log_path = self.data_dir / "messages.log" if self.opts.message_log else None
        self._logs = ScrubbedLogFactory(log_path, self.on_qf_event)
        self.store_dir.mkdir(parents=True, exist_ok=True)
        logs = self._logs

        def build_and_start() -> Any:
            initiator = fix.SocketInitiator(application, fix.FileStoreFactory(settings), settings, logs)
            initiator.start()
            return initiator

        try:
            self._initiator = await asyncio.to_thread(build_and_start)
        except (fix.ConfigError, fix.RuntimeError) as exc:
            self.health.down()
            raise BrokerError(f"fix account {self.opts.name}: quickfix refused the session settings: {exc}") from None
        try:
            await asyncio.wait_for(asyncio.shield(self._logon), self.opts.logon_timeout_s)
        except TimeoutError:
            detail = self.health.detail
            self._stop_engine()
            raise Disconnected(
                f"fix account {self.opts.name}: no logon from {self.opts.label} within "
                f"{self.opts.logon_timeout_s:g}s ({detail}). Check that the gateway is up and the CompIDs match."
            ) from None
        except BrokerError:
            self._stop_engine()
            raise

    async def stop(self) -> None:
        """Log out (waiting up to 2 s for the gateway's answer), then stop quickfix's engine."""
        self._closing = True
        if self._initiator is None:
            return
        session = fix.Session.lookupSession(self.session_id)
        if session is not None and session.isLoggedOn() and self._logged_out is not None:
            self._logged_out.clear()
            session.logout("copytui disconnecting")
            self._wake()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._logged_out.wait(), 2.0)
        self._stop_engine()

    def _wake(self) -> None:
        """quickfix sends a requested Logout on its next timer tick (up to a second away). A
        TestRequest's answer wakes its poll loop, whose timer then runs at once."""
        m = w.message(self.opts.begin_string, "1")
        w.put(m, 112, f"bye-{self.token}")
        with contextlib.suppress(Exception):
            fix.Session.sendToTarget(m, self.session_id)

    def _stop_engine(self) -> None:
        """Stop quickfix's thread. Its poll loop notices a stop only at its next wake-up (up to a
        second), so the stop finishes in a thread of its own; a new session with the same
        SessionID waits for it (quickfix keeps sessions in a process-wide table)."""
        initiator, self._initiator = self._initiator, None
        logs, self._logs = self._logs, None
        if initiator is None:
            return
        sid = self.session_id.toString()
        box = [initiator]
        del initiator  # the thread holds the last reference: quickfix's objects die there

        def stop() -> None:
            engine = box.pop()
            engine.stop(True)
            del engine
            if logs is not None:
                logs.close()

        thread = threading.Thread(target=stop, name=f"fix-stop-{sid}")
        _STOPPING[sid] = thread
        thread.start()


async def _await_stopped(sid: str) -> None:
    thread = _STOPPING.get(sid)
    if thread is not None:
        await asyncio.to_thread(thread.join)
        if _STOPPING.get(sid) is thread:
            del _STOPPING[sid]
