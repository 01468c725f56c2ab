"""The FIX adapter: a quickfix initiator session driven from copytui's event loop.

Threads: quickfix reads the socket on its own thread and calls :mod:`adapters.fix.bridge`, which copies
each message out (a quickfix Message lives only for its callback), stamps ``recv_ns`` and hands it
to the loop with ``call_soon_threadsafe``; it never waits on the loop. Everything else (the session
book, pending requests, events) lives on the loop thread. Sending is a direct
``Session.sendToTarget`` from the loop thread: quickfix serializes it with a session mutex, the
Python binding releases the GIL around it, and it writes to the socket without waiting (about
20 us per order, measured); the one blocking call, ``Initiator.stop``, runs in a worker thread.

Safety: an order is never resent by quickfix. Outgoing messages are not persisted and a resend
of an application message is refused in ``toApp`` (quickfix sends a gap fill instead), so an order
that did not reach the gateway is never delivered late; copytui asks for it by ClOrdID instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import quickfix as fix

from adapters.base import (
    AmbiguousOutcome,
    AuthFailed,
    BrokerAdapter,
    BrokerError,
    Capabilities,
    Disconnected,
    fit_client_id,
)
from adapters.fix import rejects
from adapters.fix import wire as w
from adapters.fix.book import SessionBook, TrackedOrder
from adapters.fix.bridge import Bridge
from adapters.fix.msglog import ScrubbedLogFactory
from adapters.fix.session_config import FixOptions, initiator_settings
from copytui.instruments import UnknownSymbol, instrument
from copytui.models import (
    AccountEvent,
    FollowerOrder,
    OrderAck,
    OrderAction,
    OrderInfo,
    OrderStatus,
    OrderType,
    Position,
    Side,
)

log = logging.getLogger("adapters.fix")

_CLOSED = object()
_TELLING_EVENTS = ("Connection failed", "Socket Error", "Timed out", "MsgSeqNum too low", "Connecting to")
_STOPPING: dict[str, threading.Thread] = {}
"""Initiators still stopping, by SessionID: a new initiator for the same session waits for them."""


class _Unsupported(BrokerError):
    """The gateway refused an AN / AF / H request (any session or business reject of it)."""


class _NoAnswer(BrokerError):
    """The gateway did not answer an AN / AF / H request within request_timeout_s."""


_READS = {w.POSITIONS_REQUEST: "positions", w.MASS_STATUS: "open_orders", w.STATUS_REQUEST: "order_status"}
"""The optional reads, by the MsgType that asks them."""

_FALLBACK = {
    "positions": ("positions come from this session's own fills", "positions: session"),
    "open_orders": ("open orders come from this session's own reports", "open_orders: session"),
    "order_status": ("orders this session does not know are not asked about", "order_status_request: false"),
}
"""What copytui does instead once a gateway refused a read, and the option that skips asking."""


@dataclass
class _Pending:
    kind: str  # new | cancel | replace
    root: str
    future: asyncio.Future[OrderAck]
    sent_ns: int = 0


@dataclass
class _Collect:
    """Answers to one AF / AN / H request, gathered until the gateway says it is complete."""

    future: asyncio.Future[list[Any]]
    items: list[Any] = field(default_factory=list)
    total: int | None = None

    def add(self, item: Any, last: bool) -> None:
        self.items.append(item)
        if last or (self.total is not None and len(self.items) >= self.total):
            self.finish()

    def finish(self) -> None:
        if not self.future.done():
            self.future.set_result(self.items)


class FixAdapter(BrokerAdapter):
    broker = "fix"
    capabilities = Capabilities(modify=True, brackets=False, client_ids=True, client_id_max_len=32)

    def __init__(
        self,
        opts: FixOptions,
        *,
        account: str,
        data_dir: Path,
        secret: Callable[[], str | None] | None = None,
    ) -> None:
        super().__init__(account)
        self.opts = opts
        self._session_id_for: FixOptions | None = None
        self._session_id: fix.SessionID | None = None
        self.data_dir = data_dir
        self.capabilities = Capabilities(
            modify=True,
            brackets=False,
            client_ids=True,
            client_id_max_len=opts.clordid_max_len,
            order_ids_restart=True,  # OrderID (37) is unique per day and counterparty process at best
        )
        self._secret = secret
        self._password: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._initiator: Any = None
        self._logs: ScrubbedLogFactory | None = None
        self._bridge = Bridge(self)
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._book = SessionBook(account)
        self._token = secrets.token_hex(4)
        self._sent_by_seq: dict[int, tuple[str, str]] = {}
        self._acks: dict[str, _Pending] = {}
        self._status: dict[str, _Collect] = {}
        self._mass: dict[str, _Collect] = {}
        self._pos: dict[str, _Collect] = {}
        self._logon: asyncio.Future[None] | None = None
        self._logged_out: asyncio.Event | None = None
        self._ever_logged_on = False
        self._closing = False
        self._last_reason = ""
        self.bad_frames = 0
        """Messages from the gateway that copytui could not use (unreadable, an unusable fill, a bust it
        cannot apply): each is counted here and shown in ``health.detail``, never only logged."""
        self.supports = {"positions": opts.positions != "session", "open_orders": opts.open_orders != "session"}
        self.refused: dict[str, str] = {}
        """Reads ("positions", "open_orders", "order_status") the gateway refused or never answered, with
        why: asked once, never again in this adapter's life; shown in ``health.detail``."""
        self._answered: set[str] = set()  # reads the gateway answered: later calls wait for their answer
        self._asking: dict[str, asyncio.Task[None]] = {}  # the first AN / AF, asked in the background

    # ------------------------------------------------------------ plumbing
    @property
    def session_id(self) -> fix.SessionID:
        # built once per options object: a SessionID costs a few SWIG calls, and every order asks
        if self._session_id_for is not self.opts:
            self._session_id = self.opts.session_id
            self._session_id_for = self.opts
        return self._session_id

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"

    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        """From any thread: run ``fn(*args)`` on the loop, soon. Drops it once the loop is gone."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._guard, fn, args)

    def _guard(self, fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        except Exception as exc:  # one bad message must not stop the session
            log.exception("FIX message handling failed")
            self._bad(f"handling failed: {type(exc).__name__}: {exc}")

    def _bad(self, what: str) -> None:
        """On the loop: count a message copytui could not use, and say so on the desk."""
        self.bad_frames += 1
        self.health.drop(f"FIX message: {what}")  # the engine journals and alerts it
        self.health.detail = f"skipped a FIX message ({self.bad_frames} so far): {what}"
        log.warning("fix %s: skipped a message: %s", self.opts.name, what)

    def _session(self) -> Any:
        return fix.Session.lookupSession(self.session_id)

    def _logged_on(self) -> bool:
        session = self._session() if self._initiator is not None else None
        return bool(session is not None and session.isLoggedOn())

    def _note(self, text: str) -> None:
        self.health.detail = text
        log.info("fix %s: %s", self.opts.name, text)

    def _on_qf_event(self, text: str) -> None:
        # quickfix's thread: why a connection failed or ended, for the desk while not connected
        if any(k in text for k in _TELLING_EVENTS):
            self._post(self._event_detail, text)

    def _event_detail(self, text: str) -> None:
        self._last_reason = text
        if not self.health.connected and not self._closing:
            self.health.detail = f"{text}; quickfix retries every {self.opts.reconnect_interval}s"

    # -------------------------------------------------------------- session
    @property
    def account_key(self) -> str:
        """The gateway, the session (SenderCompID -> TargetCompID) and the Account (1) it carries:
        what the counterparty itself knows this account by, whatever the config calls it."""
        o = self.opts
        return f"fix-{o.host}:{o.port}-{o.sender_comp_id}-{o.target_comp_id}-{self.account}".lower()

    async def connect(self) -> None:
        if self._initiator is not None:
            return
        await self._await_stopped(self.session_id.toString())
        if fix.Session.lookupSession(self.session_id) is not None:
            raise BrokerError(
                f"fix account {self.opts.name}: FIX session {self.session_id.toString()} is already open in this "
                "copytui (another account with the same CompIDs?): give each account its own sender_comp_id"
            )
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._closing = False
        if self._secret is not None:
            self._password = await asyncio.to_thread(self._secret)  # keyring calls block
        self.health.connecting(f"logging on to {self.opts.label}")
        self._logon = loop.create_future()
        self._logged_out = asyncio.Event()
        settings = initiator_settings(self.opts, self.store_dir)
        log_path = self.data_dir / "messages.log" if self.opts.message_log else None
        self._logs = ScrubbedLogFactory(log_path, self._on_qf_event)
        self.store_dir.mkdir(parents=True, exist_ok=True)

        def build_and_start() -> Any:
            initiator = fix.SocketInitiator(self._bridge, fix.FileStoreFactory(settings), settings, self._logs)
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
            await self._stop_engine()
            raise Disconnected(
                f"fix account {self.opts.name}: no logon from {self.opts.label} within "
                f"{self.opts.logon_timeout_s:g}s ({detail}). Check that the gateway is up and the CompIDs match."
            ) from None
        except BrokerError:
            await self._stop_engine()
            raise
        self._ask_reads()

    async def disconnect(self) -> None:
        self._closing = True
        if self._initiator is not None:
            session = self._session()
            if session is not None and session.isLoggedOn() and self._logged_out is not None:
                self._logged_out.clear()
                session.logout("copytui disconnecting")
                self._wake()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._logged_out.wait(), 2.0)
            await self._stop_engine()
        for pending in self._acks.values():  # written, never answered: the gateway may have them
            if not pending.future.done():
                pending.future.set_exception(AmbiguousOutcome("FIX session closed before the gateway answered"))
        for table in (self._status, self._mass, self._pos):
            for waiter in table.values():
                if not waiter.future.done():
                    waiter.future.set_exception(BrokerError("FIX session closed before the gateway answered"))
        asking = [t for t in self._asking.values() if not t.done()]
        for task in asking:
            task.cancel()
        await asyncio.gather(*asking, return_exceptions=True)
        for kind, task in list(self._asking.items()):
            if task.cancelled():  # never answered: asked again after the next connect
                del self._asking[kind]
        self.health.down(detail=self.health.detail)
        self._queue.put_nowait(_CLOSED)

    def _wake(self) -> None:
        """quickfix sends a requested Logout on its next timer tick (up to a second away). A
        TestRequest's answer wakes its poll loop, whose timer then runs at once."""
        m = w.message(self.opts.begin_string, "1")
        w.put(m, 112, f"bye-{self._token}")
        with contextlib.suppress(Exception):
            fix.Session.sendToTarget(m, self.session_id)

    async def _stop_engine(self) -> None:
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

    @staticmethod
    async def _await_stopped(sid: str) -> None:
        thread = _STOPPING.get(sid)
        if thread is not None:
            await asyncio.to_thread(thread.join)
            if _STOPPING.get(sid) is thread:
                del _STOPPING[sid]

    def _on_logon(self) -> None:
        if self._ever_logged_on:
            self.health.reconnects += 1
        self._ever_logged_on = True
        self.health.up(f"logged on: {self.opts.label}{self._fallback_detail()}")
        self._last_reason = ""
        self.health.last_event_wall_ns = time.time_ns()
        if self._logon is not None and not self._logon.done():
            self._logon.set_result(None)

    def _on_logout(self) -> None:
        if self._closing:
            self.health.down(detail="logged out")
        else:
            why = self._last_reason or "connection lost"
            self.health.lost(f"logged out ({why}); quickfix reconnects every {self.opts.reconnect_interval}s")
        if self._logged_out is not None:
            self._logged_out.set()

    def _on_admin(self, f: w.Fields, recv_ns: int) -> None:
        mt = f.msg_type
        if mt == w.LOGOUT:
            text = f.text() or "logout without a reason"
            self._last_reason = f"gateway logout: {text}"
            if self._logon is not None and not self._logon.done():
                self._logon.set_exception(
                    AuthFailed(f"fix account {self.opts.name}: {self.opts.label} refused the logon: {text}")
                )
        elif mt == w.SESSION_REJECT:
            self._on_reject(f, recv_ns)
        elif mt == "2":
            self._note(f"gateway asked a resend ({f.get(7)}-{f.get(16)})")
        elif mt == "4":
            self._note(f"sequence reset to {f.get(36)}")

    # ---------------------------------------------------------- app messages
    def _on_app(self, f: w.Fields, recv_ns: int) -> None:
        self.health.last_event_wall_ns = time.time_ns()
        mt = f.msg_type
        if mt == w.EXEC_REPORT:
            self._on_exec_report(f, recv_ns)
        elif mt == w.CANCEL_REJECT:
            self._on_cancel_reject(f, recv_ns)
        elif mt == w.BUSINESS_REJECT:
            self._on_reject(f, recv_ns)
        elif mt == w.POSITIONS_ACK:
            self._on_positions_ack(f)
        elif mt == w.POSITION_REPORT:
            self._on_position_report(f)

    def _ours(self, account: str | None) -> bool:
        return not (self.opts.account_id and account and account != self.opts.account_id)

    def _on_exec_report(self, f: w.Fields, recv_ns: int) -> None:
        rep = w.ExecReport.from_fields(f)
        if not self._ours(rep.account):
            return
        if rep.symbol and self.opts.symbol_suffix and rep.symbol.endswith(self.opts.symbol_suffix):
            rep = replace(rep, symbol=rep.symbol[: -len(self.opts.symbol_suffix)])
        if rep.bust:
            self._bad(f"gateway corrected or busted execution {rep.exec_id}: reconciliation will catch it")
            return
        unknown = rep.exec_type == w.ET_STATUS and rep.status is OrderStatus.REJECTED
        try:
            events = [] if unknown else self._book.apply(rep, f.seq, recv_ns, time.time_ns())
        except ValueError as exc:  # the book is as it was; the order's other news still counts
            self._bad(str(exc))
            events = []
        if rep.exec_type == w.ET_STATUS:
            self._collect_status(rep, unknown)
        else:
            self._resolve_ack(rep, recv_ns)
        for ev in events:
            self._queue.put_nowait(ev)

    def _collect_status(self, rep: w.ExecReport, unknown: bool) -> None:
        mass = self._mass.get(rep.mass_status_req_id or "")
        if mass is not None:
            if rep.tot_num_reports is not None:
                mass.total = rep.tot_num_reports
            if rep.tot_num_reports == 0:
                mass.finish()
            else:
                o = self._book.root_of(rep)
                mass.add(self._book.orders[o].info(self.account) if o in self._book.orders else None, rep.last_report)
            return
        for key in (rep.cl_ord_id, rep.orig_cl_ord_id):
            waiter = self._status.get(key or "")
            if waiter is not None:
                root = self._book.root_of(rep)
                info = None if unknown or root not in self._book.orders else self._book.orders[root].info(self.account)
                waiter.add(info, True)
                return

    def _resolve_ack(self, rep: w.ExecReport, recv_ns: int) -> None:
        pending = self._acks.get(rep.cl_ord_id or "")
        et = rep.exec_type
        if pending is None:
            # some gateways answer a cancel / replace with the order's original ClOrdID
            root = self._book.root_of(rep)
            want = "cancel" if et in (w.ET_CANCELED, *w.ET_DONE) else "replace" if et == w.ET_REPLACED else ""
            for key, p in self._acks.items():
                if p.kind == want and p.root == root:
                    pending = self._acks[key]
                    break
        if pending is None or pending.future.done():
            return
        o = self._book.orders.get(pending.root)
        if et == w.ET_REJECTED:
            status, reason = OrderStatus.REJECTED, rep.text or "rejected by the FIX gateway"
        elif pending.kind == "cancel":
            status, reason = OrderStatus.CANCELLED, None
        elif o is not None:
            status, reason = o.status, None
        else:
            status, reason = rep.status, None
        self._finish(pending, status, reason, rep.order_id or (o.order_id if o else None), recv_ns)

    def _finish(self, p: _Pending, status: OrderStatus, reason: str | None, order_id: str | None, ack_ns: int) -> None:
        if status in (OrderStatus.SENT, OrderStatus.UNKNOWN):
            status = OrderStatus.WORKING
        # the answer can be read on quickfix's thread before the sender takes its timestamp
        ack_ns = max(ack_ns, p.sent_ns)
        key = next((k for k, v in self._acks.items() if v is p), None)
        if key is not None:
            del self._acks[key]
        if not p.future.done():
            p.future.set_result(
                OrderAck(
                    client_order_id=key or p.root,
                    broker_order_id=order_id,
                    status=status,
                    sent_ns=p.sent_ns,
                    ack_ns=ack_ns,
                    reason=reason,
                )
            )

    def _on_cancel_reject(self, f: w.Fields, recv_ns: int) -> None:
        key = f.get(w.CL_ORD_ID) or ""
        pending = self._acks.get(key)
        if pending is None:
            return
        reasons = {"0": "too late to cancel", "1": "unknown order", "3": "already pending cancel or replace"}
        text = f.text() or reasons.get(f.get(w.CXL_REJ_REASON) or "", "cancel / replace rejected")
        o = self._book.orders.get(pending.root)
        self._finish(pending, OrderStatus.REJECTED, text, o.order_id if o else f.get(w.ORDER_ID), recv_ns)

    def _on_reject(self, f: w.Fields, recv_ns: int) -> None:
        """A session (3) or business (j) reject, tied to the request it refuses by RefSeqNum."""
        ref = w.as_int(f.get(w.REF_SEQ_NUM))
        msg_type, key = self._sent_by_seq.get(ref if ref is not None else -1, ("", ""))
        sent = self._book.orders.get(key) if msg_type == w.NEW_ORDER else None
        reason = rejects.describe(f, msg_type, sent.order_type if sent else None, self.opts)
        if not msg_type:
            self._note(reason)
            return
        if msg_type in (w.NEW_ORDER, w.CANCEL, w.REPLACE):
            pending = self._acks.get(key)
            if msg_type == w.NEW_ORDER:
                for ev in self._book.reject(key, reason, f.seq, recv_ns, time.time_ns()):
                    self._queue.put_nowait(ev)
            if pending is not None:
                self._finish(pending, OrderStatus.REJECTED, reason, None, recv_ns)
            return
        kind = _READS.get(msg_type)
        if kind is None:
            self._note(reason)
            return
        # Any reject of AN / AF / H, whatever its reason (QuickFIX's executor answers AN with 380=5,
        # others with 380=3 or 373=11), means the gateway does not take it: never ask again.
        why = f"{self.opts.target_comp_id} {reason}"
        self._refuse(kind, why)
        table = {w.STATUS_REQUEST: self._status, w.MASS_STATUS: self._mass, w.POSITIONS_REQUEST: self._pos}[msg_type]
        waiter = table.get(key)
        if waiter is not None and not waiter.future.done():
            waiter.future.set_exception(_Unsupported(why))

    # ------------------------------------------------------------ optional reads
    def _refuse(self, kind: str, why: str) -> None:
        """The gateway refused (or never answered) a read: fall back for good, once, and say so."""
        if kind in self.refused:
            return
        if kind in self.supports and getattr(self.opts, kind) == "request":
            return  # asked for by name in the config: each read asks, and a refusal is an error
        self.refused[kind] = why
        if kind in self.supports:
            self.supports[kind] = False
        instead, option = _FALLBACK[kind]
        log.warning("fix %s: %s; %s from now on (%s skips asking)", self.opts.name, why, instead, option)
        if self.health.connected:
            self.health.detail = f"logged on: {self.opts.label}{self._fallback_detail()}"

    def _fallback_detail(self) -> str:
        parts = [f"{_FALLBACK[kind][0]} ({why})" for kind, why in self.refused.items()]
        return "".join(f"; {p}" for p in parts)

    def _ask_reads(self) -> None:
        """Ask AN and AF once in the background: nothing waits for them; until an answer comes,
        positions and open orders are the session's own."""
        reads = (("positions", self._request_positions), ("open_orders", self._request_open_orders))
        for kind, call in reads:
            if getattr(self.opts, kind) == "auto" and self.supports[kind]:
                self._ask(kind, call)

    def _ask(self, kind: str, call: Callable[[], Awaitable[Any]]) -> None:
        if kind in self._answered or kind in self._asking:
            return
        task = asyncio.get_running_loop().create_task(self._ask_once(kind, call), name=f"fix-{self.opts.name}-{kind}")
        self._asking[kind] = task
        task.add_done_callback(self._asked)

    async def _ask_once(self, kind: str, call: Callable[[], Awaitable[Any]]) -> None:
        try:
            await call()  # the answer lands in the session book (positions snapshot, adopted orders)
        except (_Unsupported, _NoAnswer) as exc:
            self._refuse(kind, str(exc))
        except BrokerError as exc:  # not logged on, or the session closed: the gateway never had it
            log.info("fix %s: %s not asked yet (%s): asked at the next read", self.opts.name, kind, exc)
            self._asking.pop(kind, None)
        else:
            self._answered.add(kind)

    def _asked(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("fix %s: %s failed", self.opts.name, task.get_name(), exc_info=task.exception())

    # -------------------------------------------------------------- positions
    def _on_positions_ack(self, f: w.Fields) -> None:
        waiter = self._pos.get(f.get(w.POS_REQ_ID) or "")
        if waiter is None or waiter.future.done():
            return
        result, status = f.get(w.POS_REQ_RESULT) or "0", f.get(w.POS_REQ_STATUS) or "0"
        if result == "2":  # no positions found
            waiter.finish()
        elif result != "0" or status == "2":
            why = f"{self.opts.target_comp_id} refused RequestForPositions (AN): {f.text() or 'result ' + result}"
            self._refuse("positions", why)
            waiter.future.set_exception(_Unsupported(why))
        else:
            waiter.total = w.as_int(f.get(w.TOTAL_NUM_POS_REPORTS))
            if waiter.total == 0:
                waiter.finish()

    def _on_position_report(self, f: w.Fields) -> None:
        waiter = self._pos.get(f.get(w.POS_REQ_ID) or "")
        if waiter is None or waiter.future.done() or not self._ours(f.get(w.ACCOUNT)):
            return
        symbol = f.get(w.SYMBOL) or ""
        if self.opts.symbol_suffix and symbol.endswith(self.opts.symbol_suffix):
            symbol = symbol[: -len(self.opts.symbol_suffix)]
        qty = 0
        for entry in f.groups(w.NO_POSITIONS, w.POS_TYPE):
            qty += (w.as_int(entry.get(w.LONG_QTY)) or 0) - (w.as_int(entry.get(w.SHORT_QTY)) or 0)
        avg = f.number(w.SETTL_PRICE) or 0.0
        total = w.as_int(f.get(w.TOTAL_NUM_POS_REPORTS))
        if total is not None and waiter.total is None:
            waiter.total = total
        waiter.add((symbol, qty, avg), f.get(w.LAST_RPT_REQUESTED) == "Y")

    # ------------------------------------------------------------------ orders
    def _require_logon(self, what: str) -> None:
        if not self._logged_on():
            raise Disconnected(f"fix account {self.opts.name}: not logged on ({self.health.state}); {what} not sent")

    def _send(self, m: fix.Message) -> int:
        """Write one message from the loop thread; perf_counter_ns right after it was written."""
        try:
            ok = fix.Session.sendToTarget(m, self.session_id)
        except fix.SessionNotFound:
            raise Disconnected(f"fix account {self.opts.name}: no FIX session") from None
        if not ok:
            raise Disconnected(f"fix account {self.opts.name}: quickfix did not send (session not logged on)")
        return time.perf_counter_ns()

    def _wire_symbol(self, symbol: str) -> str:
        return symbol + self.opts.symbol_suffix

    def _common(self, m: fix.Message, o: TrackedOrder) -> None:
        w.put(m, w.ACCOUNT, self.opts.account_id)
        w.put(m, w.SYMBOL, self._wire_symbol(o.symbol))
        w.put(m, w.SIDE, w.SIDE_CODE[o.side])
        w.put(m, w.TRANSACT_TIME, w.utc_timestamp())

    def _order_fields(self, m: fix.Message, order_type: OrderType, price: float | None, stop: float | None) -> None:
        w.put(m, w.HANDL_INST, "1")
        w.put(m, w.ORD_TYPE, w.ORD_TYPE_CODE[order_type])
        if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            w.put(m, w.PRICE, price)
        if order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
            w.put(m, w.STOP_PX, stop)

    def marketable_limit(self, order: FollowerOrder) -> tuple[OrderType, float | None, str | None]:
        """Order type and price on the wire; a reason when the order cannot be sent."""
        ticks = self.opts.marketable_limit_ticks
        if order.order_type is not OrderType.MARKET or ticks is None:
            return order.order_type, order.price, None
        ref = order.reference_price or order.price or self._book.last_price.get(order.symbol)
        if ref is None:
            return (
                order.order_type,
                None,
                (
                    f"marketable_limit_ticks is set but there is no reference price for {order.symbol} "
                    "(no leader fill price and no fill on this session yet)"
                ),
            )
        try:
            inst = instrument(order.symbol)
        except UnknownSymbol as exc:
            return order.order_type, None, f"marketable limit needs the tick size: {exc}"
        return OrderType.LIMIT, inst.round_price(ref + order.side.sign * ticks * inst.tick_size), None

    def _rejected(self, order: FollowerOrder, reason: str) -> OrderAck:
        now = time.perf_counter_ns()
        return OrderAck(
            client_order_id=order.client_order_id,
            broker_order_id=None,
            status=OrderStatus.REJECTED,
            sent_ns=now,
            ack_ns=now,
            reason=reason,
        )

    async def _await_ack(self, p: _Pending, key: str, what: str) -> OrderAck:
        try:
            async with asyncio.timeout(self.opts.ack_timeout_s):  # no extra task, unlike wait_for
                return await asyncio.shield(p.future)  # a second place() of the same order awaits it too
        except TimeoutError:
            self._acks.pop(key, None)
            raise AmbiguousOutcome(
                f"fix account {self.opts.name}: no answer to {what} {key} within {self.opts.ack_timeout_s:g}s"
            ) from None

    async def place(self, order: FollowerOrder) -> OrderAck:
        coid = order.client_order_id
        in_flight = self._acks.get(coid)
        if in_flight is not None and in_flight.kind == "new":
            return await self._await_ack(in_flight, coid, "NewOrderSingle")  # the same order, once
        known = self._book.find(coid)
        if known is not None:
            # never a second NewOrderSingle for one ClOrdID: answer from what the session knows
            if not known.order_id:
                raise AmbiguousOutcome(f"fix account {self.opts.name}: {coid} was sent without an answer yet")
            now = time.perf_counter_ns()
            return OrderAck(
                client_order_id=coid, broker_order_id=known.order_id, status=known.status, sent_ns=now, ack_ns=now
            )
        order_type, price, problem = self.marketable_limit(order)
        if problem:
            return self._rejected(order, problem)
        self._require_logon("NewOrderSingle")
        tracked = TrackedOrder(
            root=coid,
            cl_ord_id=coid,
            symbol=order.symbol,
            side=order.side,
            order_type=order_type,
            qty=order.qty,
            price=price,
            stop_price=order.stop_price,
        )
        m = w.message(self.opts.begin_string, w.NEW_ORDER)
        w.put(m, w.CL_ORD_ID, coid)
        self._common(m, tracked)
        w.put(m, w.ORDER_QTY, order.qty)
        self._order_fields(m, order_type, price, order.stop_price)
        w.put(m, w.TIME_IN_FORCE, w.TIF_CODE[order.tif])
        assert self._loop is not None
        pending = _Pending("new", coid, self._loop.create_future())
        self._acks[coid] = pending
        self._book.track(tracked)
        try:
            pending.sent_ns = self._send(m)
        except Disconnected:
            self._acks.pop(coid, None)
            self._book.orders.pop(coid, None)
            raise
        return await self._await_ack(pending, coid, "NewOrderSingle")

    def _target(self, order: FollowerOrder) -> TrackedOrder:
        target = order.target_client_order_id or order.broker_order_id or ""
        o = self._book.find(target)
        if o is None and order.broker_order_id:
            o = self._book.find(order.broker_order_id)
        if o is None:
            # placed before this process started: the wire needs only its ids, symbol and side
            o = self._book.track(
                TrackedOrder(
                    root=target,
                    cl_ord_id=target,
                    symbol=order.symbol,
                    side=order.side,
                    order_type=order.order_type,
                    qty=order.qty,
                    price=order.price,
                    stop_price=order.stop_price,
                    order_id=order.broker_order_id,
                    status=OrderStatus.WORKING,
                )
            )
        return o

    async def modify(self, order: FollowerOrder) -> OrderAck:
        if not order.target_client_order_id and not order.broker_order_id:
            return self._rejected(order, "a modify needs the client order id of the order to change")
        self._require_logon("OrderCancelReplaceRequest")
        o = self._target(order)
        if o.status.final:
            return self._rejected(order, f"order {o.root} is {o.status.value}")
        m = w.message(self.opts.begin_string, w.REPLACE)
        w.put(m, w.CL_ORD_ID, order.client_order_id)
        w.put(m, w.ORIG_CL_ORD_ID, o.cl_ord_id)
        w.put(m, w.ORDER_ID, o.order_id)
        self._common(m, o)
        w.put(m, w.ORDER_QTY, order.qty or o.qty)
        order_type = order.order_type if order.order_type is not OrderType.MARKET else o.order_type
        price = order.price if order.price is not None else o.price
        stop = order.stop_price if order.stop_price is not None else o.stop_price
        self._order_fields(m, order_type, price, stop)
        w.put(m, w.TIME_IN_FORCE, w.TIF_CODE[order.tif])
        return await self._send_change(order, o, m, "replace", "OrderCancelReplaceRequest")

    async def cancel(self, order: FollowerOrder) -> OrderAck:
        if not order.target_client_order_id and not order.broker_order_id:
            return self._rejected(order, "a cancel needs the client order id of the order to cancel")
        self._require_logon("OrderCancelRequest")
        o = self._target(order)
        if o.status.final:
            return self._rejected(order, f"order {o.root} is {o.status.value}")
        m = w.message(self.opts.begin_string, w.CANCEL)
        w.put(m, w.CL_ORD_ID, order.client_order_id)
        w.put(m, w.ORIG_CL_ORD_ID, o.cl_ord_id)
        w.put(m, w.ORDER_ID, o.order_id)
        self._common(m, o)
        w.put(m, w.ORDER_QTY, o.qty)
        return await self._send_change(order, o, m, "cancel", "OrderCancelRequest")

    async def _send_change(
        self, order: FollowerOrder, o: TrackedOrder, m: fix.Message, kind: str, what: str
    ) -> OrderAck:
        assert self._loop is not None
        key = order.client_order_id
        pending = _Pending(kind, o.root, self._loop.create_future())
        self._acks[key] = pending
        self._book.link(key, o.root)
        try:
            pending.sent_ns = self._send(m)
        except Disconnected:
            self._acks.pop(key, None)
            raise
        return await self._await_ack(pending, key, what)

    # ------------------------------------------------------------------- reads
    async def _request(self, table: dict[str, _Collect], key: str, m: fix.Message, what: str) -> list[Any]:
        assert self._loop is not None
        self._require_logon(what)
        waiter = _Collect(self._loop.create_future())
        table[key] = waiter
        try:
            self._send(m)
            return await asyncio.wait_for(asyncio.shield(waiter.future), self.opts.request_timeout_s)
        except TimeoutError:
            raise _NoAnswer(
                f"fix account {self.opts.name}: no answer to {what} within {self.opts.request_timeout_s:g}s"
            ) from None
        finally:
            table.pop(key, None)

    async def _optional(self, kind: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """The gateway's answer to AN / AF once it has answered one; None means: use the session's own view.

        ``auto``: the first request goes out in the background (see :meth:`_ask_reads`) and nothing
        waits for it; a reject or no answer makes the session's view final. ``request``: every call
        asks and waits, and a refusal is an error."""
        if not self.supports[kind]:
            return None
        if getattr(self.opts, kind) == "request":
            try:
                return await call()
            except _Unsupported as exc:
                raise BrokerError(f"fix account {self.opts.name}: {exc}") from None
        if kind not in self._answered:
            self._ask(kind, call)
            return None
        try:
            return await call()
        except (_Unsupported, _NoAnswer) as exc:
            self._refuse(kind, str(exc))
        return None

    async def positions(self) -> list[Position]:
        got = await self._optional("positions", self._request_positions)
        return self._book.position_list() if got is None else got

    async def _request_positions(self) -> list[Position]:
        key = w.request_id("pos")
        m = w.message(self.opts.begin_string, w.POSITIONS_REQUEST)
        w.put(m, w.POS_REQ_ID, key)
        w.put(m, w.POS_REQ_TYPE, "0")
        w.put(m, w.ACCOUNT, self.opts.account_id or self.account)
        w.put(m, w.ACCOUNT_TYPE, "1")
        w.put(m, w.CLEARING_BUSINESS_DATE, w.business_date())
        w.put(m, w.TRANSACT_TIME, w.utc_timestamp())
        w.put(m, w.SUBSCRIPTION_REQUEST_TYPE, "0")
        rows = await self._request(self._pos, key, m, "RequestForPositions")
        snapshot = {sym: (qty, avg) for sym, qty, avg in rows}
        self._book.set_positions(snapshot)
        return [
            Position(account=self.account, symbol=s, qty=q, avg_price=a) for s, (q, a) in sorted(snapshot.items()) if q
        ]

    async def open_orders(self) -> list[OrderInfo]:
        got = await self._optional("open_orders", self._request_open_orders)
        return self._book.open_orders() if got is None else got

    async def _request_open_orders(self) -> list[OrderInfo]:
        key = w.request_id("ms")
        m = w.message(self.opts.begin_string, w.MASS_STATUS)
        w.put(m, w.MASS_STATUS_REQ_ID, key)
        w.put(m, w.MASS_STATUS_REQ_TYPE, "7")
        w.put(m, w.ACCOUNT, self.opts.account_id)
        infos = await self._request(self._mass, key, m, "OrderMassStatusRequest")
        return [i for i in infos if i is not None and not i.status.final]

    async def find_order(self, client_order_id: str) -> OrderInfo | None:
        o = self._book.find(client_order_id)
        if o is not None and o.order_id:
            return o.info(self.account)
        if not self.opts.order_status_request:
            raise BrokerError(
                f"fix account {self.opts.name}: {client_order_id} is not in this session and "
                "order_status_request is off: check it at the gateway"
            )
        refused = self.refused.get("order_status")
        if refused is not None:  # asked once and refused: never again
            raise BrokerError(
                f"fix account {self.opts.name}: {client_order_id} is not in this session and the gateway does not "
                f"take OrderStatusRequest (H) ({refused}): check it at the gateway"
            )
        m = w.message(self.opts.begin_string, w.STATUS_REQUEST)
        w.put(m, w.CL_ORD_ID, client_order_id)
        if o is not None:
            self._common(m, o)
        else:
            w.put(m, w.ACCOUNT, self.opts.account_id)
        if self.opts.begin_string == w.FIX44:
            w.put(m, w.ORD_STATUS_REQ_ID, w.request_id("st"))
        try:
            rows = await self._request(self._status, client_order_id, m, "OrderStatusRequest")
        except _Unsupported as exc:
            raise BrokerError(f"fix account {self.opts.name}: cannot ask about {client_order_id}: {exc}") from None
        return rows[0] if rows else None

    async def fills_since(self, cursor: str | None) -> tuple[list[AccountEvent], str | None]:
        fills = self._book.fills
        start = 0
        if cursor:
            token, _, n = cursor.partition(":")
            if token == self._token and n.isdigit():
                start = int(n)
        return list(fills[start:]), f"{self._token}:{len(fills)}"

    async def flatten(self, symbol: str | None = None) -> None:
        asking = self._asking.get("positions")
        if asking is not None and not asking.done():  # a flatten is worth the wait for the gateway's positions
            await asyncio.wait([asking])
        for o in list(self._book.orders.values()):
            if o.status.final or not o.order_id or (symbol and o.symbol != symbol):
                continue
            with contextlib.suppress(BrokerError):
                await self.cancel(self._internal(OrderAction.CANCEL, o.symbol, o.side, 0, target=o.root))
        for p in await self.positions():
            if p.qty and (symbol is None or p.symbol == symbol):
                side = Side.for_delta(-p.qty)
                ref = self._book.last_price.get(p.symbol) or p.avg_price or None
                ack = await self.place(self._internal(OrderAction.PLACE, p.symbol, side, abs(p.qty), ref=ref))
                if ack.status is OrderStatus.REJECTED:
                    raise BrokerError(f"fix account {self.opts.name}: flatten {p.symbol} rejected: {ack.reason}")

    def _internal(
        self,
        action: OrderAction,
        symbol: str,
        side: Side,
        qty: int,
        *,
        target: str | None = None,
        ref: float | None = None,
    ) -> FollowerOrder:
        coid = fit_client_id(f"flatten|{self.account}|{symbol}|{action}|{time.time_ns()}", self.capabilities, "fl")
        return FollowerOrder(
            follower=self.opts.name,
            signal_id="flatten",
            client_order_id=coid,
            action=action,
            symbol=symbol,
            side=side,
            qty=qty,
            target_client_order_id=target,
            reference_price=ref,
        )

    # -------------------------------------------------------------- events
    async def subscribe(self) -> AsyncIterator[AccountEvent]:  # type: ignore[override]
        while True:
            item = await self._queue.get()
            if item is _CLOSED:
                return
            assert isinstance(item, AccountEvent)
            yield item
