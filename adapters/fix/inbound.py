"""What the gateway sends, on the loop: each message goes to the part of the adapter it answers.

An ExecutionReport updates the session book, whose AccountEvents go on the event stream, and then
answers the order request (see :mod:`adapters.fix.orders`) or the status request (see
:mod:`adapters.fix.reads`) it names. A Reject (35=3) or BusinessMessageReject (35=j) names the
refused request only by its MsgSeqNum (RefSeqNum), which the bridge remembered when it was sent.
"""

from __future__ import annotations

import time
from dataclasses import replace

from adapters.fix import rejects, trailing
from adapters.fix import wire as w
from adapters.fix.book import SessionBook
from adapters.fix.orders import OrderPath
from adapters.fix.reads import Reads
from adapters.fix.session import FixSession
from adapters.kit import EventStream
from copytui.models import OrderStatus, OrderType


class Inbound:
    """``on_admin`` and ``on_app`` take each message the bridge hands to the loop."""

    def __init__(
        self, session: FixSession, book: SessionBook, orders: OrderPath, reads: Reads, stream: EventStream
    ) -> None:
        self.session = session
        self.opts = session.opts
        self.book = book
        self.orders = orders
        self.reads = reads
        self.stream = stream

    def on_admin(self, f: w.Fields, recv_ns: int) -> None:
        mt = f.msg_type
        if mt == w.LOGOUT:
            self.session.gateway_logout(f.text() or "logout without a reason")
        elif mt == w.SESSION_REJECT:
            self._on_reject(f, recv_ns)
        elif mt == "2":
            self.session.note(f"gateway asked a resend ({f.get(7)}-{f.get(16)})")
        elif mt == "4":
            self.session.note(f"sequence reset to {f.get(36)}")

    def on_app(self, f: w.Fields, recv_ns: int) -> None:
        self.session.health.seen()
        mt = f.msg_type
        if mt == w.EXEC_REPORT:
            self._on_exec_report(f, recv_ns)
        elif mt == w.CANCEL_REJECT:
            self.orders.cancel_rejected(f, recv_ns)
        elif mt == w.BUSINESS_REJECT:
            self._on_reject(f, recv_ns)
        elif mt == w.POSITIONS_ACK:
            self.reads.positions_ack(f)
        elif mt == w.POSITION_REPORT:
            self.reads.position_report(f)

    def _on_exec_report(self, f: w.Fields, recv_ns: int) -> None:
        rep = w.ExecReport.from_fields(f)
        if not self.opts.carries(rep.account):
            return
        trails, trail = trailing.read(f)  # ExecInst a: OrdType 3 (or P) is a trailing stop
        if trails:
            rep = replace(rep, ord_type=OrderType.TRAILING_STOP)
        if rep.symbol and self.opts.symbol_suffix and rep.symbol.endswith(self.opts.symbol_suffix):
            rep = replace(rep, symbol=self.opts.local_symbol(rep.symbol))
        if rep.bust:
            self.session.bad(f"gateway corrected or busted execution {rep.exec_id}: reconciliation will catch it")
            return
        unknown = rep.exec_type == w.ET_STATUS and rep.status is OrderStatus.REJECTED
        try:
            events = [] if unknown else self.book.apply(rep, f.seq, recv_ns, time.time_ns(), trail)
        except ValueError as exc:  # the book is as it was; the order's other news still counts
            self.session.bad(str(exc))
            events = []
        if rep.exec_type == w.ET_STATUS:
            self.reads.status_report(rep, unknown)
        elif rep.exec_type != trailing.ET_RESTATED:  # the gateway's own change answers no request
            self.orders.answered(rep, recv_ns)
        self.stream.put_all(events)

    def _on_reject(self, f: w.Fields, recv_ns: int) -> None:
        """A session (3) or business (j) reject, tied to the request it refuses by RefSeqNum."""
        ref = w.as_int(f.get(w.REF_SEQ_NUM))
        msg_type, key = self.session.sent_by_seq.get(ref if ref is not None else -1, ("", ""))
        sent = self.book.orders.get(key) if msg_type == w.NEW_ORDER else None
        reason = rejects.describe(f, msg_type, sent.order_type if sent else None, self.opts)
        if not msg_type:
            self.session.note(reason)
            return
        if msg_type in (w.NEW_ORDER, w.CANCEL, w.REPLACE):
            if msg_type == w.NEW_ORDER:
                self.stream.put_all(self.book.reject(key, reason, f.seq, recv_ns, time.time_ns()))
            self.orders.refused(key, reason, recv_ns)
            return
        if not self.reads.refused_request(msg_type, key, reason):
            self.session.note(reason)
