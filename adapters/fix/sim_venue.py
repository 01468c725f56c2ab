"""The FIX simulator's venue: order requests (D, F, G), status requests (H, AF) and position
requests (AN) played on the paper exchange, and the exchange's events sent back as ExecutionReports.

Every order request is audited (accepted, or refused with the reason). The venue keeps the
ClOrdID chain of each paper order (a cancel or replace names the order by its previous ClOrdID).
``ids_from_one`` plays a counterparty whose ExecIDs restart at 1 in each process, as QuickFIX's
executor does (FIX promises an ExecID unique only within a day and a session).

Trailing stops (``trailing_stops``; refused otherwise, as by the many gateways without them) are
taken only as :mod:`adapters.fix.trailing` reads them; each move of such a stop is reported as
ExecType D (Restated), a replace of it as ExecType 5.

Called on quickfix's threads and on whichever thread moves the exchange, always with the
exchange's lock held (see :class:`adapters.fix.sim_exchange.LockedExchange`).
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable

import quickfix as fix

from adapters.base import OrderRejected
from adapters.fix import sim_reports as reports
from adapters.fix import trailing
from adapters.fix import wire as w
from adapters.fix.sim_delivery import Delivery, Route
from adapters.paper.exchange import PaperOrder
from adapters.simkit import AuditLog, Faults, PaperExchange
from copytui.instruments import UnknownSymbol
from copytui.models import AccountEvent, EventKind, OrderType, Side, TimeInForce

ORDER_REQUESTS = {w.NEW_ORDER: "place", w.CANCEL: "cancel", w.REPLACE: "modify"}
"""What the audit log records, by MsgType."""
_NOT_AUDITED = {8, 9, 10, w.MSG_SEQ_NUM, w.MSG_TYPE, w.SENDER_COMP_ID, w.SENDING_TIME, w.TARGET_COMP_ID, *w.SECRET_TAGS}

Handler = Callable[[fix.SessionID, w.Fields], None]
_NO_TRAILING = (
    "this gateway takes no trailing stops (ExecInst (18) a, PegDifference (211)); "
    "the simulator takes them when started with --trailing-stops"
)


class Venue:
    """The simulator's request handlers (:attr:`handlers`, by MsgType) over the paper exchange.
    ``positions_result`` says, when asked, how AN is refused (None: answered)."""

    def __init__(
        self,
        exchange: PaperExchange,
        delivery: Delivery,
        audit: AuditLog,
        faults: Faults | None,
        ids_from_one: bool,
        positions_result: Callable[[], str | None],
        *,
        trailing_stops: bool = False,
    ) -> None:
        self.exchange = exchange
        self.trailing_stops = trailing_stops
        """Take trailing stops (ExecInst a with PegDifference 211); off, refuse them."""
        self.delivery = delivery
        self.audit = audit
        self.faults = faults
        self.ids_from_one = ids_from_one
        self._positions_result = positions_result
        self.listened: set[str] = set()
        self.clordid_of: dict[str, str] = {}  # paper order id -> current ClOrdID
        self.order_of: dict[tuple[str, str], str] = {}  # (account, any ClOrdID of the chain) -> paper id
        self.orig_of: dict[str, str] = {}  # paper order id -> ClOrdID before the last change
        self._rejects: set[str] = set()  # ClOrdIDs the exchange itself reported rejected (a fault)
        self._replacing: str | None = None  # the paper order a replace is changing: its next change is the replace
        self._token = secrets.token_hex(3)
        self._exec_ids = itertools.count(1)
        self.handlers: dict[str, Handler] = {
            w.NEW_ORDER: self._new_order,
            w.CANCEL: self._cancel,
            w.REPLACE: self._replace,
            w.STATUS_REQUEST: self._status,
            w.MASS_STATUS: self._mass_status,
            w.POSITIONS_REQUEST: self._positions,
        }

    # ------------------------------------------------------------------ accounts
    def ensure(self, account: str) -> None:
        """Open ``account`` on the exchange (with the simulator's faults) and listen to its events."""
        if account not in self.exchange.accounts:
            self.exchange.account(account, faults=self.faults)
        if account not in self.listened:
            self.listened.add(account)
            self.exchange.listen(
                account, lambda ev: self._on_event(account, ev), on_drop=lambda: self._drop_stream(account)
            )

    def _drop_stream(self, account: str) -> None:
        """The exchange's ``drop_stream_prob`` fault: drop the sessions that get the account's reports."""
        for r in self.delivery.targets(account):
            self.delivery.drop(r)

    def _account(self, r: Route, f: w.Fields) -> str:
        account = f.get(w.ACCOUNT) or r.client
        self.ensure(account)
        r.accounts.add(account)
        return account

    def latency_s(self, session_id: fix.SessionID, f: w.Fields) -> float:
        """The ``latency_ms`` fault of the account an order request names, in seconds."""
        if f.msg_type not in ORDER_REQUESTS:
            return 0.0
        acct = self.exchange.accounts.get(f.get(w.ACCOUNT) or self.delivery.of(session_id).client)
        return acct.faults.latency_ms / 1000.0 if acct is not None else 0.0

    def record(self, session_id: fix.SessionID, f: w.Fields, refused: str | None = None) -> None:
        """Audit one order request: accepted, or refused with ``refused`` as the reason."""
        action = ORDER_REQUESTS.get(f.msg_type)
        if action is None:
            return
        client = self.delivery.of(session_id).client
        request = {"SenderCompID": client, "MsgType": f.msg_type}
        for tag, value in f.pairs:
            if tag not in _NOT_AUDITED:
                request.setdefault(trailing.TAG_NAMES.get(tag, str(tag)), value)
        outcome = "refused" if refused is not None else "accepted"
        account = f.get(w.ACCOUNT) or client
        self.audit.record(account, action, f.get(w.CL_ORD_ID), outcome, refused or "", request)

    # ------------------------------------------------------------------ reports
    def exec_id(self) -> str:
        n = next(self._exec_ids)
        return str(n) if self.ids_from_one else f"{self._token}-{n}"

    def _report(
        self,
        r: Route,
        order: PaperOrder,
        exec_type: str,
        *,
        exec_id: str | None = None,
        ord_status: str | None = None,
        trans: str = "0",
        orig: str | None = None,
        extra: reports.Extra | None = None,
    ) -> fix.Message:
        return reports.execution_report(
            r.begin,
            order,
            exec_type,
            exec_id=exec_id or self.exec_id(),
            cl_ord_id=self.clordid_of.get(order.id, order.client_order_id),
            ord_status=ord_status,
            trans=trans,
            orig=orig,
            extra=extra,
        )

    def _on_event(self, account: str, ev: AccountEvent) -> None:
        """A paper exchange event, on whichever thread moved the exchange (the lock is held)."""
        order = self.exchange.accounts[account].orders.get(ev.order_id or "")
        if order is None:
            return
        ord_status = orig = exec_id = None
        extra: reports.Extra | None = None
        if ev.kind is EventKind.ORDER_NEW:
            et, ord_status = w.ET_NEW, "0"
        elif ev.kind is EventKind.ORDER_MODIFIED and order.trail is not None and self._replacing != order.id:
            et, extra = trailing.ET_RESTATED, {trailing.EXEC_RESTATEMENT_REASON: trailing.REPRICING}  # it trailed
        elif ev.kind is EventKind.ORDER_MODIFIED:
            self._replacing = None
            et, orig = w.ET_REPLACED, self.orig_of.get(order.id)
        elif ev.kind is EventKind.ORDER_CANCELLED:
            et, orig = w.ET_CANCELED, self.orig_of.get(order.id)
        elif ev.kind is EventKind.ORDER_REJECTED:
            et, extra = w.ET_REJECTED, {w.TEXT: ev.reason or "rejected", w.ORD_REJ_REASON: "99"}
            self._rejects.add(order.client_order_id or "")
        elif ev.kind is EventKind.FILL:
            et, ord_status = w.ET_TRADE, "2" if order.leaves == 0 else "1"
            extra = {w.LAST_QTY: ev.fill_qty, w.LAST_PX: ev.fill_price}
            exec_id = self.exec_id() if self.ids_from_one else f"{self._token}-{account}-{ev.fill_id}"
        else:
            return  # positions: FIX reports them only when asked (AN)
        # listeners run inside the exchange call: the order is as of this event
        for r in self.delivery.targets(account):
            report = self._report(r, order, et, exec_id=exec_id, ord_status=ord_status, orig=orig, extra=extra)
            self.delivery.send(r, report, report=True)

    # ------------------------------------------------------------------ order requests
    def _refuse_new(self, session_id: fix.SessionID, r: Route, f: w.Fields, text: str) -> None:
        self.delivery.send(r, reports.new_order_reject(r.begin, f, self.exec_id(), text), report=True)
        self.record(session_id, f, text)

    def _new_order(self, session_id: fix.SessionID, f: w.Fields) -> None:
        r = self.delivery.of(session_id)
        account = self._account(r, f)
        coid = f.get(w.CL_ORD_ID) or ""
        side = w.CODE_SIDE.get(f.get(w.SIDE) or "")
        order_type = w.CODE_ORD_TYPE.get(f.get(w.ORD_TYPE) or "")
        if not coid or side is None or order_type is None:
            self._refuse_new(session_id, r, f, "ClOrdID, Side (1/2) and OrdType (1-4) are required")
            return
        trail = None
        if trailing.asks_trailing(f):
            refused = self._trailing_refusal(r.begin, f, side, replace=False)
            if refused:
                self._refuse_new(session_id, r, f, refused)
                return
            order_type, trail = OrderType.TRAILING_STOP, abs(f.number(trailing.PEG_DIFFERENCE) or 0.0)
        try:
            order = self.exchange.submit(
                account,
                symbol=f.get(w.SYMBOL) or "",
                side=side,
                qty=f.qty(w.ORDER_QTY) or 0,
                order_type=order_type,
                price=f.number(w.PRICE),
                stop_price=f.number(w.STOP_PX),
                tif=w.CODE_TIF.get(f.get(w.TIME_IN_FORCE) or "0", TimeInForce.DAY),
                client_order_id=coid,
                trail=trail,
            )
        except OrderRejected as exc:
            if coid in self._rejects:  # a fault reject: its exchange event was the report
                self._rejects.discard(coid)
                self.record(session_id, f, str(exc))
            else:
                self._refuse_new(session_id, r, f, str(exc))
            return
        except UnknownSymbol as exc:
            self._refuse_new(session_id, r, f, str(exc))
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
        return acct.orders.get(f.get(w.ORDER_ID) or "")

    def _cancel_reject(self, r: Route, f: w.Fields, order: PaperOrder | None, reason: str, text: str) -> None:
        self.delivery.send(r, reports.cancel_reject(r.begin, f, order, reason, text))
        self.record(r.session, f, text)

    def _working(self, session_id: fix.SessionID, f: w.Fields) -> tuple[Route, str, PaperOrder] | None:
        """The working order a cancel or replace names; None: refused with a cancel reject."""
        r = self.delivery.of(session_id)
        account = self._account(r, f)
        order = self._find(account, f)
        if order is None:
            self._cancel_reject(r, f, None, "1", f"unknown order {f.get(w.ORIG_CL_ORD_ID)}")
            return None
        if order.status.final:
            self._cancel_reject(r, f, order, "0", f"order {order.id} is {order.status.value}")
            return None
        return r, account, order

    def _rename(self, account: str, order: PaperOrder, f: w.Fields) -> tuple[str | None, str | None]:
        """The order's ClOrdID is now the request's; returns the (OrigClOrdID, ClOrdID) it had."""
        before = (self.orig_of.get(order.id), self.clordid_of.get(order.id))
        new = f.get(w.CL_ORD_ID) or ""
        self.orig_of[order.id] = self.clordid_of.get(order.id, order.client_order_id or "")
        self.clordid_of[order.id] = new
        self.order_of[(account, new)] = order.id
        return before

    def _cancel(self, session_id: fix.SessionID, f: w.Fields) -> None:
        found = self._working(session_id, f)
        if found is not None:
            _, account, order = found
            self._rename(account, order, f)
            self.exchange.cancel(account, order.id)
            self.record(session_id, f)

    def _replace(self, session_id: fix.SessionID, f: w.Fields) -> None:
        found = self._working(session_id, f)
        if found is None:
            return
        r, account, order = found
        if order.trail is not None or trailing.asks_trailing(f):
            refused = self._trailing_replace_refusal(r.begin, f, order)
            if refused:
                self._cancel_reject(r, f, order, "99", refused)
                return
        orig, current = self._rename(account, order, f)
        change: dict[str, float | None] = {"price": f.number(w.PRICE), "stop_price": f.number(w.STOP_PX)}
        if order.trail is not None:  # its quantity and trail: the venue keeps moving the stop
            change = {"trail": abs(f.number(trailing.PEG_DIFFERENCE) or 0.0)}
        self._replacing = order.id
        try:
            self.exchange.modify(account, order.id, qty=f.qty(w.ORDER_QTY), **change)
        except OrderRejected as exc:
            self.clordid_of[order.id] = current or order.client_order_id or ""
            if orig is not None:
                self.orig_of[order.id] = orig
            self._cancel_reject(r, f, order, "99", str(exc))
            return
        finally:
            self._replacing = None
        self.record(session_id, f)

    def _trailing_refusal(self, begin: str, f: w.Fields, side: Side, *, replace: bool) -> str | None:
        """Why a request's trailing fields are refused here, or None (see :mod:`adapters.fix.trailing`)."""
        if not self.trailing_stops:
            return _NO_TRAILING
        symbol = f.get(w.SYMBOL) or ""
        try:
            bid, ask = self.exchange.quote(symbol)
        except UnknownSymbol as exc:
            return str(exc)
        market = bid if side is Side.SELL else ask
        return trailing.sim_refusal(begin, f, symbol, side, market, replace=replace)

    def _trailing_replace_refusal(self, begin: str, f: w.Fields, order: PaperOrder) -> str | None:
        """Why a replace of (or into) a trailing stop is refused, or None."""
        if order.trail is None:
            if not self.trailing_stops:
                return _NO_TRAILING
            return "a replace does not make an order trail: cancel it and place a trailing stop"
        if not trailing.trails(f.get(trailing.EXEC_INST)):
            return (
                "a replace of a trailing stop carries ExecInst (18) a and its PegDifference (211) again: "
                "it restates the whole order, and without them the order would stop trailing"
            )
        return self._trailing_refusal(begin, f, order.side, replace=True)

    # ------------------------------------------------------------------ status and positions
    def _status(self, session_id: fix.SessionID, f: w.Fields) -> None:
        r = self.delivery.of(session_id)
        account = self._account(r, f)
        order = self._find(account, f)
        extra: reports.Extra = {w.ORD_STATUS_REQ_ID: f.get(w.ORD_STATUS_REQ_ID)}
        if order is None:
            extra |= {w.ORD_REJ_REASON: "5", w.TEXT: "unknown order"}
            unknown = reports.unknown_order(account, f)
            self.delivery.send(r, self._report(r, unknown, w.ET_STATUS, trans="3", ord_status="8", extra=extra))
            return
        self.delivery.send(r, self._report(r, order, w.ET_STATUS, trans="3", extra=extra))

    def _mass_status(self, session_id: fix.SessionID, f: w.Fields) -> None:
        r = self.delivery.of(session_id)
        account = self._account(r, f)
        req = f.get(w.MASS_STATUS_REQ_ID)
        working = [o for o in self.exchange.accounts[account].orders.values() if not o.status.final]
        if not working:
            self.delivery.send(r, reports.no_open_orders(r.begin, account, req, self.exec_id()))
            return
        for i, order in enumerate(working, 1):
            extra: reports.Extra = {w.MASS_STATUS_REQ_ID: req, w.TOT_NUM_REPORTS: len(working)}
            if i == len(working):
                extra[w.LAST_RPT_REQUESTED] = "Y"
            self.delivery.send(r, self._report(r, order, w.ET_STATUS, trans="3", extra=extra))

    def _positions(self, session_id: fix.SessionID, f: w.Fields) -> None:
        r = self.delivery.of(session_id)
        account = self._account(r, f)
        req = f.get(w.POS_REQ_ID)
        refused = self._positions_result()
        held = [p for p in self.exchange.position_list(account) if p.qty and refused is None]
        date = f.get(w.CLEARING_BUSINESS_DATE) or w.business_date()
        self.delivery.send(r, reports.positions_ack(r.begin, account, req, self.exec_id(), len(held), refused))
        for i, p in enumerate(held, 1):
            report = reports.position_report(r.begin, account, p, req, self.exec_id(), date, len(held), i == len(held))
            self.delivery.send(r, report)
