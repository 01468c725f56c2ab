"""The order path of the Tradovate adapter: place, modify, cancel, liquidate, and what keeps each
order single at the broker.

``place`` never resends blindly. Answers that say the request was not handled (HTTP or WebSocket
429, a ``p-ticket``) are waited out and the identical request resent, within a budget. If the
socket drops after the write, the adapter waits for the resync and looks the client order id up in
the broker's own command list before anything is sent again (asking first, then sending, is the
journal's recovery rule applied at once). Tradovate's clOrdId uniqueness is unverified, so one
client order id is sent at most once by this session while in flight, answered, or known to the
broker under it.

:class:`OrderPath` is a collaborator of :class:`~adapters.tradovate.client.TradovateAdapter`: it
writes orders on the adapter's :class:`~adapters.tradovate.link.Link` (or over REST), names their
contracts through :class:`~adapters.tradovate.contracts.Contracts`, and reads the rest of the
session through :class:`OrderSession`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from adapters.base import AmbiguousOutcome, BrokerError, Disconnected, OrderRejected, RateLimited
from adapters.tradovate.book import AccountBook
from adapters.tradovate.contracts import Contracts
from adapters.tradovate.entities import ORDER_TYPE_TO_WIRE, SIDE_TO_ACTION, TIF_TO_WIRE
from adapters.tradovate.link import Link
from adapters.tradovate.rest import CAPTCHA_WAIT_S, RATE_LIMIT_FALLBACK_S, Answer, Lost, penalty_of
from adapters.tradovate.settings import TradovateOptions
from adapters.tradovate.trailing import modify_fields, peg_difference
from copytui.models import FollowerOrder, OrderAck, OrderStatus, OrderType

log = logging.getLogger("copytui.adapters.tradovate")

_REPEAT = "already at the broker under this client order id: not sent again"
_NO_TRAIL = "a trailing stop needs its trail (pegDifference): not sent"
_STOPS = (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP)


class OrderSession(Protocol):
    """What the order path asks of the adapter's session."""

    account: str
    book: AccountBook | None
    """The account as the stream keeps it (None before the first connect)."""
    account_id: int | None
    account_name: str | None

    async def rest_call(
        self, method: str, path: str, *, body: Any = None, query: dict[str, Any] | None = None
    ) -> Answer:
        """One REST request with the session's token (a refused token: once more after a new login)."""
        ...

    async def current_book(self, *, fresh: bool = False) -> AccountBook:
        """The stream's book, or (``fresh``, or while the stream is down) the REST lists' view."""
        ...


class OrderPath:
    def __init__(self, session: OrderSession, link: Link, contracts: Contracts, options: TradovateOptions) -> None:
        self.session = session
        self.link = link
        self.contracts = contracts
        self.options = options
        self.over_ws = options.order_transport == "ws"
        self._inflight: dict[str, asyncio.Future[OrderAck]] = {}
        self._answered: dict[str, OrderAck] = {}

    async def _send(self, endpoint: str, body: dict[str, Any]) -> tuple[int, int, Any, float | None]:
        """Write one order command on the chosen transport: (sent_ns, status, data, retry_after_s)."""
        if self.over_ws:
            sent, resp = await self.link.call(endpoint, body)
            return sent, resp.status, resp.data, None
        # a refused token (401) was refused before handling: rest_call resends it after a new login
        ans = await self.session.rest_call("POST", endpoint, body=body)
        return ans.sent_ns, ans.status, ans.data, ans.retry_after_s

    async def command(
        self, endpoint: str, body: dict[str, Any], coid: str | None, *, also: str | None = None
    ) -> tuple[int, int, Any]:
        """Send an order command. Answers that say "not handled" (429, p-ticket) are waited out and
        the request resent within budget; a connection lost after the write is resolved by asking
        the broker for ``coid`` (and ``also``, the other order the same request places: placeOCO's
        second leg) before anything is sent again."""
        deadline = time.monotonic() + self.options.rate_limit_wait_s
        unreachable_until = time.monotonic() + self.options.reconnect_wait_s
        backoff, penalty_waited = 0.1, 0.0
        while True:
            try:
                sent, status, data, retry_after = await self._send(endpoint, body)
            except Disconnected:
                # nothing was written; the WebSocket path already waited for the stream, REST has not
                if self.over_ws or time.monotonic() > unreachable_until:
                    raise
                await asyncio.sleep(0.1)
                continue
            except Lost as exc:
                found = await self._resolve_lost(endpoint, body, coid, exc, also)
                if found is not None:
                    return found
                log.warning(
                    "tradovate %s: %s %s never reached the broker; sending it now", self.session.account, endpoint, coid
                )
                continue
            if status == 429:
                wait = retry_after if retry_after is not None else backoff
                if time.monotonic() + wait > deadline:
                    raise RateLimited(
                        f"tradovate {endpoint} for {self.session.account}: rate limited (429); not sent",
                        retry_after or RATE_LIMIT_FALLBACK_S,
                    )
                log.warning(
                    "tradovate %s: %s rate limited (429); resending in %.2fs", self.session.account, endpoint, wait
                )
                await asyncio.sleep(wait)
                backoff = min(backoff * 2, 1.0)
                continue
            pen = penalty_of(data) if status == 200 else None
            if pen is not None:
                if pen.captcha or penalty_waited + pen.seconds > self.options.penalty_wait_max_s:
                    raise RateLimited(
                        f"tradovate {endpoint} for {self.session.account}: penalty of {pen.seconds:g}s"
                        + (" with a captcha" if pen.captcha else "")
                        + "; not sent",
                        CAPTCHA_WAIT_S if pen.captcha else pen.seconds,
                    )
                log.warning(
                    "tradovate %s: %s got a penalty ticket; resending in %.2fs",
                    self.session.account,
                    endpoint,
                    pen.seconds,
                )
                await asyncio.sleep(pen.seconds)
                penalty_waited += pen.seconds
                body = {**body, "p-ticket": pen.ticket}
                continue
            return sent, status, data

    async def _resolve_lost(
        self, endpoint: str, body: dict[str, Any], coid: str | None, exc: Lost, also: str | None = None
    ) -> tuple[int, int, Any] | None:
        if not await self.link.wait_ready(self.options.reconnect_wait_s):
            raise AmbiguousOutcome(
                f"tradovate {endpoint} {coid or ''} was sent but the connection dropped ({exc}); ask by client id"
            )
        # after a socket drop the resync snapshot is newer than the request; after a lost HTTP
        # connection the stream may not have caught up yet, so ask the REST lists
        book = self.session.book if self.over_ws else await self.session.current_book(fresh=True)
        assert book is not None
        oid = book.clordids.get(coid) if coid else None
        if oid is not None:
            return exc.sent_ns, 200, {"orderId": oid}
        if also is not None and also in book.clordids:  # half a pair known: not resent, the engine asks
            raise AmbiguousOutcome(f"tradovate {endpoint}: only {also} of the pair is known at the broker ({exc})")
        if endpoint == "order/cancelorder":
            info = book.info(int(body["orderId"]))
            if info is not None and info.status.final:
                return exc.sent_ns, 200, {}
        return None

    # --------------------------------------------------------------- orders
    async def _once(self, order: FollowerOrder, send: Callable[[], Awaitable[OrderAck]]) -> OrderAck:
        """One client order id, one request at the broker: a repeat waits for (or reuses) the first."""
        coid = order.client_order_id
        running = self._inflight.get(coid)
        if running is not None:
            return await asyncio.shield(running)
        answered = self._answered.get(coid)
        if answered is not None:  # acknowledged already; its props may still be on their way
            now = time.perf_counter_ns()
            return answered.model_copy(update={"sent_ns": now, "ack_ns": now, "reason": _REPEAT})
        book = self.session.book
        known = book.find(coid) if book is not None else None
        if known is not None:
            now = time.perf_counter_ns()
            return OrderAck(
                client_order_id=coid,
                broker_order_id=known.broker_order_id,
                status=known.status,
                sent_ns=now,
                ack_ns=now,
                reason=_REPEAT,
            )
        fut: asyncio.Future[OrderAck] = asyncio.get_running_loop().create_future()
        self._inflight[coid] = fut
        try:
            ack = await send()
        except asyncio.CancelledError:
            fut.cancel()
            raise
        except Exception as exc:
            fut.set_exception(exc)
            fut.exception()  # marked retrieved: only duplicates waiting on it re-raise it
            raise
        else:
            fut.set_result(ack)
            self._answered[coid] = ack
            return ack
        finally:
            self._inflight.pop(coid, None)

    async def once_all(
        self, orders: Sequence[FollowerOrder], send: Callable[[], Awaitable[list[OrderAck]]]
    ) -> list[OrderAck]:
        """Several client order ids in one request (placeOCO's legs), sent only while none of them is
        in flight, answered or known at the broker: else BrokerError before anything is sent, and the
        caller sends each alone through ``_once``, which reuses what was sent. Repeats wait as in ``_once``."""
        book = self.session.book
        for coid in (o.client_order_id for o in orders):
            if coid in self._inflight or coid in self._answered or (book is not None and book.find(coid) is not None):
                raise BrokerError(f"tradovate {self.session.account}: {coid} was sent already, so not as a pair")
        loop = asyncio.get_running_loop()
        futs: dict[str, asyncio.Future[OrderAck]] = {o.client_order_id: loop.create_future() for o in orders}
        self._inflight.update(futs)
        try:
            acks = await send()
        except asyncio.CancelledError:
            for fut in futs.values():
                fut.cancel()
            raise
        except Exception as exc:
            for fut in futs.values():
                fut.set_exception(exc)
                fut.exception()  # marked retrieved: only duplicates waiting on it re-raise it
            raise
        else:
            for ack in acks:
                futs[ack.client_order_id].set_result(ack)
                self._answered[ack.client_order_id] = ack
            return acks
        finally:
            for coid, fut in futs.items():
                fut.cancel()  # no-op once answered; an ack the request never gave leaves no repeat waiting forever
                self._inflight.pop(coid, None)

    def ack(
        self, order: FollowerOrder, sent: int, status: OrderStatus, broker_id: Any = None, reason: str | None = None
    ) -> OrderAck:
        return OrderAck(
            client_order_id=order.client_order_id,
            broker_order_id=str(broker_id) if broker_id is not None else None,
            status=status,
            sent_ns=sent,
            ack_ns=time.perf_counter_ns(),
            reason=reason,
        )

    @staticmethod
    def failure(status: int, data: Any) -> str | None:
        if status != 200:
            return f"HTTP {status}: {str(data)[:160] if data else 'no body'}"
        if isinstance(data, dict):
            reason = data.get("failureReason")
            if reason and reason != "Success":
                return f"{reason}: {data.get('failureText') or ''}".rstrip(": ")
            if data.get("errorText"):
                return str(data["errorText"])
        return None

    def status_of(self, order_id: int, default: OrderStatus) -> OrderStatus:
        book = self.session.book
        status = book.status(order_id) if book is not None else None
        return status if status is not None else default

    async def place(self, order: FollowerOrder) -> OrderAck:
        return await self._once(order, lambda: self._place(order))

    async def _place(self, order: FollowerOrder) -> OrderAck:
        try:
            contract = await self.contracts.name_for(order.symbol)
        except OrderRejected as exc:
            return self.ack(order, time.perf_counter_ns(), OrderStatus.REJECTED, reason=str(exc))
        body = self.place_body(order, contract)
        if isinstance(body, str):
            return self.ack(order, time.perf_counter_ns(), OrderStatus.REJECTED, reason=body)
        sent, status, data = await self.command("order/placeorder", body, order.client_order_id)
        oid = data.get("orderId") if isinstance(data, dict) else None
        failure = self.failure(status, data)
        if failure is not None:
            return self.ack(order, sent, OrderStatus.REJECTED, oid, failure)
        if not isinstance(oid, int):
            raise AmbiguousOutcome(f"tradovate placeorder answer has no orderId ({str(data)[:120]}); ask by client id")
        return self.ack(order, sent, self.status_of(oid, OrderStatus.WORKING), oid)

    def place_body(self, order: FollowerOrder, contract: str) -> dict[str, Any] | str:
        """The placeorder body of ``order`` (placeOCO's first leg too, and the source of its
        ``other``), or why it is not sent."""
        body: dict[str, Any] = {
            "accountSpec": self.session.account_name,
            "accountId": self.session.account_id,
            "clOrdId": order.client_order_id,
            "action": SIDE_TO_ACTION[order.side],
            "symbol": contract,
            "orderQty": order.qty,
            "orderType": ORDER_TYPE_TO_WIRE[order.order_type],
            "isAutomated": True,
        }
        if order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and order.price is not None:
            body["price"] = order.price
        if order.order_type in _STOPS and order.stop_price is not None:
            body["stopPrice"] = order.stop_price  # a trailing stop starts there (trailing.py)
        if order.order_type is OrderType.TRAILING_STOP:
            if order.trail is None:
                return _NO_TRAIL
            body["pegDifference"] = peg_difference(order.symbol, order.trail)
        if order.order_type is not OrderType.MARKET:
            body["timeInForce"] = TIF_TO_WIRE[order.tif]
        return body

    def _target(self, order: FollowerOrder) -> int | None:
        if order.broker_order_id and order.broker_order_id.isdigit():
            return int(order.broker_order_id)
        book = self.session.book
        if order.target_client_order_id and book is not None:
            return book.clordids.get(order.target_client_order_id)
        return None

    async def modify(self, order: FollowerOrder) -> OrderAck:
        return await self._once(order, lambda: self._modify(order))

    async def _modify(self, order: FollowerOrder) -> OrderAck:
        target = self._target(order)
        if target is None:
            return self.ack(
                order,
                time.perf_counter_ns(),
                OrderStatus.REJECTED,
                reason=f"no Tradovate order for client id {order.target_client_order_id}",
            )
        book = self.session.book
        current = book.info(target) if book is not None else None
        body: dict[str, Any] = {
            "orderId": target,
            "clOrdId": order.client_order_id,
            "orderQty": order.qty or (current.qty if current else 0),
            "orderType": ORDER_TYPE_TO_WIRE[order.order_type],
            "isAutomated": True,
        }
        if order.order_type is OrderType.TRAILING_STOP:
            fields = modify_fields(order.symbol, order.trail, current.trail if current else None)
            if isinstance(fields, str):  # a refusal Tradovate would give: not sent
                return self.ack(order, time.perf_counter_ns(), OrderStatus.REJECTED, target, fields)
            body.update(fields)  # the quantity only: the broker moves the stop itself
        else:
            if order.price is not None:
                body["price"] = order.price
            if order.stop_price is not None:
                body["stopPrice"] = order.stop_price
        sent, status, data = await self.command("order/modifyorder", body, order.client_order_id)
        failure = self.failure(status, data)
        if failure is not None:
            return self.ack(order, sent, OrderStatus.REJECTED, target, failure)
        return self.ack(order, sent, self.status_of(target, OrderStatus.WORKING), target)

    async def cancel(self, order: FollowerOrder) -> OrderAck:
        return await self._once(order, lambda: self._cancel(order))

    async def _cancel(self, order: FollowerOrder) -> OrderAck:
        target = self._target(order)
        if target is None:
            return self.ack(
                order,
                time.perf_counter_ns(),
                OrderStatus.REJECTED,
                reason=f"no Tradovate order for client id {order.target_client_order_id}",
            )
        body = {"orderId": target, "clOrdId": order.client_order_id, "isAutomated": True}
        sent, status, data = await self.command("order/cancelorder", body, order.client_order_id)
        failure = self.failure(status, data)
        if failure is not None:
            return self.ack(order, sent, OrderStatus.REJECTED, target, failure)
        return self.ack(order, sent, OrderStatus.CANCELLED, target)

    async def flatten(self, symbol: str | None = None) -> None:
        book = await self.session.current_book()
        contracts = {p.contractId for p in book.positions.values() if p.netPos} | book.working_contracts()
        if symbol is not None:
            contracts = {c for c in contracts if book.symbol_of(c) == symbol}
        for cid in sorted(contracts):
            body = {"accountId": self.session.account_id, "contractId": cid, "admin": False, "isAutomated": True}
            _, status, data = await self.command("order/liquidateposition", body, None)
            failure = self.failure(status, data)
            if failure is not None:
                raise BrokerError(
                    f"tradovate could not liquidate {book.symbol_of(cid)} on {self.session.account}: {failure}"
                )
