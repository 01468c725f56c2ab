"""The simulator's trading desk: DTC order requests against the paper exchange, and the paper
exchange's events as DTC messages.

Requests (SUBMIT_NEW_SINGLE_ORDER, CANCEL_REPLACE_ORDER, CANCEL_ORDER, SUBMIT_FLATTEN_POSITION_ORDER)
are checked as a DTC server would (a known trade account and symbol, a ClientOrderID not used before
in the session, whole positive quantities, the prices the order type needs) and each one, refused
or not, is written to the audit log. What the paper exchange then does comes back through its
listener as ORDER_UPDATE (with the status, the reason, the cumulative and the last fill) and
POSITION_UPDATE messages. Refusals are ORDER_UPDATEs too: NEW_ORDER_REJECTED, or a cancel or
replace rejected, with the reason in InfoText.
"""

from __future__ import annotations

from typing import Any

from adapters.base import OrderRejected
from adapters.paper.exchange import PaperExchange, PaperOrder
from adapters.sierrachart.wire import BuySell, DtcOrderType, Msg, Reason, Status, Tif
from adapters.simkit import AuditLog
from copytui.models import AccountEvent, EventKind, OrderStatus, OrderType, Side, TimeInForce

TYPES = {DtcOrderType.MARKET: OrderType.MARKET, DtcOrderType.LIMIT: OrderType.LIMIT,
         DtcOrderType.STOP: OrderType.STOP, DtcOrderType.STOP_LIMIT: OrderType.STOP_LIMIT}  # fmt: skip
TYPE_OUT = {v: int(k) for k, v in TYPES.items()}
SIDE_OUT = {Side.BUY: int(BuySell.BUY), Side.SELL: int(BuySell.SELL)}
TIF_OUT = {TimeInForce.DAY: int(Tif.DAY), TimeInForce.GTC: int(Tif.GOOD_TILL_CANCELED),
           TimeInForce.IOC: int(Tif.IMMEDIATE_OR_CANCEL)}  # fmt: skip
TIF_IN = {v: k for k, v in TIF_OUT.items()}
STATUS_OUT = {OrderStatus.WORKING: Status.OPEN, OrderStatus.PARTIALLY_FILLED: Status.PARTIALLY_FILLED,
              OrderStatus.FILLED: Status.FILLED, OrderStatus.CANCELLED: Status.CANCELED,
              OrderStatus.REJECTED: Status.REJECTED}  # fmt: skip
AUDITED = {
    Msg.SUBMIT_NEW_SINGLE_ORDER: "SUBMIT_NEW_SINGLE_ORDER",
    Msg.SUBMIT_FLATTEN_POSITION_ORDER: "SUBMIT_FLATTEN_POSITION_ORDER",
    Msg.CANCEL_ORDER: "CANCEL_ORDER",
    Msg.CANCEL_REPLACE_ORDER: "CANCEL_REPLACE_ORDER",
}
Reply = tuple[int, dict[str, Any]]


class Refused(Exception):
    """A request the server refuses; the text goes to InfoText."""


def _prices(order_type: OrderType, limit: float | None, stop: float | None) -> dict[str, float]:
    if order_type is OrderType.LIMIT and limit is not None:
        return {"Price1": limit}
    if order_type is OrderType.STOP and stop is not None:
        return {"Price1": stop}
    if order_type is OrderType.STOP_LIMIT and stop is not None and limit is not None:
        return {"Price1": stop, "Price2": limit}
    return {}


def order_fields(order: PaperOrder, symbol: str, status: int, reason: int) -> dict[str, Any]:
    """An ORDER_UPDATE of ``order`` as it stands now."""
    fields: dict[str, Any] = {
        "Symbol": symbol, "Exchange": "CME", "ServerOrderID": order.id, "ClientOrderID": order.client_order_id or "",
        "OrderStatus": status, "OrderUpdateReason": reason, "OrderType": TYPE_OUT[order.order_type],
        "BuySell": SIDE_OUT[order.side], "TimeInForce": TIF_OUT.get(order.tif, int(Tif.DAY)),
        "OrderQuantity": order.qty, "FilledQuantity": order.filled, "RemainingQuantity": order.leaves,
        "TradeAccount": order.account,
    }  # fmt: skip
    fields.update(_prices(order.order_type, order.price, order.stop_price))
    if order.avg_fill_price is not None:
        fields["AverageFillPrice"] = order.avg_fill_price
    return fields


class Desk:
    """Order requests of every connection, against one paper exchange; ``symbols`` maps Sierra
    Chart symbols to copytui's, ``contracts`` the other way."""

    def __init__(self, exchange: PaperExchange, contracts: dict[str, str], audit: AuditLog) -> None:
        self.exchange = exchange
        self.contracts = contracts
        self.symbols = {sym: root for root, sym in contracts.items()}
        self.audit = audit
        self.used: dict[str, set[str]] = {}
        """ClientOrderIDs each trade account has used this session (DTC refuses one used before)."""

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
        fields = order_fields(order, self.contracts[ev.symbol], Status.OPEN, Reason.GENERAL_ORDER_UPDATE)
        # the event's own view of the order (a held and reordered event is older than the order now)
        fields.update(OrderQuantity=ev.qty, FilledQuantity=ev.cum_qty, RemainingQuantity=max(ev.qty - ev.cum_qty, 0))
        fields.pop("Price1", None)
        fields.pop("Price2", None)
        fields.update(_prices(order.order_type, ev.price, ev.stop_price))
        fields["LatestTransactionDateTime"] = ev.wall_ns / 1e9
        if ev.kind is EventKind.ORDER_NEW:
            fields.update(OrderStatus=Status.OPEN, OrderUpdateReason=Reason.NEW_ORDER_ACCEPTED)
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
        coid = msg.get("ClientOrderID") if isinstance(msg.get("ClientOrderID"), str) else None
        if t in (Msg.CANCEL_ORDER, Msg.CANCEL_REPLACE_ORDER):
            order = self._order(msg)
            account = order.account if order is not None else account
            coid = (order.client_order_id if order is not None else None) or coid
        try:
            replies = self._dispatch(t, msg, account)
        except Refused as exc:
            self.audit.record(account, AUDITED[t], coid or None, "refused", str(exc), _fields(msg))
            return [self._refusal(t, msg, account, str(exc))]
        self.audit.record(account, AUDITED[t], coid or None, "accepted", "", _fields(msg))
        return replies

    def _dispatch(self, t: int, msg: dict[str, Any], account: str) -> list[Reply]:
        if account not in self.exchange.accounts:
            raise Refused(f"unknown trade account {account!r}")
        if t == Msg.SUBMIT_NEW_SINGLE_ORDER:
            self._submit(msg, account)
        elif t == Msg.SUBMIT_FLATTEN_POSITION_ORDER:
            self._flatten(msg, account)
        elif t == Msg.CANCEL_ORDER:
            self._cancel(msg)
        else:
            self._replace(msg)
        return []

    def _client_id(self, msg: dict[str, Any], account: str) -> str:
        coid = msg.get("ClientOrderID")
        if not isinstance(coid, str) or not coid:
            raise Refused("ClientOrderID is required")
        used = self.used.setdefault(account, set())
        if coid in used:
            raise Refused(f"ClientOrderID {coid} was already used in this trading session")
        used.add(coid)
        return coid

    def _symbol(self, msg: dict[str, Any]) -> str:
        root = self.symbols.get(str(msg.get("Symbol", "")))
        if root is None:
            raise Refused(f"unknown symbol {msg.get('Symbol')!r}")
        return root

    def _submit(self, msg: dict[str, Any], account: str) -> None:
        root = self._symbol(msg)
        coid = self._client_id(msg, account)
        order_type = TYPES.get(msg.get("OrderType", 0))
        side = {int(BuySell.BUY): Side.BUY, int(BuySell.SELL): Side.SELL}.get(msg.get("BuySell", 0))
        qty = msg.get("Quantity")
        if order_type is None or side is None:
            raise Refused(f"OrderType {msg.get('OrderType')!r} / BuySell {msg.get('BuySell')!r} not supported")
        if not isinstance(qty, int | float) or isinstance(qty, bool) or qty != int(qty) or qty <= 0:
            raise Refused(f"Quantity {qty!r} is not a positive whole number")
        p1, p2 = msg.get("Price1"), msg.get("Price2")
        limit = p1 if order_type is OrderType.LIMIT else p2 if order_type is OrderType.STOP_LIMIT else None
        stop = p1 if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) else None
        tif = TIF_IN.get(msg.get("TimeInForce", 1), TimeInForce.DAY)
        try:
            self.exchange.submit(account, symbol=root, side=side, qty=int(qty), order_type=order_type,
                                 price=limit, stop_price=stop, tif=tif, client_order_id=coid)  # fmt: skip
        except OrderRejected as exc:
            known = self.exchange.accounts[account].by_client_id.get(coid)
            if known is None or known.status is not OrderStatus.REJECTED:
                raise Refused(str(exc)) from None
            # the paper exchange's risk check: it told every listener already

    def _flatten(self, msg: dict[str, Any], account: str) -> None:
        root = self._symbol(msg)
        coid = self._client_id(msg, account)
        pos = self.exchange.accounts[account].positions.get(root)
        if pos is None or pos.qty == 0:
            raise Refused(f"no position in {msg.get('Symbol')} to flatten")
        self.exchange.submit(
            account, symbol=root, side=Side.for_delta(-pos.qty), qty=abs(pos.qty), client_order_id=coid
        )

    def _order(self, msg: dict[str, Any]) -> PaperOrder | None:
        sid, coid = msg.get("ServerOrderID"), msg.get("ClientOrderID")
        for acct in self.exchange.accounts.values():
            if sid and sid in acct.orders:
                return acct.orders[sid]
            if coid and not sid and coid in acct.by_client_id:
                return acct.by_client_id[coid]
        return None

    def _cancel(self, msg: dict[str, Any]) -> None:
        order = self._order(msg)
        if order is None:
            raise Refused(f"no order {msg.get('ServerOrderID') or msg.get('ClientOrderID')!r}")
        try:
            self.exchange.cancel(order.account, order.id)
        except OrderRejected as exc:
            raise Refused(str(exc)) from None

    def _replace(self, msg: dict[str, Any]) -> None:
        order = self._order(msg)
        if order is None:
            raise Refused(f"no order {msg.get('ServerOrderID') or msg.get('ClientOrderID')!r}")
        p1 = msg.get("Price1") if msg.get("Price1IsSet", 1) else None
        p2 = msg.get("Price2") if msg.get("Price2IsSet", 1) else None
        qty = msg.get("Quantity") or None
        kind = order.order_type
        limit = p1 if kind is OrderType.LIMIT else p2 if kind is OrderType.STOP_LIMIT else None
        stop = p1 if kind in (OrderType.STOP, OrderType.STOP_LIMIT) else None
        try:
            self.exchange.modify(order.account, order.id, qty=int(qty) if qty else None, price=limit, stop_price=stop)
        except OrderRejected as exc:
            raise Refused(str(exc)) from None

    def _refusal(self, t: int, msg: dict[str, Any], account: str, why: str) -> Reply:
        if t in (Msg.CANCEL_ORDER, Msg.CANCEL_REPLACE_ORDER):
            order = self._order(msg)
            reason = Reason.ORDER_CANCEL_REJECTED if t == Msg.CANCEL_ORDER else Reason.ORDER_CANCEL_REPLACE_REJECTED
            if order is not None:
                status = STATUS_OUT.get(order.status, Status.OPEN)
                fields = order_fields(order, self.contracts[order.symbol], status, reason)
            else:
                fields = {
                    "ServerOrderID": msg.get("ServerOrderID") or "",
                    "ClientOrderID": msg.get("ClientOrderID") or "",
                    "OrderStatus": Status.UNSPECIFIED,
                    "OrderUpdateReason": reason,
                    "TradeAccount": account,
                }
        else:
            fields = {"Symbol": msg.get("Symbol") or "", "ClientOrderID": msg.get("ClientOrderID") or "",
                      "OrderStatus": Status.REJECTED, "OrderUpdateReason": Reason.NEW_ORDER_REJECTED,
                      "OrderType": msg.get("OrderType", int(DtcOrderType.MARKET)), "BuySell": msg.get("BuySell", 0),
                      "OrderQuantity": msg.get("Quantity", 0), "TradeAccount": account}  # fmt: skip
        fields["InfoText"] = why[:95]
        return Msg.ORDER_UPDATE, fields


def _fields(msg: dict[str, Any]) -> dict[str, Any]:
    """An order request as recorded: every field but the message type (order requests carry no secret)."""
    return {k: v for k, v in msg.items() if k != "Type"}
