"""quickfix's callbacks for the sessions of one shared initiator (:mod:`adapters.fix.hub`).

They run on quickfix's thread (``toApp`` and ``toAdmin`` also on the thread that sends) and do the
least they can: copy the message out as its raw text (a quickfix Message lives only for its
callback), stamp ``recv_ns``, queue it for the loop, return. Parsing, and deciding what a message
means, happens on the loop. Every call into quickfix releases the GIL and takes it back, a moment
where the loop, writing orders, may have to wait: a callback makes one such call where it can.

Never wait on the loop, never raise into quickfix's C++ frames (except ``DoNotSend``, which is
quickfix's own signal).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import quickfix as fix

from adapters.fix import wire as w
from adapters.fix.qf import Application

if TYPE_CHECKING:
    from adapters.fix.hub import Gateway

log = logging.getLogger("adapters.fix")

# what the loop is handed (:meth:`Gateway.hand_over`)
APP, ADMIN, ADMIN_OUT, LOGON, LOGOUT, BAD = "app", "admin", "admin-out", "logon", "logout", "bad"

SEQ_MEMORY = 20_000
"""Sent application messages remembered by MsgSeqNum, to tie a later Reject to its request."""

Sending = tuple[dict[int, tuple[str, str]], str, str]
"""What the loop is writing: the session's table of sent messages, the MsgType and the ClOrdID or request id."""


class Bridge(Application):
    """quickfix's callbacks for every session of one initiator; the gateway routes them by session."""

    def __init__(self, gateway: Gateway) -> None:
        super().__init__()
        self.gateway = gateway

    def onCreate(self, session_id: fix.SessionID) -> None:
        return None

    def onLogon(self, session_id: fix.SessionID) -> None:
        self.gateway.hand_over(LOGON, session_id.toString(), "", 0)

    def onLogout(self, session_id: fix.SessionID) -> None:
        self.gateway.hand_over(LOGOUT, session_id.toString(), "", 0)

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        try:
            msg_type = message.getHeader().getField(w.MSG_TYPE)
            if msg_type == w.LOGON:
                member = self.gateway.members.get(session_id.toString())
                if member is not None and member.opts.username:
                    message.setField(w.USERNAME, member.opts.username)
                if member is not None and member.password:
                    message.setField(w.PASSWORD, member.password)
            elif msg_type in ("2", "4"):  # our resend request, or our gap fill answering the gateway's
                self.gateway.hand_over(ADMIN_OUT, session_id.toString(), message.toString(), 0)
        except Exception:  # never into quickfix's C++ frames
            log.exception("FIX toAdmin failed")

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        self._received(ADMIN, message, session_id)

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        header = message.getHeader()
        if header.isSetField(w.POSS_DUP) and header.getField(w.POSS_DUP) == "Y":
            raise fix.DoNotSend()  # never deliver an order late: quickfix gap-fills instead
        try:
            seq = int(header.getField(w.MSG_SEQ_NUM))
            sending = self.gateway.sending
            if sending is None:  # not written by the loop's send (nothing else sends application messages)
                member = self.gateway.members.get(session_id.toString())
                if member is None:
                    return
                sending = (member.sent_by_seq, header.getField(w.MSG_TYPE), _request_key(message))
            sent, msg_type, key = sending
            sent[seq] = (msg_type, key)
            if len(sent) > SEQ_MEMORY:
                sent.pop(next(iter(sent)))
        except Exception:
            log.exception("FIX toApp failed")

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        self._received(APP, message, session_id)

    def _received(self, kind: str, message: fix.Message, session_id: fix.SessionID) -> None:
        recv_ns = self.gateway.read_ns or time.perf_counter_ns()  # read before any wait for the loop
        self.gateway.wait_quiet()
        try:
            raw = message.toString()
        except Exception as exc:
            log.exception("FIX %s message unreadable", kind)
            what = "application" if kind == APP else "admin"
            self.gateway.hand_over(BAD, session_id.toString(), f"unreadable {what} message: {type(exc).__name__}", 0)
            return
        self.gateway.hand_over(kind, None, raw, recv_ns)


def _request_key(message: fix.Message) -> str:
    for tag in (w.CL_ORD_ID, w.POS_REQ_ID, w.MASS_STATUS_REQ_ID):
        if message.isSetField(tag):
            return str(message.getField(tag))
    return ""
