"""quickfix's callbacks for the FIX adapter. They run on quickfix's threads (``toApp`` and
``toAdmin`` also on the thread that sends): copy the message out (a quickfix Message lives only for
its callback), stamp ``recv_ns``, post to the event loop, return. Never wait on the loop, never
raise into quickfix's C++ frames (except ``DoNotSend``, which is quickfix's own signal)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import quickfix as fix

from adapters.fix import wire as w

if TYPE_CHECKING:
    from adapters.fix.client import FixAdapter

log = logging.getLogger("adapters.fix")

_TOLD = (w.LOGOUT, w.SESSION_REJECT, "2", "4")
"""Admin messages the adapter looks at: logout text, rejects, resend requests, sequence resets."""

SEQ_MEMORY = 20_000
"""Sent application messages remembered by MsgSeqNum, to tie a later Reject to its request."""


class Bridge(fix.Application):
    """quickfix's callbacks. They run on quickfix's threads (and ``toApp`` / ``toAdmin`` on the
    thread that sends): copy out, post to the loop, return. Never raise into quickfix."""

    def __init__(self, adapter: FixAdapter) -> None:
        super().__init__()
        self.a = adapter

    def onCreate(self, session_id: fix.SessionID) -> None:  # noqa: N802 - quickfix's name
        return None

    def onLogon(self, session_id: fix.SessionID) -> None:  # noqa: N802
        self.a._post(self.a._on_logon)

    def onLogout(self, session_id: fix.SessionID) -> None:  # noqa: N802
        self.a._post(self.a._on_logout)

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        try:
            msg_type = message.getHeader().getField(w.MSG_TYPE)
            if msg_type == w.LOGON:
                if self.a.opts.username:
                    message.setField(w.USERNAME, self.a.opts.username)
                if self.a._password:
                    message.setField(w.PASSWORD, self.a._password)
            elif msg_type in ("2", "4"):
                raw = w.Fields.of(message)
                what = "asked a resend" if msg_type == "2" else "sent a sequence reset"
                self.a._post(self.a._note, f"{what} ({raw.get(7) or raw.get(36) or ''}-{raw.get(16) or ''})")
        except Exception:  # never into quickfix's C++ frames
            log.exception("FIX toAdmin failed")

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        recv_ns = time.perf_counter_ns()
        try:
            if message.getHeader().getField(w.MSG_TYPE) not in _TOLD:
                return  # heartbeats, test requests, logons: quickfix's business
            fields = w.Fields.of(message)
        except Exception as exc:
            log.exception("FIX fromAdmin failed")
            self.a._post(self.a._bad, f"unreadable admin message: {type(exc).__name__}")
            return
        self.a._post(self.a._on_admin, fields, recv_ns)

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
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
            sent = self.a._sent_by_seq
            sent[seq] = (msg_type, key)
            if len(sent) > SEQ_MEMORY:
                sent.pop(next(iter(sent)))
        except Exception:
            log.exception("FIX toApp failed")

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        recv_ns = time.perf_counter_ns()
        try:
            fields = w.Fields.of(message)
        except Exception as exc:
            log.exception("FIX fromApp failed")
            self.a._post(self.a._bad, f"unreadable application message: {type(exc).__name__}")
            return
        self.a._post(self.a._on_app, fields, recv_ns)
