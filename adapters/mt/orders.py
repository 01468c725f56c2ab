"""The order path of a MetaTrader account: place, modify, cancel and flatten over the bridge.

A place carries the client order id as the order's comment and :func:`magic_of` it as its magic
number, so the terminal's rows find their way back to it (and ``find_order`` finds it after a
restart) even where a broker rewrites comments. A place is sent once: no answer (the terminal
dropped, or the reply did not come in time) is :class:`AmbiguousOutcome`, asked by client id
later; only a requote, MetaTrader's word that nothing was executed, is sent again (at most
``options.requote_retries`` times, and never after any order of it was made). A place of a client
id already answered returns that answer, and two at once share one request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from adapters.base import AmbiguousOutcome, BrokerError, Disconnected, OrderRejected
from adapters.mt import retcodes
from adapters.mt.bridge import LinkClosed, TerminalLink
from adapters.mt.intake import Intake
from adapters.mt.options import MtOptions
from adapters.mt.protocol import Cancel, Close, Flatten, Kind, Modify, Place, Reply, Request, SlTp
from adapters.mt.symbols import LotProblem, SymbolBook
from adapters.mt.wire import magic_of
from copytui.models import FollowerOrder, OrderAck, OrderStatus, OrderType

log = logging.getLogger("copytui.adapters.mt")

KINDS: dict[OrderType, Kind] = {
    OrderType.MARKET: "market",
    OrderType.LIMIT: "limit",
    OrderType.STOP: "stop",
    OrderType.STOP_LIMIT: "stop_limit",
}
ANSWERS_KEPT = 10_000


def _ack(
    order: FollowerOrder, sent: int, status: OrderStatus, ticket: int | None = None, reason: str | None = None
) -> OrderAck:
    return OrderAck(
        client_order_id=order.client_order_id,
        broker_order_id=str(ticket) if ticket else None,
        status=status,
        sent_ns=sent,
        ack_ns=time.perf_counter_ns(),
        reason=reason,
    )


class OrderPath:
    def __init__(
        self,
        link: Callable[[], Awaitable[TerminalLink]],
        intake: Intake,
        symbols: SymbolBook,
        options: MtOptions,
        hedging: Callable[[], bool],
    ) -> None:
        self._link = link
        self.intake = intake
        self.symbols = symbols
        self.options = options
        self._hedging = hedging
        self._answers: OrderedDict[str, OrderAck] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[OrderAck]] = {}
        self.requotes = 0

    async def ask(self, request: Request, timeout_s: float, what: str, link: TerminalLink | None = None) -> Reply:
        """One request whose loss is not ambiguous (a read, a flatten): Disconnected when no answer.
        ``link``: this one (a session being set up), else the account's current one."""
        link = link or await self._link()
        try:
            return await link.request(request, timeout_s)
        except LinkClosed as exc:
            raise Disconnected(f"{what}: {exc}") from None
        except TimeoutError:
            raise Disconnected(f"{what}: terminal {link.login} did not answer within {timeout_s:g}s") from None

    # ------------------------------------------------------------ place
    async def place(self, order: FollowerOrder) -> OrderAck:
        coid = order.client_order_id
        answered = self._answers.get(coid)
        if answered is not None:
            return answered
        running = self._inflight.get(coid)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[OrderAck] = asyncio.get_running_loop().create_future()
        self._inflight[coid] = future
        try:
            ack = await self._place(order)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: a racing twin, if any, gets it too
            raise
        finally:
            del self._inflight[coid]
        future.set_result(ack)
        self._answers[coid] = ack
        while len(self._answers) > ANSWERS_KEPT:
            self._answers.popitem(last=False)
        return ack

    async def _place(self, order: FollowerOrder) -> OrderAck:
        sent = time.perf_counter_ns()
        link = await self._link()
        try:
            route, lots = self.symbols.lots(order.symbol, order.qty)
        except LotProblem as exc:
            return _ack(order, sent, OrderStatus.REJECTED, reason=f"not sent: {exc}")
        kind = KINDS[order.order_type]
        coid = order.client_order_id
        request = Place(
            symbol=route.mt,
            side=order.side.value,
            kind=kind,
            volume=lots,
            price=self.symbols.price(route, order.price) if kind in ("limit", "stop_limit") else 0.0,
            stop=self.symbols.price(route, order.stop_price) if kind in ("stop", "stop_limit") else 0.0,
            comment=coid,
            magic=magic_of(coid),
            deviation=self.options.deviation_points,
            reduce_first=self._hedging() and kind == "market",
        )
        self.intake.expect(coid, request.magic, lots)
        for attempt in range(self.options.requote_retries + 1):
            try:
                reply = await link.request(request, self.options.order_timeout_s)
            except (LinkClosed, TimeoutError) as exc:
                why = str(exc) or f"no reply within {self.options.order_timeout_s:g}s"
                raise AmbiguousOutcome(f"{coid}: terminal {link.login} gave no answer: {why}") from None
            made = reply.orders or ([reply.order] if reply.order else [])
            if reply.ok or made:
                ticket = self.intake.claim(coid, made)
                reason = None if reply.ok else f"only partly sent: {retcodes.describe(reply.retcode, reply.message)}"
                return _ack(order, sent, OrderStatus.WORKING, ticket, reason)
            result = retcodes.outcome(reply.retcode)
            if result is retcodes.Outcome.REQUOTED and attempt < self.options.requote_retries:
                self.requotes += 1
                log.info("MetaTrader %s: %s requoted (%s); sending it again", link.login, coid, reply.retcode)
                continue
            if result is retcodes.Outcome.UNKNOWN:
                raise AmbiguousOutcome(f"{coid}: {retcodes.describe(reply.retcode, reply.message)}")
            return _ack(order, sent, OrderStatus.REJECTED, reason=retcodes.describe(reply.retcode, reply.message))
        raise AssertionError("unreachable: the last attempt returns")

    # ------------------------------------------------------------ modify, cancel
    def _ticket(self, order: FollowerOrder) -> int | None:
        if order.broker_order_id and order.broker_order_id.isdigit():
            return int(order.broker_order_id)
        return self.intake.ticket_of(order.target_client_order_id or "")

    async def modify(self, order: FollowerOrder) -> OrderAck:
        sent = time.perf_counter_ns()
        ticket = self._ticket(order)
        if ticket is None:
            return _ack(order, sent, OrderStatus.REJECTED, reason=f"no order known for {order.target_client_order_id}")
        tracked = self.intake.orders.get(ticket)
        if tracked is not None and order.qty and order.qty != tracked.qty:
            why = f"not sent: MetaTrader cannot change a pending order's volume ({tracked.qty} -> {order.qty})"
            return _ack(order, sent, OrderStatus.REJECTED, ticket, why)
        route = tracked.route if tracked is not None else self.symbols.route(order.symbol)
        request = Modify(
            ticket=ticket,
            price=self.symbols.price(route, order.price),
            stop=self.symbols.price(route, order.stop_price),
            sl=tracked.sl if tracked is not None else 0.0,
            tp=tracked.tp if tracked is not None else 0.0,
        )
        return await self._change(order, sent, ticket, request, OrderStatus.WORKING)

    async def cancel(self, order: FollowerOrder) -> OrderAck:
        sent = time.perf_counter_ns()
        ticket = self._ticket(order)
        if ticket is None:
            return _ack(order, sent, OrderStatus.REJECTED, reason=f"no order known for {order.target_client_order_id}")
        return await self._change(order, sent, ticket, Cancel(ticket=ticket), OrderStatus.CANCELLED)

    async def _change(
        self, order: FollowerOrder, sent: int, ticket: int, request: Request, done: OrderStatus
    ) -> OrderAck:
        link = await self._link()
        try:
            reply = await link.request(request, self.options.order_timeout_s)
        except (LinkClosed, TimeoutError) as exc:
            raise AmbiguousOutcome(f"{order.client_order_id}: terminal {link.login} gave no answer: {exc}") from None
        if reply.ok:
            return _ack(order, sent, done, ticket)
        if retcodes.outcome(reply.retcode) is retcodes.Outcome.UNKNOWN:
            raise AmbiguousOutcome(f"{order.client_order_id}: {retcodes.describe(reply.retcode, reply.message)}")
        return _ack(order, sent, OrderStatus.REJECTED, ticket, retcodes.describe(reply.retcode, reply.message))

    # ------------------------------------------------------------ by position ticket
    async def close_position(self, ticket: int, lots: float = 0.0) -> Reply:
        """Close position ``ticket`` (``lots`` of it; 0: all). Sent once, like a place."""
        link = await self._link()
        try:
            reply = await link.request(
                Close(position=ticket, volume=lots, deviation=self.options.deviation_points),
                self.options.order_timeout_s,
            )
        except (LinkClosed, TimeoutError) as exc:
            raise AmbiguousOutcome(f"close of position {ticket}: terminal {link.login} gave no answer: {exc}") from None
        if not reply.ok:
            raise OrderRejected(f"close of position {ticket}: {retcodes.describe(reply.retcode, reply.message)}")
        return reply

    async def set_stops(self, ticket: int, sl: float, tp: float) -> None:
        """Stop loss and take profit of position ``ticket`` (0: none)."""
        reply = await self.ask(SlTp(position=ticket, sl=sl, tp=tp), self.options.order_timeout_s, "SL/TP")
        if not reply.ok:
            raise OrderRejected(f"SL/TP of position {ticket}: {retcodes.describe(reply.retcode, reply.message)}")

    # ------------------------------------------------------------ flatten
    async def flatten(self, symbol: str | None) -> None:
        mt_symbol = self.symbols.route(symbol).mt if symbol else ""
        request = Flatten(symbol=mt_symbol, deviation=self.options.deviation_points)
        reply = await self.ask(request, self.options.order_timeout_s, "flatten")
        if not reply.ok:
            raise (OrderRejected if retcodes.outcome(reply.retcode) is retcodes.Outcome.REFUSED else BrokerError)(
                f"flatten {symbol or 'everything'}: {retcodes.describe(reply.retcode, reply.message)}"
            )
