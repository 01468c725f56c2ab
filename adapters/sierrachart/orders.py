"""The order path over DTC: SUBMIT_NEW_SINGLE_ORDER, CANCEL_REPLACE_ORDER, CANCEL_ORDER and
SUBMIT_FLATTEN_POSITION_ORDER, each answered by the ORDER_UPDATE that names it.

``place`` writes one pre-encoded JSON message: the part that never changes for a symbol (Type,
Symbol, Exchange, TradeAccount) is encoded once, the order's own fields are put after it with one
bytes format, and the result goes to the socket in one write. copytui's client order id is the
ClientOrderID (DTC: unique within the server's trading session; the server refuses one already
used), so a repeated place of a known id is answered from what the server said, never sent again.
No answer within ``order_timeout_s``, or the connection lost before it, is AmbiguousOutcome: the
engine then asks by ClientOrderID (invariant 4). Each order is written to the adapter's
:class:`~adapters.sierrachart.store.OrderStore` before it goes out, and the ServerOrderID of each
answer when it is read, so that a restarted copytui can still find it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass

from adapters.base import AmbiguousOutcome, Disconnected
from adapters.sierrachart.book import Book, OrderState
from adapters.sierrachart.link import DtcLink
from adapters.sierrachart.messages import OrderUpdate
from adapters.sierrachart.options import SierraChartOptions, SymbolError, SymbolMap
from adapters.sierrachart.store import OrderStore
from adapters.sierrachart.wire import (
    ORDER_ID_LENGTH,
    BuySell,
    DtcOrderType,
    Msg,
    Reason,
    Status,
    Tif,
)
from copytui.instruments import instrument
from copytui.models import FollowerOrder, OrderAck, OrderStatus, OrderType, Side, TimeInForce

DTC_TYPES = {OrderType.MARKET: DtcOrderType.MARKET, OrderType.LIMIT: DtcOrderType.LIMIT,
         OrderType.STOP: DtcOrderType.STOP, OrderType.STOP_LIMIT: DtcOrderType.STOP_LIMIT}  # fmt: skip
DTC_SIDES = {Side.BUY: BuySell.BUY, Side.SELL: BuySell.SELL}
DTC_TIFS = {TimeInForce.DAY: Tif.DAY, TimeInForce.GTC: Tif.GOOD_TILL_CANCELED, TimeInForce.IOC: Tif.IMMEDIATE_OR_CANCEL}
_TAIL = b'","OrderType":%d,"BuySell":%d%b,"Quantity":%d,"TimeInForce":%d,"IsAutomatedOrder":1}\x00'
FINAL = (Status.FILLED, Status.CANCELED, Status.REJECTED)
log = logging.getLogger("copytui.adapters.sierrachart")
REPEAT = "already at Sierra Chart under this ClientOrderID: not sent again"


def order_ack(
    order: FollowerOrder, status: OrderStatus, sent_ns: int, broker_id: str | None, reason: str | None = None
) -> OrderAck:
    now = time.perf_counter_ns()
    return OrderAck(
        client_order_id=order.client_order_id,
        broker_order_id=broker_id,
        status=status,
        sent_ns=sent_ns or now,
        ack_ns=now,
        reason=reason,
    )


_CLIENT_ID = re.compile(rf"[A-Za-z0-9_\-]{{1,{ORDER_ID_LENGTH - 1}}}")


def valid_client_id(coid: str) -> bool:
    """Written into the JSON unescaped: ASCII letters, digits, - and _ only, within DTC's 31."""
    return _CLIENT_ID.fullmatch(coid) is not None


class Lost(AmbiguousOutcome):
    """The connection closed after the request was written and before its answer came."""


@dataclass(frozen=True, slots=True)
class Doubt:
    symbol: str
    side: Side
    qty: int
    sent: float
    """time.monotonic() when it was sent: the server's order cannot have been learnt before."""


class OrderPath:
    def __init__(
        self, account: str, link: DtcLink, book: Book, symbols: SymbolMap, opts: SierraChartOptions, store: OrderStore
    ) -> None:
        self.account, self.link, self.book, self.symbols, self.opts = account, link, book, symbols, opts
        self.store = store
        self.places: dict[str, asyncio.Future[OrderUpdate]] = {}
        """ClientOrderID -> its first ORDER_UPDATE, for each order on its way."""
        self.changes: dict[str, tuple[str, asyncio.Future[OrderUpdate]]] = {}
        """ServerOrderID -> (cancel | modify, the ORDER_UPDATE that settles it)."""
        self._heads: dict[str, tuple[bytes, bytes]] = {}
        self.in_doubt: dict[str, Doubt] = {}
        """Orders sent whose answer never came (timeout, connection lost): see :meth:`claim`."""

    def reset(self) -> None:
        """A new session: the trade account's spelling may be the server's now."""
        self._heads.clear()

    def _head(self, symbol: str) -> tuple[bytes, bytes]:
        """(the message up to the ClientOrderID's value, the symbol's price format), encoded once."""
        head = self._heads.get(symbol)
        if head is None:
            fixed = {"Type": int(Msg.SUBMIT_NEW_SINGLE_ORDER), "Symbol": self.symbols.to_sierra(symbol),
                     "Exchange": self.opts.exchange, "TradeAccount": self.link.trade_account or ""}  # fmt: skip
            text = json.dumps(fixed, separators=(",", ":"))[:-1] + ',"ClientOrderID":"'
            head = self._heads[symbol] = (text.encode(), f"%.{instrument(symbol).price_decimals}f".encode())
        return head

    # ------------------------------------------------------------ answers
    def on_update(self, u: OrderUpdate) -> None:
        """Every ORDER_UPDATE, as it is read: settles the place or change waiting for it."""
        if u.client_id:
            self.store.named(u.server_id, u.client_id)  # first: what a restart after a kill needs
            waiting = self.places.get(u.client_id)
            if waiting is not None and not waiting.done():
                waiting.set_result(u)
            self.in_doubt.pop(u.client_id, None)
        change = self.changes.get(u.server_id) or self.changes.get(u.previous_server_id)
        if change is None or change[1].done():
            return
        kind, future = change
        if u.status in FINAL:
            future.set_result(u)
        elif kind == "cancel" and u.reason == Reason.ORDER_CANCEL_REJECTED:
            future.set_result(u)
        elif kind == "modify" and u.reason in (
            Reason.ORDER_CANCEL_REPLACE_COMPLETE,
            Reason.ORDER_CANCEL_REPLACE_REJECTED,
        ):
            future.set_result(u)

    def on_down(self, why: str) -> None:
        """The connection closed: what was sent and not answered may or may not be at the server."""
        for coid, future in self.places.items():
            if not future.done():
                future.set_exception(Lost(f"DTC connection lost before Sierra Chart answered {coid}: {why}"))
        for sid, (kind, future) in self.changes.items():
            if not future.done():
                future.set_exception(Lost(f"DTC connection lost before the {kind} of {sid} was answered: {why}"))

    # ------------------------------------------------------------ place
    async def place(self, order: FollowerOrder) -> OrderAck:
        coid = order.client_order_id
        known = self.book.find(coid)
        if known is not None:
            if known.status == Status.REJECTED:
                return order_ack(order, OrderStatus.REJECTED, 0, None, f"{REPEAT}; it was rejected: {known.reason}")
            return order_ack(order, OrderStatus.WORKING, 0, known.server_id, REPEAT)
        waiting = self.places.get(coid)
        if waiting is not None:  # the same order placed twice at once: one message, one answer
            return self.placed(order, await self.answer(coid, waiting), 0)
        refused = self.refusal(order)
        if refused is not None:
            return order_ack(order, OrderStatus.REJECTED, 0, None, f"not sent: {refused}")
        try:
            head, fmt = self._head(order.symbol)
        except SymbolError as exc:
            return order_ack(order, OrderStatus.REJECTED, 0, None, f"not sent: {exc}")
        inst = instrument(order.symbol)
        prices = b""
        if order.order_type is OrderType.LIMIT:
            prices = b',"Price1":' + fmt % inst.round_price(order.price or 0.0)
        elif order.order_type is OrderType.STOP:
            prices = b',"Price1":' + fmt % inst.round_price(order.stop_price or 0.0)
        elif order.order_type is OrderType.STOP_LIMIT:
            stop, limit = inst.round_price(order.stop_price or 0.0), inst.round_price(order.price or 0.0)
            prices = b',"Price1":' + fmt % stop + b',"Price2":' + fmt % limit
        payload = (
            head
            + coid.encode()
            + _TAIL
            % (DTC_TYPES[order.order_type], DTC_SIDES[order.side], prices, order.qty, DTC_TIFS.get(order.tif, Tif.DAY))
        )
        future: asyncio.Future[OrderUpdate] = asyncio.get_running_loop().create_future()
        self.places[coid] = future  # before any wait: a second place of this id waits for this one
        try:
            if not self.link.ready.is_set() and not await self.link.wait_ready(self.opts.reconnect_wait_s):
                raise Disconnected(f"Sierra Chart {self.account}: the DTC connection is down: {coid} was not sent")
            self.store.sending(coid, order.symbol, order.side, order.order_type, order.qty)
            self.link.send(payload)
        except (Disconnected, asyncio.CancelledError) as exc:
            del self.places[coid]
            future.set_exception(exc if isinstance(exc, Disconnected) else Disconnected(f"{coid} was not sent"))
            future.exception()  # retrieved: only a second place of the same id waiting on it re-raises it
            raise
        sent_ns = time.perf_counter_ns()
        try:
            return self.placed(order, await self.answer(coid, future), sent_ns)
        except Lost as exc:
            return await self._after_loss(order, payload, sent_ns, exc)
        except (AmbiguousOutcome, asyncio.CancelledError):  # cancelled: the engine stopped waiting
            self.doubt(order, sent_ns)
            raise
        finally:
            if self.places.get(coid) is future:
                del self.places[coid]

    def doubt(self, order: FollowerOrder, sent_ns: int) -> None:
        """``order`` went out and its answer never came: kept for :meth:`claim`."""
        since_sent = (time.perf_counter_ns() - sent_ns) / 1e9
        sent = time.monotonic() - since_sent - 0.001
        self.in_doubt[order.client_order_id] = Doubt(order.symbol, order.side, order.qty, sent)

    async def _after_loss(self, order: FollowerOrder, payload: bytes, sent_ns: int, exc: Lost) -> OrderAck:
        """The connection closed before the answer: once the next session has read the account again,
        the order is either there (by ClientOrderID, or claimed by its fills) or it never reached the
        server, and this send is its first delivery. A refusal of that delivery means the first one may
        have arrived after all (a ClientOrderID is refused once used): ambiguous, asked again later."""
        coid = order.client_order_id
        self.doubt(order, sent_ns)
        if self.link.closing or not await self.link.wait_ready(self.opts.reconnect_wait_s):
            raise AmbiguousOutcome(f"{exc}; not back within {self.opts.reconnect_wait_s:g}s: ask by ClientOrderID")
        st = self.book.find(coid) or self.claim(coid)
        if st is not None:
            self.in_doubt.pop(coid, None)
            if st.status == Status.REJECTED:
                return order_ack(order, OrderStatus.REJECTED, sent_ns, None, st.reason or "rejected by Sierra Chart")
            return order_ack(order, OrderStatus.WORKING, sent_ns, st.server_id)
        log.warning("Sierra Chart %s: %s never reached the server (%s); sending it now", self.account, coid, exc)
        future: asyncio.Future[OrderUpdate] = asyncio.get_running_loop().create_future()
        self.places[coid] = future
        try:
            self.link.send(payload)
            u = await self.answer(coid, future)
        except Disconnected:
            raise AmbiguousOutcome(f"{exc}; and the connection is down again: ask by ClientOrderID") from None
        finally:
            if self.places.get(coid) is future:
                del self.places[coid]
        ack = self.placed(order, u, sent_ns)
        if ack.status is OrderStatus.REJECTED:
            raise AmbiguousOutcome(f"{exc}; sent again, Sierra Chart refused it ({ack.reason}): ask by ClientOrderID")
        self.in_doubt.pop(coid, None)
        return ack

    @staticmethod
    def refusal(order: FollowerOrder) -> str | None:
        """Why ``order`` cannot go out as it is (None: it can): said before anything is sent."""
        if not valid_client_id(order.client_order_id):
            return f"ClientOrderID {order.client_order_id!r} is not 1-31 ASCII letters and digits"
        if order.qty <= 0:
            return f"quantity {order.qty} is not positive"
        if order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and order.price is None:
            return f"a {order.order_type} order needs a limit price"
        if order.order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and order.stop_price is None:
            return f"a {order.order_type} order needs a stop price"
        return None

    async def answer(self, what: str, future: asyncio.Future[OrderUpdate]) -> OrderUpdate:
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.opts.order_timeout_s)
        except TimeoutError:
            raise AmbiguousOutcome(
                f"no ORDER_UPDATE from Sierra Chart for {what} within {self.opts.order_timeout_s:g}s"
            ) from None

    def placed(self, order: FollowerOrder, u: OrderUpdate, sent_ns: int) -> OrderAck:
        """The ack that an order's first ORDER_UPDATE says."""
        if u.status == Status.REJECTED or u.reason == Reason.NEW_ORDER_REJECTED:
            why = f"Sierra Chart rejected the order: {u.info_text or 'no reason given'}"
            return order_ack(order, OrderStatus.REJECTED, sent_ns, u.server_id or None, why)
        return order_ack(order, OrderStatus.WORKING, sent_ns, u.server_id or None)

    def claim(self, coid: str) -> OrderState | None:
        """The order an in-doubt place became, when the server's answer was lost with the connection.

        DTC's historical fills carry no ClientOrderID and its open orders leave filled ones out, so
        such an order comes back as fills of an order id nobody here placed. It is taken as ours only
        when exactly one order learnt after the send matches its symbol, side and quantity, and no
        other order in doubt has that same shape; otherwise it stays unknown (never guessed)."""
        doubt = self.in_doubt.get(coid)
        if doubt is None:
            return None
        shape = (doubt.symbol, doubt.side, doubt.qty)
        if sum(1 for d in self.in_doubt.values() if (d.symbol, d.side, d.qty) == shape) != 1:
            return None
        found = [
            st
            for st in self.book.orders.values()
            if st.client_id is None and st.born >= doubt.sent and (st.symbol, st.side, max(st.qty, st.cum)) == shape
        ]
        if len(found) != 1:
            return None
        del self.in_doubt[coid]
        self.book.adopt(found[0], coid)
        self.store.named(found[0].server_id, coid)
        return found[0]
