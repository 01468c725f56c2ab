"""The Rithmic adapter's order path: new order (312), modify (314), cancel (316), flatten (346, 3504).

copytui's client order id goes out as ``user_tag``, which Rithmic echoes on every notification.
Whether Rithmic refuses a repeated ``user_tag`` is unverified, so this session never sends one
twice: a place of an id already in flight waits for that one's answer, an id already answered or
seen in a notification gets the known answer. A new order is never resent: a socket lost after the
write, or no answer within ``order_timeout_s``, is :class:`~adapters.base.AmbiguousOutcome` (the
engine then asks ``find_order``); a socket down before the write is
:class:`~adapters.base.Disconnected` (nothing sent).

Every order says ``manual_or_auto: AUTO``: copytui is a program, and Rithmic asks each order to say
so. The fields that do not change from order to order (template, fcm, ib, account, contract,
exchange, trade route, AUTO) are encoded once per contract and login; an order encodes only its
own (request id, user_tag, side, type, quantity, prices, duration).
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time

from adapters.base import AmbiguousOutcome, BrokerAdapter, BrokerError, Disconnected
from adapters.rithmic import proto, reads
from adapters.rithmic.book import Book, Tracked
from adapters.rithmic.contracts import Contract
from adapters.rithmic.enums import Duration, InfraType, OrderPlacement, PriceType, TransactionType
from adapters.rithmic.oco_links import OcoLinks
from adapters.rithmic.options import RithmicOptions
from adapters.rithmic.order_messages import (
    RequestCancelAllOrders,
    RequestCancelOrder,
    RequestExitPosition,
    RequestModifyOrder,
    RequestNewOrder,
    ResponseNewOrder,
)
from adapters.rithmic.plant import Answer, PlantLink
from adapters.rithmic.proto import Message
from adapters.rithmic.session import RithmicSession
from adapters.rithmic.trailing import ticks_of
from copytui.instruments import instrument
from copytui.models import FollowerOrder, OrderAck, OrderStatus, OrderType, Side, TimeInForce

log = logging.getLogger("copytui.adapters.rithmic")

PRICE_TYPE = {
    OrderType.MARKET: PriceType.MARKET,
    OrderType.LIMIT: PriceType.LIMIT,
    OrderType.STOP: PriceType.STOP_MARKET,
    OrderType.STOP_LIMIT: PriceType.STOP_LIMIT,
    OrderType.TRAILING_STOP: PriceType.STOP_MARKET,  # with trailing_stop and trail_by_ticks (trailing.py)
}
TRANSACTION = {Side.BUY: TransactionType.BUY, Side.SELL: TransactionType.SELL}
DURATION = {TimeInForce.DAY: Duration.DAY, TimeInForce.GTC: Duration.GTC, TimeInForce.IOC: Duration.IOC}
_REPEAT = "already at Rithmic under this user_tag: not sent again"

# the new-order fields that change from order to order, their tags and enum values encoded once
_TAG = {f.name: f.key for f in proto.spec_of(RequestNewOrder).fields if f.name}
_SIDE = {s: _TAG["transaction_type"] + proto.varint(v) for s, v in TRANSACTION.items()}
_TYPE = {t: _TAG["price_type"] + proto.varint(v) for t, v in PRICE_TYPE.items()}
_TIF = {t: _TAG["duration"] + proto.varint(v) for t, v in DURATION.items()}
_DOUBLE = struct.Struct("<d").pack


def _text(tag: bytes, value: str) -> bytes:
    raw = value.encode()
    return tag + proto.varint(len(raw)) + raw


def new_order_fields(request_id: str, order: FollowerOrder, price: float, trigger: float) -> bytes:
    """The part of a RequestNewOrder that is this order's own (the rest is pre-built per contract)."""
    out = (
        _text(_TAG["user_msg"], request_id)
        + _text(_TAG["user_tag"], order.client_order_id)
        + _TAG["quantity"]
        + proto.varint(order.qty)
        + _SIDE[order.side]
        + _TYPE[order.order_type]
        + _TIF[order.tif]
    )
    if price:
        out += _TAG["price"] + _DOUBLE(price)
    if trigger:
        out += _TAG["trigger_price"] + _DOUBLE(trigger)
    if order.order_type is OrderType.TRAILING_STOP and order.trail is not None:
        ticks = ticks_of(order.symbol, order.trail)
        out += _TAG["trailing_stop"] + b"\x01" + _TAG["trail_by_ticks"] + proto.varint(ticks)
    return out


def _ack(order: FollowerOrder, status: OrderStatus, basket: str | None, sent_ns: int = 0, reason: str = "") -> OrderAck:
    now = time.perf_counter_ns()
    return OrderAck(
        client_order_id=order.client_order_id,
        broker_order_id=basket,
        status=status,
        sent_ns=sent_ns or now,
        ack_ns=now,
        reason=reason or None,
    )


def wire_prices(order: FollowerOrder) -> tuple[float, float]:
    """(price, trigger_price) on the tick grid; ValueError naming what the order type lacks."""
    inst = instrument(order.symbol)
    price = trigger = 0.0
    if order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        if order.price is None:
            raise ValueError(f"a {order.order_type} order needs a limit price")
        price = inst.round_price(order.price)
    if order.order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
        if order.stop_price is None:
            raise ValueError(f"a {order.order_type} order needs a stop price")
        trigger = inst.round_price(order.stop_price)
    if order.order_type is OrderType.TRAILING_STOP:
        if order.trail is None:
            raise ValueError("a trailing stop needs its trail (trail_by_ticks)")
        # where the trail starts when the leader's stop is known; the broker starts it otherwise
        trigger = inst.round_price(order.stop_price) if order.stop_price is not None else 0.0
    return price, trigger


class RithmicOrders(BrokerAdapter):
    """The order path; :class:`adapters.rithmic.client.RithmicAdapter` holds the state it reads."""

    options: RithmicOptions
    session: RithmicSession | None
    account_id: str | None
    book: Book | None
    overrides: dict[str, Contract]
    _inflight: dict[str, asyncio.Future[OrderAck]]
    _answered: dict[str, OrderAck]
    _prebuilt: dict[str, tuple[int, bytes, Contract]]
    links: OcoLinks

    # ------------------------------------------------------------ state
    def _live(self) -> tuple[RithmicSession, str, Book]:
        if self.session is None or self.account_id is None or self.book is None:
            raise Disconnected(f"Rithmic adapter {self.account} is not connected")
        return self.session, self.account_id, self.book

    def contract_of(self, symbol: str) -> Contract:
        found = self.overrides.get(symbol)
        if found is not None:
            return found
        session, _, _ = self._live()
        return session.contract(symbol)

    def _static(self, session: RithmicSession, account_id: str, symbol: str) -> tuple[bytes, Contract]:
        """The new-order fields every order in ``symbol`` repeats, encoded once per login."""
        cached = self._prebuilt.get(symbol)
        if cached is not None and cached[0] == session.generation:
            return cached[1], cached[2]
        contract = self.contract_of(symbol)
        static = proto.encode_fields(
            RequestNewOrder,
            with_template=True,
            fcm_id=session.fcm_id,
            ib_id=session.ib_id,
            account_id=account_id,
            symbol=contract.symbol,
            exchange=contract.exchange,
            trade_route=session.route_for(contract.exchange, self.options.trade_route),
            manual_or_auto=OrderPlacement.AUTO,
        )
        self._prebuilt[symbol] = (session.generation, static, contract)
        return static, contract

    async def _request(self, link: PlantLink, request_id: str, data: bytes, what: str) -> tuple[int, Answer]:
        """Write one order request and wait for its answer; ambiguous once written."""
        pending = link.expect(request_id)
        try:
            sent = await link.write(data)  # Disconnected here: nothing left, the caller may say so
            try:
                # asyncio.timeout, not wait_for: no task is made, so the next follower's order is
                # written sooner (the engine starts every follower's order in one pass)
                async with asyncio.timeout(self.options.order_timeout_s):
                    answer = await pending.future
            except TimeoutError:
                raise AmbiguousOutcome(
                    f"Rithmic did not answer {what} within {self.options.order_timeout_s:g}s: ask by user_tag"
                ) from None
            except Disconnected as exc:
                raise AmbiguousOutcome(f"Rithmic connection lost after {what} was sent ({exc})") from None
        finally:
            link.forget(request_id)
        return sent, answer

    def _order_request(self, link: PlantLink, request: Message) -> tuple[str, bytes]:
        request_id = link.next_id()
        request.user_msg = [request_id]  # type: ignore[attr-defined]  # every request declares user_msg
        return request_id, proto.frame(request)

    # ------------------------------------------------------------ place
    async def place(self, order: FollowerOrder) -> OrderAck:
        coid = order.client_order_id
        inflight = self._inflight.get(coid)
        if inflight is not None:
            return await asyncio.shield(inflight)
        answered = self._answered.get(coid)
        if answered is not None:
            return answered
        if self.book is not None and (known := self.book.by_client_id(coid)) is not None:
            return _ack(order, OrderStatus.WORKING, known.basket_id, reason=_REPEAT)
        future: asyncio.Future[OrderAck] = asyncio.get_running_loop().create_future()
        self._inflight[coid] = future
        try:
            ack = await self._send_new(order)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # read: a racing place of the same id re-raises it, nobody else must
            raise
        finally:
            del self._inflight[coid]
        future.set_result(ack)
        self._answered[coid] = ack
        if order.oco_group is not None and self.capabilities.brackets and ack.status is OrderStatus.WORKING:
            self.links.leg_accepted(order.oco_group, coid, self.session, self.account_id, self.book)
        return ack

    async def _send_new(self, order: FollowerOrder) -> OrderAck:
        session, account_id, book = self._live()
        link = session.link(InfraType.ORDER_PLANT)
        try:
            static, contract = self._static(session, account_id, order.symbol)
            price, trigger = wire_prices(order)
        except (BrokerError, ValueError) as exc:
            return _ack(order, OrderStatus.REJECTED, None, reason=f"not sent: {exc}")
        request_id = link.next_id()
        data = proto.framed(static + new_order_fields(request_id, order, price, trigger))
        sent, answer = await self._request(link, request_id, data, f"new order {order.client_order_id}")
        if not answer.ok:
            return _ack(order, OrderStatus.REJECTED, None, sent, f"Rithmic refused the order: {answer.text}")
        basket = next(
            (m.basket_id for m in (*answer.rows, answer.final) if isinstance(m, ResponseNewOrder) and m.basket_id), ""
        )
        if not basket:
            known = book.by_client_id(order.client_order_id)
            basket = known.basket_id if known is not None else ""
        if basket:
            limit, stop = price or None, trigger or None
            tracked = book.learn(
                Tracked(
                    basket,
                    order.client_order_id,
                    order.symbol,
                    order.side,
                    order.order_type,
                    order.qty,
                    limit,
                    stop,
                    contract=contract.symbol,
                    exchange=contract.exchange,
                    trail=order.trail if order.order_type is OrderType.TRAILING_STOP else None,
                )
            )
            if tracked.status is OrderStatus.REJECTED:
                return _ack(order, OrderStatus.REJECTED, basket, sent, "rejected at Rithmic (see its notification)")
        return _ack(order, OrderStatus.WORKING, basket or None, sent)

    # ------------------------------------------------------------ modify, cancel
    async def _target(self, order: FollowerOrder) -> Tracked | None:
        _, _, book = self._live()
        tag = order.target_client_order_id
        if order.broker_order_id and order.broker_order_id in book.orders:
            return book.orders[order.broker_order_id]
        if tag and (known := book.by_client_id(tag)) is not None:
            return known
        if tag and await self.find_order(tag) is not None:  # learns it into the book
            return book.by_client_id(tag)
        return None

    async def modify(self, order: FollowerOrder) -> OrderAck:
        session, account_id, _ = self._live()
        target = await self._target(order)
        if target is None:
            return _ack(
                order, OrderStatus.REJECTED, None, reason=f"no order with client id {order.target_client_order_id}"
            )
        trail = (order.trail or target.trail) if order.order_type is OrderType.TRAILING_STOP else None
        try:  # a trailing stop's modify: its quantity and trail, never a price (trailing.py)
            price, trigger = (0.0, 0.0) if trail is not None else wire_prices(order)
        except ValueError as exc:
            return _ack(order, OrderStatus.REJECTED, target.basket_id, reason=f"not sent: {exc}")
        contract = Contract(target.contract, target.exchange) if target.contract else self.contract_of(target.symbol)
        link = session.link(InfraType.ORDER_PLANT)
        request_id, data = self._order_request(
            link,
            RequestModifyOrder(
                fcm_id=session.fcm_id,
                ib_id=session.ib_id,
                account_id=account_id,
                basket_id=target.basket_id,
                symbol=contract.symbol,
                exchange=contract.exchange,
                quantity=order.qty or target.qty,
                price=price,
                trigger_price=trigger,
                price_type=PRICE_TYPE[order.order_type],
                manual_or_auto=OrderPlacement.AUTO,
                trailing_stop=trail is not None,
                trail_by_ticks=ticks_of(target.symbol, trail) if trail is not None else 0,
            ),
        )
        sent, answer = await self._request(link, request_id, data, f"modify of order {target.basket_id}")
        if not answer.ok:
            return _ack(
                order, OrderStatus.REJECTED, target.basket_id, sent, f"Rithmic refused the modify: {answer.text}"
            )
        return _ack(order, OrderStatus.WORKING, target.basket_id, sent)

    async def cancel(self, order: FollowerOrder) -> OrderAck:
        session, account_id, _ = self._live()
        target = await self._target(order)
        if target is None:
            return _ack(
                order, OrderStatus.REJECTED, None, reason=f"no order with client id {order.target_client_order_id}"
            )
        link = session.link(InfraType.ORDER_PLANT)
        request_id, data = self._order_request(
            link,
            RequestCancelOrder(
                fcm_id=session.fcm_id,
                ib_id=session.ib_id,
                account_id=account_id,
                basket_id=target.basket_id,
                manual_or_auto=OrderPlacement.AUTO,
            ),
        )
        sent, answer = await self._request(link, request_id, data, f"cancel of order {target.basket_id}")
        if not answer.ok:
            return _ack(
                order, OrderStatus.REJECTED, target.basket_id, sent, f"Rithmic refused the cancel: {answer.text}"
            )
        return _ack(order, OrderStatus.CANCELLED, target.basket_id, sent)

    # ------------------------------------------------------------ flatten
    async def flatten(self, symbol: str | None = None) -> None:
        """Cancel the working orders (all at once, or one by one for ``symbol``), then exit each
        position (RequestExitPosition with the position's own contract)."""
        session, account_id, _ = self._live()
        timeout = self.options.timeout_s
        link = session.link(InfraType.ORDER_PLANT)
        working = await reads.show_orders(session, account_id, timeout)
        if symbol is None and working:
            answer = await link.call(
                RequestCancelAllOrders(
                    fcm_id=session.fcm_id,
                    ib_id=session.ib_id,
                    account_id=account_id,
                    user_type=session.info.user_type if session.info else 0,
                    manual_or_auto=OrderPlacement.AUTO,
                ),
                what="cancel all orders",
            )
            if not answer.ok:
                raise BrokerError(f"Rithmic refused to cancel all orders of {account_id}: {answer.text}")
        for row in working if symbol is not None else []:
            info = reads.order_info(row, self.account)
            if info is not None and info.symbol == symbol:
                answer = await link.call(
                    RequestCancelOrder(
                        fcm_id=session.fcm_id,
                        ib_id=session.ib_id,
                        account_id=account_id,
                        basket_id=row.basket_id,
                        manual_or_auto=OrderPlacement.AUTO,
                    ),
                    what=f"cancel of order {row.basket_id}",
                )
                if not answer.ok:
                    log.warning("Rithmic %s: cancel %s during flatten: %s", self.account, row.basket_id, answer.text)
        for pos in await reads.pnl_positions(session, account_id, timeout):
            held = reads.position_of(pos, self.account)
            if held is None or (symbol is not None and held.symbol != symbol):
                continue
            answer = await link.call(
                RequestExitPosition(
                    fcm_id=session.fcm_id,
                    ib_id=session.ib_id,
                    account_id=account_id,
                    symbol=pos.symbol,
                    exchange=pos.exchange,
                    manual_or_auto=OrderPlacement.AUTO,
                ),
                what=f"exit position {pos.symbol}",
            )
            if not answer.ok:
                raise BrokerError(f"Rithmic refused to exit {pos.symbol} in {account_id}: {answer.text}")
