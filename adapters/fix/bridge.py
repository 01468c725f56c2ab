"""quickfix's callbacks for the FIX adapter. They run on quickfix's threads (``toApp`` and
``toAdmin`` also on the thread that sends): copy the message out (a quickfix Message lives only for
its callback), stamp ``recv_ns``, post to the event loop, return. Never wait on the loop, never
raise into quickfix's C++ frames (except ``DoNotSend``, which is quickfix's own signal)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import quickfix as fix

from adapters.fix import wire as w
from adapters.fix.qf import Application
from adapters.fix.session import FixSession

log = logging.getLogger("adapters.fix")

_TOLD = (w.LOGOUT, w.SESSION_REJECT, "2", "4")
"""Admin messages the adapter looks at: logout text, rejects, resend requests, sequence resets."""

SEQ_MEMORY = 20_000
"""Sent application messages remembered by MsgSeqNum, to tie a later Reject to its request."""

Handler = Callable[[w.Fields, int], None]
"""Takes a message's fields and the perf_counter_ns it was read at, on the loop."""


class Bridge(Application):
    """quickfix's callbacks for one session: ``on_admin`` and ``on_app`` get what the gateway sent."""

    def __init__(self, session: FixSession, on_admin: Handler, on_app: Handler) -> None:
        super().__init__()
        self.session = session
        self.on_admin = on_admin
        self.on_app = on_app

    def onCreate(self, session_id: fix.SessionID) -> None:
        return None

    def onLogon(self, session_id: fix.SessionID) -> None:
        self.session.post(self.session.on_logon)

    def onLogout(self, session_id: fix.SessionID) -> None:
        self.session.post(self.session.on_logout)

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        try:
            msg_type = message.getHeader().getField(w.MSG_TYPE)
            if msg_type == w.LOGON:
                if self.session.opts.username:
                    message.setField(w.USERNAME, self.session.opts.username)
                if self.session.password:
                    message.setField(w.PASSWORD, self.session.password)
            elif msg_type in ("2", "4"):
                raw = w.Fields.of(message)
                what = "asked a resend" if msg_type == "2" else "sent a sequence reset"
                self.session.post(self.session.note, f"{what} ({raw.get(7) or raw.get(36) or ''}-{raw.get(16) or ''})")
                if msg_type == "4":
                    # our gap fill answering the gateway's resend request: it covers every sequence
                    # number written before it, a settling TestRequest included; settle again after it
                    self.session.post(self.session.resend_answered)
        except Exception:  # never into quickfix's C++ frames
            log.exception("FIX toAdmin failed")

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        recv_ns = time.perf_counter_ns()
        try:
            msg_type = message.getHeader().getField(w.MSG_TYPE)
            if msg_type == "0":  # a heartbeat: the answer to the logon's settling TestRequest?
                if message.isSetField(112) and message.getField(112).startswith("settle-"):
                    self.session.post(self.session.settle_answered, message.getField(112))
                return
            if msg_type not in _TOLD:
                return  # test requests, logons: quickfix's business
            fields = w.Fields.of(message)
        except Exception as exc:
            log.exception("FIX fromAdmin failed")
            self.session.post(self.session.bad, f"unreadable admin message: {type(exc).__name__}")
            return
        self.session.post(self.on_admin, fields, recv_ns)

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        header = message.getHeader()
        if header.isSetField(w.POSS_DUP) and header.getField(w.POSS_DUP) == "Y":
            raise fix.DoNotSend()  # never deliver an order late: quickfix gap-fills instead
        try:
            seq = int(header.getField(w.MSG_SEQ_NUM))
            msg_type = header.getField(w.MSG_TYPE)
            key = ""
            for tag in (w.CL_ORD_ID, w.POS_REQ_ID, w.MASS_STATUS_REQ_ID):
                if message.isSetField(tag):
                    key = message.getField(tag)
                    break
            sent = self.session.sent_by_seq
            sent[seq] = (msg_type, key)
            if len(sent) > SEQ_MEMORY:
                sent.pop(next(iter(sent)))
        except Exception:
            log.exception("FIX toApp failed")

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        recv_ns = time.perf_counter_ns()
        try:
            fields = w.Fields.of(message)
        except Exception as exc:
            log.exception("FIX fromApp failed")
            self.session.post(self.session.bad, f"unreadable application message: {type(exc).__name__}")
            return
        self.session.post(self.on_app, fields, recv_ns)
