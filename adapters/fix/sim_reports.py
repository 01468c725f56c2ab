"""The messages the FIX simulator sends, built from the paper exchange's orders and positions:
ExecutionReports in FIX 4.2 or FIX 4.4 terms, cancel rejects, PositionsAck and PositionReports."""

from __future__ import annotations

from collections.abc import Iterable

import quickfix as fix

from adapters.fix import trailing
from adapters.fix import wire as w
from adapters.paper.exchange import PaperOrder
from copytui.models import OrderStatus, OrderType, Position, Side, TimeInForce

Extra = dict[int, object]
"""Further fields of a report, by tag (a None value leaves the tag out)."""


def message(begin: str, msg_type: str, fields: Iterable[tuple[int, object]]) -> fix.Message:
    m = w.message(begin, msg_type)
    for tag, value in fields:
        w.put(m, tag, value)
    return m


def execution_report(
    begin: str,
    order: PaperOrder,
    exec_type: str,
    *,
    exec_id: str,
    cl_ord_id: str | None,
    ord_status: str | None = None,
    trans: str = "0",
    orig: str | None = None,
    extra: Extra | None = None,
) -> fix.Message:
    """An ExecutionReport of ``order`` as it stands. ``exec_type`` in FIX 4.4 terms: on a FIX 4.2
    session a trade is a partial fill (1) or fill (2) and a status report carries the OrdStatus. A
    trailing stop is reported as copytui sends one (see :mod:`adapters.fix.trailing`)."""
    status = ord_status or w.STATUS_CODE.get(order.status, "0")
    m = w.message(begin, w.EXEC_REPORT)
    if begin == w.FIX42:
        w.put(m, w.EXEC_TRANS_TYPE, trans)
        if exec_type == w.ET_TRADE:
            exec_type = "2" if order.leaves == 0 else "1"
        elif exec_type == w.ET_STATUS:
            exec_type = status
    for tag, value in (
        (w.ORDER_ID, order.id),
        (w.EXEC_ID, exec_id),
        (w.EXEC_TYPE, exec_type),
        (w.ORD_STATUS, status),
        (w.CL_ORD_ID, cl_ord_id),
        (w.ORIG_CL_ORD_ID, orig),
        (w.ACCOUNT, order.account),
        (w.SYMBOL, order.symbol),
        (w.SIDE, w.SIDE_CODE[order.side]),
        (w.ORDER_QTY, order.qty),
        (w.ORD_TYPE, trailing.STOP if order.trail is not None else w.ORD_TYPE_CODE[order.order_type]),
        (w.PRICE, order.price),
        (w.STOP_PX, order.stop_price),
        *trailing.report_fields(begin, order.symbol, order.side, order.trail),
        (w.TIME_IN_FORCE, w.TIF_CODE.get(order.tif, "0")),
        (w.CUM_QTY, order.filled),
        (w.LEAVES_QTY, 0 if order.status.final else order.leaves),
        (w.AVG_PX, order.avg_fill_price or 0.0),
        (w.TRANSACT_TIME, w.utc_timestamp()),
        *(extra or {}).items(),
    ):
        w.put(m, tag, value)
    return m


def new_order_reject(begin: str, f: w.Fields, exec_id: str, text: str) -> fix.Message:
    """An ExecutionReport rejecting the NewOrderSingle ``f`` before any order existed."""
    return message(
        begin,
        w.EXEC_REPORT,
        (
            (w.EXEC_TRANS_TYPE, "0" if begin == w.FIX42 else None),
            (w.ORDER_ID, "NONE"),
            (w.EXEC_ID, exec_id),
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
        ),
    )


def cancel_reject(begin: str, f: w.Fields, order: PaperOrder | None, reason: str, text: str) -> fix.Message:
    """An OrderCancelReject of the cancel or replace request ``f``."""
    return message(
        begin,
        w.CANCEL_REJECT,
        (
            (w.ORDER_ID, order.id if order else "NONE"),
            (w.CL_ORD_ID, f.get(w.CL_ORD_ID)),
            (w.ORIG_CL_ORD_ID, f.get(w.ORIG_CL_ORD_ID)),
            (w.ORD_STATUS, w.STATUS_CODE.get(order.status, "8") if order else "8"),
            (w.ACCOUNT, f.get(w.ACCOUNT)),
            (w.CXL_REJ_RESPONSE_TO, "1" if f.msg_type == w.CANCEL else "2"),
            (w.CXL_REJ_REASON, reason),
            (w.TEXT, text),
        ),
    )


def unknown_order(account: str, f: w.Fields) -> PaperOrder:
    """What an OrderStatusRequest about an order the venue does not know is answered about."""
    return PaperOrder(
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


def no_open_orders(begin: str, account: str, request: str | None, exec_id: str) -> fix.Message:
    """The one report answering an OrderMassStatusRequest when no order is working."""
    return message(
        begin,
        w.EXEC_REPORT,
        (
            (w.ORDER_ID, "NONE"),
            (w.EXEC_ID, exec_id),
            (w.EXEC_TRANS_TYPE, "3" if begin == w.FIX42 else None),
            (w.EXEC_TYPE, w.ET_STATUS if begin == w.FIX44 else "0"),
            (w.ORD_STATUS, "0"),
            (w.ACCOUNT, account),
            (w.SIDE, "1"),
            (w.CUM_QTY, 0),
            (w.LEAVES_QTY, 0),
            (w.AVG_PX, 0),
            (w.MASS_STATUS_REQ_ID, request),
            (w.TOT_NUM_REPORTS, 0),
            (w.LAST_RPT_REQUESTED, "Y"),
        ),
    )


def positions_ack(
    begin: str, account: str, request: str | None, report_id: str, held: int, refused: str | None
) -> fix.Message:
    """The RequestForPositionsAck: ``held`` reports follow, or ``refused`` (a PosReqResult) says none will."""
    return message(
        begin,
        w.POSITIONS_ACK,
        (
            (w.POS_MAINT_RPT_ID, report_id),
            (w.POS_REQ_ID, request),
            (w.TOTAL_NUM_POS_REPORTS, held),
            (w.POS_REQ_RESULT, refused or ("0" if held else "2")),
            (w.POS_REQ_STATUS, "2" if refused else "0"),
            (w.ACCOUNT, account),
            (w.ACCOUNT_TYPE, "1"),
        ),
    )


def position_report(
    begin: str, account: str, p: Position, request: str | None, report_id: str, date: str, total: int, last: bool
) -> fix.Message:
    """One PositionReport of ``total`` answering a RequestForPositions; ``last`` says it is the last."""
    return message(
        begin,
        w.POSITION_REPORT,
        (
            (w.POS_MAINT_RPT_ID, report_id),
            (w.POS_REQ_ID, request),
            (w.TOTAL_NUM_POS_REPORTS, total),
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
            (w.LAST_RPT_REQUESTED, "Y" if last else None),
        ),
    )
