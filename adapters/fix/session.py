"""One FIX account's session, driven from copytui's event loop: joining the shared quickfix
initiator of its gateway (:mod:`adapters.fix.hub`) and waiting for the logon, logging out and
leaving it, writing a message, and what quickfix says about the session (logon, logout, why a
connection failed), kept in the account's Health.

Threads: quickfix reads the sockets on its own thread; :mod:`adapters.fix.bridge` copies each
message out and the gateway hands batches of them to the loop, where :meth:`FixSession.on_app_in`
and :meth:`FixSession.on_admin_in` take them. Sending is a direct ``Session.send`` from the loop
thread on quickfix's Session object, looked up once: quickfix serializes it with a session mutex,
the Python binding releases the GIL around it, and it writes to the socket without waiting; the one
blocking call, ``Initiator.stop``, runs in a thread of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import quickfix as fix

from adapters.base import AuthFailed, BrokerError, Disconnected, Health
from adapters.fix import hub
from adapters.fix import wire as w
from adapters.fix.frames import frame
from adapters.fix.msglog import ScrubbedLogFactory
from adapters.fix.quickfix_settings import session_id
from adapters.fix.session_config import FixAccount

SETTLE_WAIT_S = 3.0
"""How long an order waits, after a logon, for the gateway to answer a settling TestRequest."""
SETTLE_RETRY_S = 0.25
"""A settling TestRequest unanswered this long is sent again (with a new id)."""

log = logging.getLogger("adapters.fix")

_TELLING_EVENTS = ("Connection failed", "Socket Error", "Timed out", "MsgSeqNum too low", "Connecting to")
_TOLD = (w.LOGOUT, w.SESSION_REJECT, "2", "4")
"""Admin messages the adapter looks at: logout text, rejects, resend requests, sequence resets."""

Handler = Callable[[w.Fields, int], None]
"""Takes a message's fields and the perf_counter_ns it was read at, on the loop."""


class FixSession:
    """One account's quickfix session. ``detail`` adds to the health detail shown while logged on
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
        self.session_id = session_id(opts)
        self.key = hub.session_key(opts.begin_string, opts.sender_comp_id, opts.target_comp_id)
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
        self.logs: ScrubbedLogFactory | None = None
        """Where quickfix's log lines of this session go (a file, or only the events)."""
        self.gateway: hub.Gateway | None = None
        self._qf: Any = None  # quickfix's Session, once the gateway runs it: looked up once, not per order
        self._on_admin: Handler | None = None
        self._on_app: Handler | None = None
        self._secret = secret
        self._detail = detail
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
        return self.gateway is not None

    # ------------------------------------------------------------ from quickfix's threads
    def on_qf_event(self, text: str) -> None:
        # quickfix's thread: why a connection failed or ended, for the desk while not connected
        loop = self.loop
        if loop is None or loop.is_closed() or not any(k in text for k in _TELLING_EVENTS):
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._event_detail, text)

    # ------------------------------------------------------------ on the loop: what the gateway sent
    def on_app_in(self, f: w.Fields, recv_ns: int) -> None:
        if self._on_app is not None:
            self._on_app(f, recv_ns)

    def on_admin_in(self, f: w.Fields, recv_ns: int) -> None:
        mt = f.msg_type
        if mt == "0":  # a heartbeat: the answer to the logon's settling TestRequest?
            test_req_id = f.get(112) or ""
            if test_req_id.startswith("settle-"):
                self.settle_answered(test_req_id)
            return
        if mt in _TOLD and self._on_admin is not None:  # test requests, logons: quickfix's business
            self._on_admin(f, recv_ns)

    def on_admin_out(self, f: w.Fields) -> None:
        """Our own ResendRequest (2) or SequenceReset (4), written by quickfix."""
        mt = f.msg_type
        what = "asked a resend" if mt == "2" else "sent a sequence reset"
        self.note(f"{what} ({f.get(7) or f.get(36) or ''}-{f.get(16) or ''})")
        if mt == "4":
            # our gap fill answering the gateway's resend request: it covers every sequence number
            # written before it, a settling TestRequest included; settle again after it
            self.resend_answered()

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
        self._test_request(self._settle_id)

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
        qf = self._qf
        return bool(qf is not None and qf.isLoggedOn())

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

    def send(self, m: fix.Message, msg_type: str, key: str) -> int:
        """Write one application message (``msg_type``, its ClOrdID or request id ``key``) from the
        loop thread; perf_counter_ns right after it was written."""
        gateway, qf = self.gateway, self._qf
        if gateway is None or qf is None:
            raise Disconnected(f"fix account {self.opts.name}: no FIX session")
        gateway.hush()
        gateway.sending = (self.sent_by_seq, msg_type, key)  # for toApp, which quickfix calls inside send
        try:
            ok = qf.send(m)
        finally:
            gateway.sending = None
        if not ok:
            raise Disconnected(f"fix account {self.opts.name}: quickfix did not send (session not logged on)")
        return time.perf_counter_ns()

    def _test_request(self, test_req_id: str) -> None:
        qf = self._qf
        if qf is not None:
            with contextlib.suppress(Exception):
                qf.send(frame(self.opts.begin_string, "1", [(112, test_req_id)]))

    # ------------------------------------------------------------ start and stop
    async def start(self, on_admin: Handler, on_app: Handler) -> None:
        """Join the gateway's shared initiator with ``on_admin`` / ``on_app`` taking what the gateway
        sends; return once logged on."""
        loop = asyncio.get_running_loop()
        ticket = hub.arrive(loop, self.opts)  # before the first wait: see adapters.fix.hub
        try:
            self.loop = loop
            self._closing = False
            self._on_admin, self._on_app = on_admin, on_app
            if self._secret is not None:
                self.password = await asyncio.to_thread(self._secret)  # keyring calls block
            self.health.connecting(f"logging on to {self.opts.label}")
            self._logon = loop.create_future()
            self._logged_out = asyncio.Event()
            log_path = self.data_dir / "messages.log" if self.opts.message_log else None
            self.logs = ScrubbedLogFactory(log_path, self.on_qf_event)
            self.gateway = await hub.join(self, ticket)
        except BrokerError:
            self.health.down()
            self._close_logs()
            raise
        finally:
            ticket.close()
        self._qf = self.gateway.sessions[self.key]
        try:
            await asyncio.wait_for(asyncio.shield(self._logon), self.opts.logon_timeout_s)
        except TimeoutError:
            detail = self.health.detail
            self._leave()
            raise Disconnected(
                f"fix account {self.opts.name}: no logon from {self.opts.label} within "
                f"{self.opts.logon_timeout_s:g}s ({detail}). Check that the gateway is up and the CompIDs match."
            ) from None
        except BrokerError:
            self._leave()
            raise

    async def stop(self) -> None:
        """Log out (waiting up to 2 s for the gateway's answer), then leave the shared initiator."""
        self._closing = True
        if self.gateway is None:
            return
        qf = self._qf
        if qf is not None and qf.isLoggedOn() and self._logged_out is not None:
            self._logged_out.clear()
            qf.logout("copytui disconnecting")
            self._wake()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._logged_out.wait(), 2.0)
        self._leave()

    def _wake(self) -> None:
        """quickfix sends a requested Logout on its next timer tick (up to a second away). A
        TestRequest's answer wakes its poll loop, whose timer then runs at once."""
        self._test_request(f"bye-{self.token}")

    def _leave(self) -> None:
        """Disable the session (quickfix stops dialing it) and leave the initiator, which stops
        with its last session."""
        gateway, qf = self.gateway, self._qf
        self.gateway, self._qf = None, None
        if qf is not None:
            with contextlib.suppress(Exception):
                qf.logout()  # already logged out, or never logged on: only disables it
        if gateway is not None:
            gateway.leave(self)
        self._close_logs()

    def _close_logs(self) -> None:
        logs, self.logs = self.logs, None
        if logs is not None:
            logs.close()
