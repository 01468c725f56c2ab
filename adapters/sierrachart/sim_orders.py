"""The simulator's trading desk: DTC order requests against the paper exchange, and the paper
exchange's events as DTC messages.

Requests (SUBMIT_NEW_SINGLE_ORDER, SUBMIT_NEW_OCO_ORDER, CANCEL_REPLACE_ORDER, CANCEL_ORDER,
SUBMIT_FLATTEN_POSITION_ORDER) are checked as a DTC server would (a known trade account and symbol,
a ClientOrderID not used before in the session, whole positive quantities, the prices the order
type needs) and each one, refused or not, is written to the audit log. What the paper exchange then
does comes back through its listener as ORDER_UPDATE (with the status, the reason, the cumulative
and the last fill) and POSITION_UPDATE messages. Refusals are ORDER_UPDATEs too: NEW_ORDER_REJECTED
(one per order of a refused OCO pair), or a cancel or replace rejected, with the reason in InfoText.
OCO pairs and brackets are kept by :class:`~adapters.sierrachart.sim_oco.Pairs`.
"""

from __future__ import annotations

from typing import Any

from adapters.base import OrderRejected
from adapters.paper.exchange import PaperExchange, PaperOrder
from adapters.sierrachart.sim_fields import SIDES, STATUS_OUT, TIF_IN, TYPES, Refused, order_fields, prices
from adapters.sierrachart.sim_oco import Leg, Pairs, Say
from adapters.sierrachart.wire import DtcOrderType, Msg, PartialFillHandling, Reason, Status
from adapters.simkit import AuditLog
from copytui.models import AccountEvent, EventKind, OrderStatus, OrderType, Side

AUDITED = {
    Msg.SUBMIT_NEW_SINGLE_ORDER: "SUBMIT_NEW_SINGLE_ORDER",
    Msg.SUBMIT_NEW_OCO_ORDER: "SUBMIT_NEW_OCO_ORDER",
    Msg.SUBMIT_FLATTEN_POSITION_ORDER: "SUBMIT_FLATTEN_POSITION_ORDER",
    Msg.CANCEL_ORDER: "CANCEL_ORDER",
    Msg.CANCEL_REPLACE_ORDER: "CANCEL_REPLACE_ORDER",
}
Reply = tuple[int, dict[str, Any]]
LEGS = ("_1", "_2")
"""The suffixes of SUBMIT_NEW_OCO_ORDER's per-order fields (ClientOrderID_1, OrderType_2, ...)."""


def _silent(account: str, msg_type: int, fields: dict[str, Any]) -> None:
    """No connection to tell (a desk driven without a server)."""


class Desk:
    """Order requests of every connection, against one paper exchange; ``symbols`` maps Sierra
    Chart symbols to copytui's, ``contracts`` the other way; ``say`` sends a message to the
    connections that follow an account (what a held OCO leg has to tell)."""

    def __init__(self, exchange: PaperExchange, contracts: dict[str, str], audit: AuditLog, say: Say = _silent) -> None:
        self.exchange = exchange
        self.contracts = contracts
        self.symbols = {sym: root for root, sym in contracts.items()}
        self.audit = audit
        self.used: dict[str, set[str]] = {}
        """ClientOrderIDs each trade account has used this session (DTC refuses one used before)."""
        self.pairs = Pairs(exchange, contracts, say)

    # ------------------------------------------------------------ events out
    def event_message(self, ev: AccountEvent) -> Reply | None:
        """A paper exchange event as the DTC message a server sends unsolicited."""
        if ev.kind is EventKind.POSITION:
            assert ev.symbol is not None
            fields = {"Symbol": self.contracts[ev.symbol], "Exchange": "CME", "Quantity": ev.position or 0,
                      "AveragePrice": ev.avg_price or 0.0, "TradeAccount": ev.account, "Unsolicited": 1}  # fmt: skip
            return Msg.POSITION_UPDATE, fields
        order = self.exchange.accounts[ev.account].orders.get(ev.order_id or "")
        if order is None or ev.symbol is None:
            return None
        fields = self.fields(order, Status.OPEN, Reason.GENERAL_ORDER_UPDATE)
        # the event's own view of the order (a held and reordered event is older than the order now)
        fields.update(OrderQuantity=ev.qty, FilledQuantity=ev.cum_qty, RemainingQuantity=max(ev.qty - ev.cum_qty, 0))
        fields.pop("Price1", None)
        fields.pop("Price2", None)
        fields.update(prices(order.order_type, ev.price, ev.stop_price))
        fields["LatestTransactionDateTime"] = ev.wall_ns / 1e9
        if ev.kind is EventKind.ORDER_NEW:
            # a bracket's leg was accepted while it waited for its parent: now it merely opens
            opened = Reason.GENERAL_ORDER_UPDATE if fields.get("ParentServerOrderID") else Reason.NEW_ORDER_ACCEPTED
            fields.update(OrderStatus=Status.OPEN, OrderUpdateReason=opened)
        elif ev.kind is EventKind.ORDER_MODIFIED:
            fields.update(OrderStatus=Status.OPEN, OrderUpdateReason=Reason.ORDER_CANCEL_REPLACE_COMPLETE)
        elif ev.kind is EventKind.ORDER_CANCELLED:
            fields.update(OrderStatus=Status.CANCELED, OrderUpdateReason=Reason.ORDER_CANCELED)
        elif ev.kind is EventKind.ORDER_REJECTED:
            fields.update(OrderStatus=Status.REJECTED, OrderUpdateReason=Reason.NEW_ORDER_REJECTED, InfoText=ev.reason)
        else:
            done = ev.cum_qty >= ev.qty
            fields.update(
                OrderStatus=Status.FILLED if done else Status.PARTIALLY_FILLED,
                OrderUpdateReason=Reason.ORDER_FILLED if done else Reason.ORDER_FILLED_PARTIALLY,
                LastFillPrice=ev.fill_price, LastFillQuantity=ev.fill_qty, LastFillExecutionID=ev.fill_id,
                LastFillDateTime=ev.wall_ns // 1_000_000_000, AverageFillPrice=self._average(ev),
            )  # fmt: skip
        return Msg.ORDER_UPDATE, fields

    def fields(self, order: PaperOrder, status: int, reason: int) -> dict[str, Any]:
        """An ORDER_UPDATE of a paper order, with an OCO leg's ServerOrderID and links."""
        return order_fields(order, self.contracts[order.symbol], status, reason) | self.pairs.ids(order)

    def open_orders(self, account: str, server_id: str | None) -> list[dict[str, Any]]:
        """OPEN_ORDERS_REQUEST's answers (all, or the one ``server_id``): the working orders, then
        the OCO legs waiting for their parent's fill."""
        items = []
        for order in self.exchange.accounts[account].orders.values():
            if not order.status.final:
                status = Status.PARTIALLY_FILLED if order.filled else Status.OPEN
                items.append(self.fields(order, status, Reason.OPEN_ORDERS_REQUEST_RESPONSE))
        for leg in self.pairs.held_open(account):
            items.append(self.pairs.held_fields(leg, Status.PENDING_CHILD, Reason.OPEN_ORDERS_REQUEST_RESPONSE))
        return [f for f in items if not server_id or f["ServerOrderID"] == server_id]

    def after(self, ev: AccountEvent) -> None:
        """An exchange event went out: what it ends (a bracket's parent) is settled."""
        self.pairs.after(ev)

    def _average(self, ev: AccountEvent) -> float | None:
        """The order's average fill price as of ``ev`` (not as of now)."""
        fills = [f.event for f in self.exchange.accounts[ev.account].fills if f.event.order_id == ev.order_id]
        upto = [f for f in fills if f.cum_qty <= ev.cum_qty]
        qty = sum(f.fill_qty for f in upto)
        return sum((f.fill_price or 0.0) * f.fill_qty for f in upto) / qty if qty else None

    # ------------------------------------------------------------ requests in
    def handle(self, msg: dict[str, Any], account_of: str) -> list[Reply]:
        """One order request; the replies for the requesting connection (events go out by the listener)."""
        t = msg["Type"]
        account = msg.get("TradeAccount") or account_of
        coid = msg.get("ClientOrderID_1" if t == Msg.SUBMIT_NEW_OCO_ORDER else "ClientOrderID")
        coid = coid if isinstance(coid, str) else None
        if t in (Msg.CANCEL_ORDER, Msg.CANCEL_REPLACE_ORDER):
            order, leg = self._target(msg)
            account = order.account if order is not None else leg.account if leg is not None else account
            coid = (order.client_order_id if order is not None else leg.client_id if leg is not None else None) or coid
        try:
            replies = self._dispatch(t, msg, account)
        except Refused as exc:
            self.audit.record(account, AUDITED[t], coid or None, "refused", str(exc), _fields(msg))
            return self._refusals(t, msg, account, exc)
        self.audit.record(account, AUDITED[t], coid or None, "accepted", "", _fields(msg))
        return replies

    def _dispatch(self, t: int, msg: dict[str, Any], account: str) -> list[Reply]:
        if account not in self.exchange.accounts:
            raise Refused(f"unknown trade account {account!r}")
        if t == Msg.SUBMIT_NEW_SINGLE_ORDER:
            self._submit(msg, account)
        elif t == Msg.SUBMIT_NEW_OCO_ORDER:
            self._oco(msg, account)
        elif t == Msg.SUBMIT_FLATTEN_POSITION_ORDER:
            self._flatten(msg, account)
        elif t == Msg.CANCEL_ORDER:
            self._cancel(msg)
        else:
            self._replace(msg)
        return []

    def _client_id(self, msg: dict[str, Any], account: str, key: str = "ClientOrderID") -> str:
        coid = msg.get(key)
        if not isinstance(coid, str) or not coid:
            raise Refused(f"{key} is required")
        used = self.used.setdefault(account, set())
        if coid in used:
            raise Refused(f"{key} {coid} was already used in this trading session")
        used.add(coid)
        return coid

    def _symbol(self, msg: dict[str, Any]) -> str:
        root = self.symbols.get(str(msg.get("Symbol", "")))
        if root is None:
            raise Refused(f"unknown symbol {msg.get('Symbol')!r}")
        return root

    def _order_args(self, msg: dict[str, Any], account: str, leg: str = "") -> dict[str, Any]:
        """One order of a request as ``exchange.submit`` keywords, checked; ``leg``: "_1" / "_2" for
        an order of SUBMIT_NEW_OCO_ORDER, whose fields carry that suffix."""
        root = self._symbol(msg)
        coid = self._client_id(msg, account, f"ClientOrderID{leg}")
        kind, buy_sell, qty = msg.get(f"OrderType{leg}", 0), msg.get(f"BuySell{leg}", 0), msg.get(f"Quantity{leg}")
        order_type, side = TYPES.get(kind), SIDES.get(buy_sell)
        if order_type is None or side is None:
            raise Refused(f"OrderType{leg} {kind!r} / BuySell{leg} {buy_sell!r} not supported")
        if not isinstance(qty, int | float) or isinstance(qty, bool) or qty != int(qty) or qty <= 0:
            raise Refused(f"Quantity{leg} {qty!r} is not a positive whole number")
        p1, p2 = _price(msg, f"Price1{leg}"), _price(msg, f"Price2{leg}")
        limit = p1 if order_type is OrderType.LIMIT else p2 if order_type is OrderType.STOP_LIMIT else None
        stop = p1 if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) else None
        # checked here too (the paper exchange would say the same), so that no leg of a pair goes out alone
        if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and limit is None:
            raise Refused(f"{order_type} order needs a limit price")
        if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and stop is None:
            raise Refused(f"{order_type} order needs a stop price")
        tif = TIF_IN.get(msg.get("TimeInForce", 1), TIF_IN[1])
        return {"symbol": root, "side": side, "qty": int(qty), "order_type": order_type, "price": limit,
                "stop_price": stop, "tif": tif, "client_order_id": coid}  # fmt: skip

    def _submit(self, msg: dict[str, Any], account: str) -> None:
        order = self._order_args(msg, account)
        if msg.get("IsParentOrder"):
            self.pairs.hold_parent(account, order)  # "held onto until ... the subsequent SUBMIT_NEW_OCO_ORDER"
            return
        self._send(account, order)

    def _send(self, account: str, order: dict[str, Any]) -> PaperOrder | None:
        """``order`` to the paper exchange; None when its risk check rejected it (and said so)."""
        try:
            return self.exchange.submit(account, **order)
        except OrderRejected as exc:
            known = self.exchange.accounts[account].by_client_id.get(order["client_order_id"])
            if known is None or known.status is not OrderStatus.REJECTED:
                raise Refused(str(exc)) from None
            return None  # the paper exchange's risk check: it told every listener already

    def _oco(self, msg: dict[str, Any], account: str) -> None:
        parent_id = msg.get("ParentTriggerClientOrderID") or ""
        parent = self.pairs.take_parent(account, parent_id) if parent_id else None
        if parent_id and parent is None:
            raise Refused(f"no parent order {parent_id} waits for its OCO pair (IsParentOrder 1 comes first)")
        also = (parent_id,) if parent is not None else ()
        try:
            if msg.get("PartialFillHandling") == PartialFillHandling.IMMEDIATE_CANCEL:
                raise Refused("PartialFillHandling IMMEDIATE_CANCEL is not supported: a part fill reduces the other")
            if msg.get("UseOffsets"):
                raise Refused("UseOffsets is not supported: give the prices in Price1_1 / Price1_2")
            orders = (self._order_args(msg, account, LEGS[0]), self._order_args(msg, account, LEGS[1]))
        except Refused as exc:
            raise Refused(str(exc), also) from None
        placed = self._send(account, parent) if parent is not None else None
        if parent is not None and placed is None:
            raise Refused(f"the parent order {parent_id} was rejected")
        self.pairs.add(account, orders, placed)

    def _flatten(self, msg: dict[str, Any], account: str) -> None:
        root = self._symbol(msg)
        coid = self._client_id(msg, account)
        pos = self.exchange.accounts[account].positions.get(root)
        if pos is None or pos.qty == 0:
            raise Refused(f"no position in {msg.get('Symbol')} to flatten")
        self.exchange.submit(
            account, symbol=root, side=Side.for_delta(-pos.qty), qty=abs(pos.qty), client_order_id=coid
        )

    def _target(self, msg: dict[str, Any]) -> tuple[PaperOrder | None, Leg | None]:
        """The order a cancel or replace names: at the paper exchange, or an OCO leg held there."""
        sid, coid = str(msg.get("ServerOrderID") or ""), str(msg.get("ClientOrderID") or "")
        leg = self.pairs.find(sid, coid)
        if leg is not None:
            return self.pairs.paper(leg), leg if leg.held else None
        for acct in self.exchange.accounts.values():
            if sid and sid in acct.orders:
                return acct.orders[sid], None
            if coid and not sid and coid in acct.by_client_id:
                return acct.by_client_id[coid], None
        return None, None

    def _cancel(self, msg: dict[str, Any]) -> None:
        order, held = self._target(msg)
        if held is not None:
            self.pairs.cancel_held(held)
            return
        if order is None:
            raise Refused(f"no order {msg.get('ServerOrderID') or msg.get('ClientOrderID')!r}")
        try:
            self.exchange.cancel(order.account, order.id)
        except OrderRejected as exc:
            raise Refused(str(exc)) from None
        self.pairs.cancelled_by_client(order)

    def _replace(self, msg: dict[str, Any]) -> None:
        order, held = self._target(msg)
        if order is None and held is None:
            raise Refused(f"no order {msg.get('ServerOrderID') or msg.get('ClientOrderID')!r}")
        p1 = msg.get("Price1") if msg.get("Price1IsSet", 1) else None
        p2 = msg.get("Price2") if msg.get("Price2IsSet", 1) else None
        qty = msg.get("Quantity") or None
        kind = order.order_type if order is not None else held.order_type if held is not None else OrderType.MARKET
        limit = p1 if kind is OrderType.LIMIT else p2 if kind is OrderType.STOP_LIMIT else None
        stop = p1 if kind in (OrderType.STOP, OrderType.STOP_LIMIT) else None
        if held is not None:
            self.pairs.replace_held(held, int(qty) if qty else None, limit, stop)
            return
        assert order is not None
        try:
            self.exchange.modify(order.account, order.id, qty=int(qty) if qty else None, price=limit, stop_price=stop)
        except OrderRejected as exc:
            raise Refused(str(exc)) from None

    def _refusals(self, t: int, msg: dict[str, Any], account: str, exc: Refused) -> list[Reply]:
        why = str(exc)
        if t in (Msg.CANCEL_ORDER, Msg.CANCEL_REPLACE_ORDER):
            return [self._change_refused(t, msg, account, why)]
        if t == Msg.SUBMIT_NEW_OCO_ORDER:  # "two separate ORDER_UPDATE messages, 1 for each order"
            refused = [self._new_refused(msg, account, why, leg) for leg in LEGS]
            return refused + [self._new_refused({**msg, "ClientOrderID": c}, account, why) for c in exc.also]
        return [self._new_refused(msg, account, why)]

    def _change_refused(self, t: int, msg: dict[str, Any], account: str, why: str) -> Reply:
        order, held = self._target(msg)
        reason = Reason.ORDER_CANCEL_REJECTED if t == Msg.CANCEL_ORDER else Reason.ORDER_CANCEL_REPLACE_REJECTED
        if order is not None:
            fields = self.fields(order, STATUS_OUT.get(order.status, Status.OPEN), reason)
        elif held is not None:
            fields = self.pairs.held_fields(held, held.ended or Status.PENDING_CHILD, reason)
        else:
            fields = {
                "ServerOrderID": msg.get("ServerOrderID") or "",
                "ClientOrderID": msg.get("ClientOrderID") or "",
                "OrderStatus": Status.UNSPECIFIED,
                "OrderUpdateReason": reason,
                "TradeAccount": account,
            }
        fields["InfoText"] = why[:95]
        return Msg.ORDER_UPDATE, fields

    @staticmethod
    def _new_refused(msg: dict[str, Any], account: str, why: str, leg: str = "") -> Reply:
        fields = {"Symbol": msg.get("Symbol") or "", "ClientOrderID": msg.get(f"ClientOrderID{leg}") or "",
                  "OrderStatus": Status.REJECTED, "OrderUpdateReason": Reason.NEW_ORDER_REJECTED,
                  "OrderType": msg.get(f"OrderType{leg}", int(DtcOrderType.MARKET)),
                  "BuySell": msg.get(f"BuySell{leg}", 0), "OrderQuantity": msg.get(f"Quantity{leg}", 0),
                  "TradeAccount": account, "InfoText": why[:95]}  # fmt: skip
        return Msg.ORDER_UPDATE, fields


def _price(msg: dict[str, Any], key: str) -> float | None:
    """A price field of an order request: None when absent or 0 (DTC's unset price: an order that
    needs it is refused for want of a price), Refused when it is not a number."""
    value = msg.get(key)
    if value is None or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:  # NaN
        raise Refused(f"{key} {value!r:.20} is not a price")
    return float(value)


def _fields(msg: dict[str, Any]) -> dict[str, Any]:
    """An order request as recorded: every field but the message type (order requests carry no secret)."""
    return {k: v for k, v in msg.items() if k != "Type"}
