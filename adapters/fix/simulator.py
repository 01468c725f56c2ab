"""A FIX 4.2 / 4.4 venue on 127.0.0.1: a quickfix SocketAcceptor over copytui's paper exchange.

It takes NewOrderSingle (D), OrderCancelRequest (F), OrderCancelReplaceRequest (G),
OrderStatusRequest (H), OrderMassStatusRequest (AF) and RequestForPositions (AN), on FIX 4.2 and
FIX 4.4 sessions alike, and answers with ExecutionReports, cancel rejects, position reports.
Other message types get a BusinessMessageReject. Fault injection: the paper exchange's
per-account :class:`Faults` (``faults`` applies them to every account the simulator opens):
``reject_rate`` and ``partial_fill_prob`` as the exchange plays them, ``duplicate_prob`` and
``reorder_prob`` send an account's execution reports twice or one after the next (a new
MsgSeqNum each, no PossDupFlag: a gateway that really sent it twice), ``drop_stream_prob`` drops
the FIX sessions that get the account's reports right after a report (the client logs on again
and asks for the gap), ``latency_ms`` holds each order request (D, F, G) that long before the venue
handles it. :meth:`FixSimulator.drop_after` drops a
session after N more execution reports (the rest stay in the store and are resent when the
client logs on again and asks for the gap); ``drop_prob`` drops at random;
:meth:`FixSimulator.duplicate_next` sends execution reports a second time with PossDupFlag=Y and
:meth:`FixSimulator.strip_next` leaves tags out of them (an unusable fill). ``ids_from_one`` plays
a counterparty whose ExecIDs and OrderIDs restart at 1 in each process, as QuickFIX's executor
does (FIX promises an ExecID unique only within a day and a session); an exchange handed in keeps
its own order numbering (``LockedExchange(first_order_id=1)`` to restart it too).
``unsupported`` (BusinessMessageReject 380=3), ``missing_field`` (380=5 "Conditionally Required
Field Missing (40)", QuickFIX's Python executor's answer to AN / AF / H) and ``silent`` (read, never
answered) play gateways without AN / AF / H.

Audit: :attr:`FixSimulator.audit` (an :class:`AuditLog`, also appended to ``audit_path``) records
every order request received, NewOrderSingle (place), OrderCancelRequest (cancel) and
OrderCancelReplaceRequest (modify), refused ones with the reason; :attr:`FixSimulator.received`
counts every application message by MsgType.

Routing: an account's execution reports go to every session that sent an order for it, to the
session whose client CompID equals the account name, and to drop-copy sessions named in
``watch`` (client CompID -> account, ``*`` for all accounts).

Threads: quickfix calls in on one thread per connection (a ThreadedSocketAcceptor: the plain
SocketAcceptor's stop races its own thread in quickfix 1.16); tests and the price walk call in on
theirs. Every exchange access holds the exchange's lock (see :class:`LockedExchange`), and reports
are sent while it is held: always that lock, then quickfix's session mutex, never the reverse.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import os
import random
import secrets
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import quickfix as fix

from adapters.base import OrderRejected
from adapters.fix import wire as w
from adapters.fix.msglog import ScrubbedLogFactory
from adapters.fix.session_config import acceptor_settings
from adapters.paper.exchange import Faults, PaperExchange, PaperOrder
from adapters.simkit.audit import AuditLog
from copytui.config import AccountConfig
from copytui.instruments import UnknownSymbol
from copytui.models import AccountEvent, EventKind, OrderStatus, OrderType, Side, TimeInForce

log = logging.getLogger("adapters.fix.simulator")

DEFAULT_CLIENTS = ("COPYTUI", "LEADER", "DROPCOPY", "CLIENT1", "CLIENT2")
_ORDER_REQUESTS = {w.NEW_ORDER: "place", w.CANCEL: "cancel", w.REPLACE: "modify"}
"""What the audit log records, by MsgType."""
_NOT_AUDITED = {8, 9, 10, w.MSG_SEQ_NUM, w.MSG_TYPE, w.SENDER_COMP_ID, w.SENDING_TIME, w.TARGET_COMP_ID, *w.SECRET_TAGS}


@dataclass
class _Route:
    session: fix.SessionID
    client: str
    begin: str
    accounts: set[str] = field(default_factory=set)
    reports: int = 0
    drop_after: int | None = None
    seen_logon: bool = False
    duplicate: int = 0  # the next N execution reports go out twice, the copy with PossDupFlag=Y
    strip: tuple[int, ...] = ()  # tags left out of the next ``strip_left`` execution reports
    strip_left: int = 0


class LockedExchange(PaperExchange):
    """A paper exchange that quickfix's threads, a price walk and a test may all drive: every
    method that moves it holds :attr:`lock` (re-entrant, so the simulator can hold it around a
    whole request)."""

    def __init__(self, seed: int = 0, **kw: Any) -> None:
        super().__init__(seed=seed, **kw)
        self.lock = threading.RLock()


def _locked(name: str) -> Any:
    base = getattr(PaperExchange, name)

    @functools.wraps(base)
    def method(self: LockedExchange, *args: Any, **kw: Any) -> Any:
        with self.lock:
            return base(self, *args, **kw)

    return method


for _name in ("step", "set_price", "account", "listen", "submit", "modify", "cancel", "flatten", "fill", "flush_held"):
    if hasattr(PaperExchange, _name):
        setattr(LockedExchange, _name, _locked(_name))


class _Acceptor(fix.Application):
    def __init__(self, sim: FixSimulator) -> None:
        super().__init__()
        self.sim = sim

    def onCreate(self, session_id: fix.SessionID) -> None:  # noqa: N802 - quickfix's name
        return None

    def onLogon(self, session_id: fix.SessionID) -> None:  # noqa: N802
        self.sim.logons += 1

    def onLogout(self, session_id: fix.SessionID) -> None:  # noqa: N802
        return None

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        return None

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        if message.getHeader().getField(w.MSG_TYPE) != w.LOGON:
            return
        if self.sim.password is not None:
            given = message.getField(w.PASSWORD) if message.isSetField(w.PASSWORD) else ""
            if not secrets.compare_digest(given, self.sim.password):
                raise fix.RejectLogon("wrong or missing password (554)")
        route = self.sim.routes.get(session_id.toString())
        if route is not None:
            # from here on its reports are kept for it: sent, or resent after the logon completes
            route.seen_logon = True

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        orig_sending_time = getattr(self.sim.resending, "orig_sending_time", None)
        if orig_sending_time is not None:
            # quickfix strips PossDupFlag from a new message before this call: set it here
            header = message.getHeader()
            header.setField(w.POSS_DUP, "Y")
            header.setField(w.ORIG_SENDING_TIME, orig_sending_time)

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        fields = w.Fields.of(message)
        sim = self.sim
        sim.received[fields.msg_type] += 1
        if fields.msg_type in sim.silent:
            return
        if fields.msg_type in sim.missing_field:
            raise fix.FieldNotFound(w.ORD_TYPE)  # quickfix answers 35=j 380=5, as for QuickFIX's Python executor
        handler = sim.handlers.get(fields.msg_type)
        if handler is None:
            raise fix.UnsupportedMessageType()
        delay = sim.latency_s(session_id, fields)
        if delay:
            time.sleep(delay)  # this connection's own thread (threaded acceptor): other sessions go on
        try:
            with sim.lock:
                handler(session_id, fields)
        except Exception as exc:  # a simulator bug must not kill quickfix's thread
            log.exception("FIX simulator failed on %s", fields.msg_type)
            sim.record(session_id, fields, f"simulator error: {type(exc).__name__}: {exc}")


class FixSimulator:
    """``with FixSimulator(port) as sim:`` runs a FIX venue on ``port`` until the block ends."""

    def __init__(
        self,
        port: int,
        *,
        exchange: PaperExchange | None = None,
        comp_id: str = "SIM",
        clients: tuple[str, ...] = DEFAULT_CLIENTS,
        versions: tuple[str, ...] = w.VERSIONS,
        watch: dict[str, str] | None = None,
        password: str | None = None,
        store_dir: Path | None = None,
        log_path: Path | None = None,
        drop_prob: float = 0.0,
        tick_interval_s: float | None = None,
        seed: int = 7,
        unsupported: tuple[str, ...] = (),
        missing_field: tuple[str, ...] = (),
        silent: tuple[str, ...] = (),
        ids_from_one: bool = False,
        faults: Faults | None = None,
        audit_path: str | Path | None = None,
    ) -> None:
        self.port = port
        self.exchange = exchange or LockedExchange(seed=seed, first_order_id=1 if ids_from_one else None)
        self.ids_from_one = ids_from_one
        self.comp_id = comp_id
        self.password = password
        self.watch = dict(watch or {})
        self.drop_prob = drop_prob
        self.tick_interval_s = tick_interval_s
        self.lock: threading.RLock = getattr(self.exchange, "lock", None) or threading.RLock()
        self.faults = faults
        self.missing_field = frozenset(missing_field)
        self.silent = frozenset(silent)
        self.audit = AuditLog("fix", audit_path)
        """Every order request received (refused ones too): ``sim.audit.entries`` / ``as_json()``."""
        self.received: Counter[str] = Counter()
        self.positions_result: str | None = None
        """Set (e.g. "4", not supported): AN gets a PositionsAck with this PosReqResult and no reports."""
        self.logons = 0
        self.drops = 0
        self.duplicates_sent = 0
        self.resending = threading.local()  # .orig_sending_time: of the report this thread sends again
        self._rng = random.Random(seed)
        self._token = secrets.token_hex(3)
        self._exec_ids = itertools.count(1)
        self._tmp = None if store_dir else tempfile.TemporaryDirectory(prefix="copytui-fixsim-")
        self.store_dir = store_dir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.routes: dict[str, _Route] = {}
        for version in versions:
            for client in clients:
                sid = fix.SessionID(version, comp_id, client)
                self.routes[sid.toString()] = _Route(sid, client, version)
        self.listened: set[str] = set()
        self.clordid_of: dict[str, str] = {}  # paper order id -> current ClOrdID
        self.order_of: dict[tuple[str, str], str] = {}  # (account, any ClOrdID of the chain) -> paper id
        self.orig_of: dict[str, str] = {}  # paper order id -> ClOrdID before the last change
        self._rejects: set[str] = set()
        self.handlers = {
            w.NEW_ORDER: self._new_order,
            w.CANCEL: self._cancel,
            w.REPLACE: self._replace,
            w.STATUS_REQUEST: self._status,
            w.MASS_STATUS: self._mass_status,
            w.POSITIONS_REQUEST: self._positions,
        }
        for msg_type in unsupported:  # play a gateway without AF / AN / H: BusinessMessageReject
            self.handlers.pop(msg_type, None)
        self._settings = acceptor_settings(port, [r.session for r in self.routes.values()], self.store_dir)
        self._logs = ScrubbedLogFactory(log_path)
        self._app = _Acceptor(self)
        self._acceptor: Any = None
        self._stop = threading.Event()
        self._walker: threading.Thread | None = None

    # ------------------------------------------------------------- lifecycle
    def start(self) -> FixSimulator:
        """Listen. quickfix's sessions are process-wide: they exist from here until :meth:`stop`."""
        for r in self.routes.values():
            if fix.Session.lookupSession(r.session) is not None:
                raise OSError(f"FIX session {r.session.toString()} already runs in this process")
        settings = self._settings
        # threaded: SocketAcceptor.stop races its own thread over the listening socket (quickfix 1.16)
        self._acceptor = fix.ThreadedSocketAcceptor(self._app, fix.FileStoreFactory(settings), settings, self._logs)
        try:
            self._acceptor.start()
        except (fix.ConfigError, fix.RuntimeError) as exc:
            self._acceptor = None
            raise OSError(f"FIX simulator cannot listen on port {self.port}: {exc}") from None
        if self.tick_interval_s:
            self._walker = threading.Thread(target=self._walk, name="fix-sim-walk", daemon=True)
            self._walker.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._walker is not None:
            self._walker.join(timeout=5)
        acceptor, self._acceptor = self._acceptor, None
        if acceptor is not None:
            self._logout_all()
            acceptor.stop(True)
            del acceptor  # quickfix sessions are process-global: free them now, not at some GC
        self._logs.close()
        self.audit.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def _logout_all(self, wait_s: float = 2.0) -> None:
        """Log every client out (quickfix's stop busy-waits while any session is logged on)."""
        live = [fix.Session.lookupSession(r.session) for r in self.routes.values()]
        live = [s for s in live if s is not None and s.isLoggedOn()]
        for session in live:
            session.logout("simulator stopping")
        deadline = time.monotonic() + wait_s
        while any(s.isLoggedOn() for s in live) and time.monotonic() < deadline:
            time.sleep(0.01)
        for session in live:
            if session.isLoggedOn():
                session.disconnect()

    def __enter__(self) -> FixSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _walk(self) -> None:
        while not self._stop.wait(self.tick_interval_s):
            with self.lock:
                self.exchange.step()

    @property
    def sessions(self) -> list[str]:
        return sorted(self.routes)

    # ------------------------------------------------------- test / CLI hooks
    @contextlib.contextmanager
    def locked(self) -> Iterator[PaperExchange]:
        """The exchange, held: ``with sim.locked() as x: x.submit(...)`` from any thread."""
        with self.lock:
            yield self.exchange

    def account(self, name: str, faults: Faults | None = None) -> None:
        with self.lock:
            self._ensure(name)
            if faults is not None:
                self.exchange.account(name, faults=faults)

    def set_price(self, symbol: str, price: float) -> None:
        with self.lock:
            self.exchange.set_price(symbol, price)

    def drop_after(self, reports: int, client: str | None = None) -> None:
        """Drop the client's session(s) after ``reports`` more execution reports."""
        with self.lock:
            for r in self.routes.values():
                if client is None or r.client == client:
                    r.drop_after = r.reports + reports

    def duplicate_next(self, reports: int, client: str | None = None) -> None:
        """Send the client's next ``reports`` execution reports twice: the copy, under a new
        MsgSeqNum, carries PossDupFlag=Y and OrigSendingTime (a gateway replaying what it sent)."""
        with self.lock:
            for r in self.routes.values():
                if client is None or r.client == client:
                    r.duplicate += reports

    def strip_next(self, tags: tuple[int, ...], reports: int = 1, client: str | None = None) -> None:
        """Leave ``tags`` out of the client's next ``reports`` execution reports."""
        with self.lock:
            for r in self.routes.values():
                if client is None or r.client == client:
                    r.strip, r.strip_left = tags, reports

    def logged_on(self, client: str) -> bool:
        for r in self.routes.values():
            session = fix.Session.lookupSession(r.session)
            if r.client == client and session is not None and session.isLoggedOn():
                return True
        return False

    # ---------------------------------------------------------------- routing
    def _ensure(self, account: str) -> None:
        if account not in self.exchange.accounts:
            self.exchange.account(account, faults=self.faults)
        if account not in self.listened:
            self.listened.add(account)
            self.exchange.listen(
                account, lambda ev, a=account: self._on_event(a, ev), on_drop=lambda a=account: self._drop_stream(a)
            )

    def _drop_stream(self, account: str) -> None:
        """The exchange's ``drop_stream_prob`` fault: drop the sessions that get the account's reports."""
        for r in self._targets(account):
            self._drop(r)

    def latency_s(self, session_id: fix.SessionID, f: w.Fields) -> float:
        """The ``latency_ms`` fault of the account an order request names, in seconds."""
        if f.msg_type not in _ORDER_REQUESTS:
            return 0.0
        acct = self.exchange.accounts.get(f.get(w.ACCOUNT) or self._route(session_id).client)
        return acct.faults.latency_ms / 1000.0 if acct is not None else 0.0

    def record(self, session_id: fix.SessionID, f: w.Fields, refused: str | None = None) -> None:
        """Audit one order request: accepted, or refused with ``refused`` as the reason."""
        action = _ORDER_REQUESTS.get(f.msg_type)
        if action is None:
            return
        client = self._route(session_id).client
        request = {"SenderCompID": client, "MsgType": f.msg_type}
        for tag, value in f.pairs:
            if tag not in _NOT_AUDITED:
                request.setdefault(w.TAG_NAMES.get(tag, str(tag)), value)
        outcome = "refused" if refused is not None else "accepted"
        account = f.get(w.ACCOUNT) or client
        self.audit.record(account, action, f.get(w.CL_ORD_ID), outcome, refused or "", request)

    def _route(self, session_id: fix.SessionID) -> _Route:
        return self.routes[session_id.toString()]

    def _targets(self, account: str) -> list[_Route]:
        out = []
        for r in self.routes.values():
            watched = self.watch.get(r.client)
            if r.seen_logon and (account in r.accounts or r.client == account or watched in ("*", account)):
                out.append(r)
        return out

    def _send(self, r: _Route, m: fix.Message, report: bool = False) -> None:
        if report and r.strip_left > 0:
            r.strip_left -= 1
            for tag in r.strip:
                m.removeField(tag)
        # sent while logged out, a message is only stored: the client gets it by a resend request
        fix.Session.sendToTarget(m, r.session)
        if not report:
            return
        if r.duplicate > 0:
            r.duplicate -= 1
            self._send_again(r, m)
        r.reports += 1
        due = r.drop_after is not None and r.reports >= r.drop_after
        if due or (self.drop_prob and self._rng.random() < self.drop_prob):
            r.drop_after = None
            self._drop(r)

    def _send_again(self, r: _Route, sent: fix.Message) -> None:
        # quickfix filled in the header of ``sent``: its SendingTime is the original's. toApp, called
        # on this thread inside sendToTarget, flags the copy
        self.resending.orig_sending_time = sent.getHeader().getField(w.SENDING_TIME)
        try:
            fix.Session.sendToTarget(fix.Message(sent), r.session)
        finally:
            self.resending.orig_sending_time = None
        self.duplicates_sent += 1

    def drop(self, client: str | None = None) -> int:
        """Drop the client's logged-on session(s) now, without a Logout (fault injection)."""
        with self.lock:
            return sum(self._drop(r) for r in self.routes.values() if client is None or r.client == client)

    def _drop(self, r: _Route) -> bool:
        # safe from any thread with the threaded acceptor: it shuts the socket down, which wakes
        # the connection's own thread
        session = fix.Session.lookupSession(r.session)
        if session is None or not session.isLoggedOn():
            return False
        self.drops += 1
        log.info("FIX simulator: dropping %s (fault injection)", r.client)
        session.disconnect()
        return True

    # ---------------------------------------------------------------- reports
    def _exec_id(self) -> str:
        n = next(self._exec_ids)
        return str(n) if self.ids_from_one else f"{self._token}-{n}"

    def _report(self, r: _Route, order: PaperOrder, exec_type: str, **kw: Any) -> fix.Message:
        begin = r.begin
        m = w.message(begin, w.EXEC_REPORT)
        status = kw.pop("ord_status", None) or w.STATUS_CODE.get(order.status, "0")
        if begin == w.FIX42:
            w.put(m, w.EXEC_TRANS_TYPE, kw.pop("trans", "0"))
            if exec_type == w.ET_TRADE:
                exec_type = "2" if order.leaves == 0 else "1"
            elif exec_type == w.ET_STATUS:
                exec_type = status
        else:
            kw.pop("trans", None)
        w.put(m, w.ORDER_ID, order.id)
        w.put(m, w.EXEC_ID, kw.pop("exec_id", None) or self._exec_id())
        w.put(m, w.EXEC_TYPE, exec_type)
        w.put(m, w.ORD_STATUS, status)
        w.put(m, w.CL_ORD_ID, kw.pop("cl_ord_id", None) or self.clordid_of.get(order.id, order.client_order_id))
        w.put(m, w.ORIG_CL_ORD_ID, kw.pop("orig", None))
        w.put(m, w.ACCOUNT, order.account)
        w.put(m, w.SYMBOL, order.symbol)
        w.put(m, w.SIDE, w.SIDE_CODE[order.side])
        w.put(m, w.ORDER_QTY, order.qty)
        w.put(m, w.ORD_TYPE, w.ORD_TYPE_CODE[order.order_type])
        w.put(m, w.PRICE, order.price)
        w.put(m, w.STOP_PX, order.stop_price)
        w.put(m, w.TIME_IN_FORCE, w.TIF_CODE.get(order.tif, "0"))
        w.put(m, w.CUM_QTY, order.filled)
        w.put(m, w.LEAVES_QTY, 0 if order.status.final else order.leaves)
        w.put(m, w.AVG_PX, order.avg_fill_price or 0.0)
        w.put(m, w.TRANSACT_TIME, w.utc_timestamp())
        for tag, value in kw.pop("extra", {}).items():
            w.put(m, tag, value)
        return m

    def _on_event(self, account: str, ev: AccountEvent) -> None:
        """A paper exchange event, on whichever thread moved the exchange (the lock is held)."""
        acct = self.exchange.accounts[account]
        order = acct.orders.get(ev.order_id or "")
        if order is None or ev.kind is EventKind.POSITION:
            return
        kw: dict[str, Any] = {}
        if ev.kind is EventKind.ORDER_NEW:
            et = w.ET_NEW
            kw["ord_status"] = "0"
        elif ev.kind is EventKind.ORDER_MODIFIED:
            et = w.ET_REPLACED
            kw["orig"] = self.orig_of.get(order.id)
        elif ev.kind is EventKind.ORDER_CANCELLED:
            et = w.ET_CANCELED
            kw["orig"] = self.orig_of.get(order.id)
        elif ev.kind is EventKind.ORDER_REJECTED:
            et = w.ET_REJECTED
            self._rejects.add(order.client_order_id or "")
            kw["extra"] = {w.TEXT: ev.reason or "rejected", w.ORD_REJ_REASON: "99"}
        elif ev.kind is EventKind.FILL:
            et = w.ET_TRADE
            kw["ord_status"] = "2" if order.leaves == 0 else "1"
            kw["extra"] = {w.LAST_QTY: ev.fill_qty, w.LAST_PX: ev.fill_price}
            kw["exec_id"] = self._exec_id() if self.ids_from_one else f"{self._token}-{account}-{ev.fill_id}"
        else:
            return
        # listeners run inside the exchange call: the order is as of this event
        for r in self._targets(account):
            self._send(r, self._report(r, order, et, **kw), report=True)

    # --------------------------------------------------------------- handlers
    def _account(self, r: _Route, f: w.Fields) -> str:
        account = f.get(w.ACCOUNT) or r.client
        self._ensure(account)
        r.accounts.add(account)
        return account

    def _reject_new(self, r: _Route, f: w.Fields, text: str) -> None:
        m = w.message(r.begin, w.EXEC_REPORT)
        if r.begin == w.FIX42:
            w.put(m, w.EXEC_TRANS_TYPE, "0")
        for tag, value in (
            (w.ORDER_ID, "NONE"),
            (w.EXEC_ID, self._exec_id()),
            (w.EXEC_TYPE, w.ET_REJECTED),
            (w.ORD_STATUS, "8"),
            (w.CL_ORD_ID, f.get(w.CL_ORD_ID)),
            (w.ACCOUNT, f.get(w.ACCOUNT)),
            (w.SYMBOL, f.get(w.SYMBOL)),
            (w.SIDE, f.get(w.SIDE)),
            (w.ORDER_QTY, f.get(w.ORDER_QTY)),
            (w.ORD_TYPE, f.get(w.ORD_TYPE)),
            (w.CUM_QTY, 0),
            (w.LEAVES_QTY, 0),
            (w.AVG_PX, 0),
            (w.ORD_REJ_REASON, "99"),
            (w.TEXT, text),
        ):
            w.put(m, tag, value)
        self._send(r, m, report=True)

    def _new_order(self, session_id: fix.SessionID, f: w.Fields) -> None:
        r = self._route(session_id)
        account = self._account(r, f)
        coid = f.get(w.CL_ORD_ID) or ""
        side = w.CODE_SIDE.get(f.get(w.SIDE) or "")
        order_type = w.CODE_ORD_TYPE.get(f.get(w.ORD_TYPE) or "")
        qty = f.qty(w.ORDER_QTY) or 0
        if not coid or side is None or order_type is None:
            self._reject_new(r, f, "ClOrdID, Side (1/2) and OrdType (1-4) are required")
            self.record(session_id, f, "ClOrdID, Side (1/2) and OrdType (1-4) are required")
            return
        tif = w.CODE_TIF.get(f.get(w.TIME_IN_FORCE) or "0", TimeInForce.DAY)
        try:
            order = self.exchange.submit(
                account,
                symbol=f.get(w.SYMBOL) or "",
                side=side,
                qty=qty,
                order_type=order_type,
                price=f.number(w.PRICE),
                stop_price=f.number(w.STOP_PX),
                tif=tif,
                client_order_id=coid,
            )
        except OrderRejected as exc:
            if coid not in self._rejects:  # a fault reject was reported by its exchange event
                self._reject_new(r, f, str(exc))
            self._rejects.discard(coid)
            self.record(session_id, f, str(exc))
            return
        except UnknownSymbol as exc:
            self._reject_new(r, f, str(exc))
            self.record(session_id, f, str(exc))
            return
        self.order_of[(account, coid)] = order.id
        self.clordid_of.setdefault(order.id, coid)
        self.record(session_id, f)

    def _find(self, account: str, f: w.Fields) -> PaperOrder | None:
        acct = self.exchange.accounts.get(account)
        if acct is None:
            return None
        for key in (f.get(w.ORIG_CL_ORD_ID), f.get(w.CL_ORD_ID)):
            oid = self.order_of.get((account, key or ""))
            if oid:
                return acct.orders.get(oid)
        oid = f.get(w.ORDER_ID)
        return acct.orders.get(oid or "")

    def _cancel_reject(self, r: _Route, f: w.Fields, order: PaperOrder | None, reason: str, text: str) -> None:
        m = w.message(r.begin, w.CANCEL_REJECT)
        w.put(m, w.ORDER_ID, order.id if order else "NONE")
        w.put(m, w.CL_ORD_ID, f.get(w.CL_ORD_ID))
        w.put(m, w.ORIG_CL_ORD_ID, f.get(w.ORIG_CL_ORD_ID))
        w.put(m, w.ORD_STATUS, w.STATUS_CODE.get(order.status, "8") if order else "8")
        w.put(m, w.ACCOUNT, f.get(w.ACCOUNT))
        w.put(m, w.CXL_REJ_RESPONSE_TO, "1" if f.msg_type == w.CANCEL else "2")
        w.put(m, w.CXL_REJ_REASON, reason)
        w.put(m, w.TEXT, text)
        self._send(r, m)
        self.record(r.session, f, text)

    def _change(self, r: _Route, f: w.Fields) -> tuple[str, PaperOrder] | None:
        account = self._account(r, f)
        order = self._find(account, f)
        if order is None:
            self._cancel_reject(r, f, None, "1", f"unknown order {f.get(w.ORIG_CL_ORD_ID)}")
            return None
        if order.status.final:
            self._cancel_reject(r, f, order, "0", f"order {order.id} is {order.status.value}")
            return None
        return account, order

    def _cancel(self, session_id: fix.SessionID, f: w.Fields) -> None:
        r = self._route(session_id)
        found = self._change(r, f)
        if found is None:
            return
        account, order = found
        new = f.get(w.CL_ORD_ID) or ""
        self.orig_of[order.id] = self.clordid_of.get(order.id, order.client_order_id or "")
        self.clordid_of[order.id] = new
        self.order_of[(account, new)] = order.id
        self.exchange.cancel(account, order.id)
        self.record(session_id, f)

    def _replace(self, session_id: fix.SessionID, f: w.Fields) -> None:
        r = self._route(session_id)
        found = self._change(r, f)
        if found is None:
            return
        account, order = found
        new = f.get(w.CL_ORD_ID) or ""
        before = (self.orig_of.get(order.id), self.clordid_of.get(order.id))
        self.orig_of[order.id] = self.clordid_of.get(order.id, order.client_order_id or "")
        self.clordid_of[order.id] = new
        self.order_of[(account, new)] = order.id
        try:
            self.exchange.modify(
                account, order.id, qty=f.qty(w.ORDER_QTY), price=f.number(w.PRICE), stop_price=f.number(w.STOP_PX)
            )
        except OrderRejected as exc:
            orig, current = before
            self.clordid_of[order.id] = current or order.client_order_id or ""
            if orig is not None:
                self.orig_of[order.id] = orig
            self._cancel_reject(r, f, order, "99", str(exc))
            return
        self.record(session_id, f)

    def _status(self, session_id: fix.SessionID, f: w.Fields) -> None:
        r = self._route(session_id)
        account = self._account(r, f)
        order = self._find(account, f)
        extra = {w.ORD_STATUS_REQ_ID: f.get(w.ORD_STATUS_REQ_ID)}
        if order is None:
            unknown = PaperOrder(
                id="NONE",
                account=account,
                symbol=f.get(w.SYMBOL) or "NA",
                side=w.CODE_SIDE.get(f.get(w.SIDE) or "", Side.BUY),
                order_type=OrderType.MARKET,
                qty=0,
                price=None,
                stop_price=None,
                tif=TimeInForce.DAY,
                client_order_id=f.get(w.CL_ORD_ID),
                status=OrderStatus.REJECTED,
            )
            extra |= {w.ORD_REJ_REASON: "5", w.TEXT: "unknown order"}
            self._send(r, self._report(r, unknown, w.ET_STATUS, trans="3", ord_status="8", extra=extra))
            return
        self._send(r, self._report(r, order, w.ET_STATUS, trans="3", extra=extra))

    def _mass_status(self, session_id: fix.SessionID, f: w.Fields) -> None:
        r = self._route(session_id)
        account = self._account(r, f)
        req = f.get(w.MASS_STATUS_REQ_ID)
        working = [o for o in self.exchange.accounts[account].orders.values() if not o.status.final]
        if not working:
            m = w.message(r.begin, w.EXEC_REPORT)
            for tag, value in (
                (w.ORDER_ID, "NONE"),
                (w.EXEC_ID, self._exec_id()),
                (w.EXEC_TRANS_TYPE, "3" if r.begin == w.FIX42 else None),
                (w.EXEC_TYPE, w.ET_STATUS if r.begin == w.FIX44 else "0"),
                (w.ORD_STATUS, "0"),
                (w.ACCOUNT, account),
                (w.SIDE, "1"),
                (w.CUM_QTY, 0),
                (w.LEAVES_QTY, 0),
                (w.AVG_PX, 0),
                (w.MASS_STATUS_REQ_ID, req),
                (w.TOT_NUM_REPORTS, 0),
                (w.LAST_RPT_REQUESTED, "Y"),
            ):
                w.put(m, tag, value)
            self._send(r, m)
            return
        for i, order in enumerate(working, 1):
            extra = {w.MASS_STATUS_REQ_ID: req, w.TOT_NUM_REPORTS: len(working)}
            if i == len(working):
                extra[w.LAST_RPT_REQUESTED] = "Y"
            self._send(r, self._report(r, order, w.ET_STATUS, trans="3", extra=extra))

    def _positions(self, session_id: fix.SessionID, f: w.Fields) -> None:
        r = self._route(session_id)
        account = self._account(r, f)
        req = f.get(w.POS_REQ_ID)
        refused = self.positions_result
        held = [p for p in self.exchange.position_list(account) if p.qty and refused is None]
        date = f.get(w.CLEARING_BUSINESS_DATE) or w.business_date()
        ack = w.message(r.begin, w.POSITIONS_ACK)
        for tag, value in (
            (w.POS_MAINT_RPT_ID, self._exec_id()),
            (w.POS_REQ_ID, req),
            (w.TOTAL_NUM_POS_REPORTS, len(held)),
            (w.POS_REQ_RESULT, refused or ("0" if held else "2")),
            (w.POS_REQ_STATUS, "2" if refused else "0"),
            (w.ACCOUNT, account),
            (w.ACCOUNT_TYPE, "1"),
        ):
            w.put(ack, tag, value)
        self._send(r, ack)
        for i, p in enumerate(held, 1):
            m = w.message(r.begin, w.POSITION_REPORT)
            for tag, value in (
                (w.POS_MAINT_RPT_ID, self._exec_id()),
                (w.POS_REQ_ID, req),
                (w.TOTAL_NUM_POS_REPORTS, len(held)),
                (w.POS_REQ_RESULT, "0"),
                (w.CLEARING_BUSINESS_DATE, date),
                (w.ACCOUNT, account),
                (w.ACCOUNT_TYPE, "1"),
                (w.SYMBOL, p.symbol),
                (w.SETTL_PRICE, p.avg_price),
                (w.SETTL_PRICE_TYPE, "1"),
                (w.NO_POSITIONS, 1),
                (w.POS_TYPE, "TQ"),
                (w.LONG_QTY, max(p.qty, 0)),
                (w.SHORT_QTY, max(-p.qty, 0)),
                (w.LAST_RPT_REQUESTED, "Y" if i == len(held) else None),
            ):
                w.put(m, tag, value)
            self._send(r, m)


def simulator_for_cli(
    port: int,
    accounts: int = 3,
    seed: int = 7,
    *,
    faults: Faults | None = None,
    audit: str | None = None,
    ids_from_one: bool = False,
) -> FixSimulator:
    """The simulator ``copytui sim fix`` runs (not started): demo accounts FIX1..FIXn, each with
    ``faults``; ``audit``: a JSON-lines file that gets every order request received."""
    names = [f"FIX{i}" for i in range(1, accounts + 1)]
    sim = FixSimulator(
        port,
        clients=(*DEFAULT_CLIENTS, *names),
        watch={"DROPCOPY": "*", "LEADER": names[0]},
        tick_interval_s=0.25,
        seed=seed,
        password=os.environ.get("COPYTUI_FIX_SIM_PASSWORD") or None,
        ids_from_one=ids_from_one,
        faults=faults,
        audit_path=audit,
    )
    for name in names:
        sim.account(name)  # with ``faults``, as every account the simulator opens
    return sim


def serve(
    port: int,
    accounts: int = 3,
    seed: int = 7,
    *,
    faults: Faults | None = None,
    audit: str | None = None,
    ids_from_one: bool = False,
) -> None:
    """``copytui sim fix --port P``: run until Ctrl-C with demo accounts FIX1..FIXn. ``faults``: for
    every account (see the module's docstring for how each plays on FIX); ``audit``: append every
    order request received, refused ones too, to this JSON-lines file. ``ids_from_one``: OrderIDs
    and ExecIDs restart at 1 in each run, like QuickFIX's executor."""
    if port == 0:
        with socket.socket() as probe:  # quickfix cannot report the port it bound: pick one first
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    sim = simulator_for_cli(port, accounts, seed, faults=faults, audit=audit, ids_from_one=ids_from_one)
    names = [f"FIX{i}" for i in range(1, accounts + 1)]

    def stop_on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # leave through the finally below: log out clients, drop temp files

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        sim.start()
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        print(f"FIX simulator on 127.0.0.1:{port}: FIX.4.2 and FIX.4.4, TargetCompID {sim.comp_id}", flush=True)
        print(f"  SenderCompIDs: {', '.join(sorted({r.client for r in sim.routes.values()}))}", flush=True)
        print(f"  accounts (tag 1): {', '.join(names)}; DROPCOPY watches every account", flush=True)
        print("  logon password (554): " + ("from $COPYTUI_FIX_SIM_PASSWORD" if sim.password else "none"), flush=True)
        if faults is not None and faults != Faults():
            print(f"  faults on every account: {faults}", flush=True)
        if audit:
            print(f"  audit: every order request received is appended to {audit}", flush=True)
        print("Ctrl-C to stop.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(0.5)
    finally:
        sim.stop()


_bench_runs = itertools.count(1)


def _free_port() -> int:
    with socket.socket() as probe:  # quickfix cannot report the port it bound: pick one first
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def bench_accounts(
    names: Sequence[str],
) -> AsyncIterator[tuple[list[AccountConfig], Callable[[str], str | None]]]:
    """The benchmark's hook (copytui/bench/brokers.py): one FIX 4.4 session and account per follower name.

    quickfix sessions are process-wide, so each call uses CompIDs of its own (``B<run>F<n>``)."""
    run = next(_bench_runs)
    clients = tuple(f"B{run}F{i}" for i in range(1, len(names) + 1))
    sim = FixSimulator(_free_port(), clients=clients, versions=(w.FIX44,))
    for client in clients:
        sim.account(client)
    sim.start()
    options = {
        "begin_string": w.FIX44,
        "target_comp_id": sim.comp_id,
        "reset_on_logon": True,  # the simulator's store is new each run: so are the sequence numbers
        "reconnect_interval": 1,
        "message_log": False,
    }
    configs = [
        AccountConfig(
            name=n,
            broker="fix",
            host="127.0.0.1",
            port=sim.port,
            account_id=client,
            options={**options, "sender_comp_id": client},
        )
        for n, client in zip(names, clients, strict=True)
    ]
    try:
        yield configs, lambda _key: None  # the simulator asks no logon password
    finally:
        sim.stop()
