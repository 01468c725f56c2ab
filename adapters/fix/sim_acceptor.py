"""quickfix's callbacks for the FIX simulator's acceptor. quickfix calls them on one thread per
connection (a ThreadedSocketAcceptor); each order or status request is handled there, holding the
exchange's lock."""

from __future__ import annotations

import logging
import secrets
import time
from typing import TYPE_CHECKING

import quickfix as fix

from adapters.fix import wire as w
from adapters.fix.qf import Application

if TYPE_CHECKING:
    from adapters.fix.simulator import FixSimulator

log = logging.getLogger("adapters.fix.simulator")


class Acceptor(Application):
    """Checks the logon password, counts what it receives, hands requests to the venue's handlers."""

    def __init__(self, sim: FixSimulator) -> None:
        super().__init__()
        self.sim = sim

    def onCreate(self, session_id: fix.SessionID) -> None:
        return None

    def onLogon(self, session_id: fix.SessionID) -> None:
        self.sim.logons += 1

    def onLogout(self, session_id: fix.SessionID) -> None:
        return None

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        return None

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
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

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        orig_sending_time = getattr(self.sim.delivery.resending, "orig_sending_time", None)
        if orig_sending_time is not None:
            # quickfix strips PossDupFlag from a new message before this call: set it here
            header = message.getHeader()
            header.setField(w.POSS_DUP, "Y")
            header.setField(w.ORIG_SENDING_TIME, orig_sending_time)

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
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
