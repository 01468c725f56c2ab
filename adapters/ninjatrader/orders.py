"""The order path: PLACE, CHANGE, CANCEL and flatten as order instruction files, each answered
only by NinjaTrader's files.

- ``place`` is answered by ``outgoing/<client id>.txt``: any state but REJECTED is a working order.
  A leg of a follower OCO group carries the group in OCO ID (``Capabilities.brackets``): NinjaTrader
  links the legs itself, and cancels the others when one fills or is cancelled.
  No answer within ``pickup_timeout_s``: the file is taken back from incoming/ when NinjaTrader
  never read it (not sent, :class:`Disconnected`), else the outcome is :class:`AmbiguousOutcome`
  and the engine asks ``find_order``. A client id seen before is never written again.
- ``modify`` / ``cancel`` are answered when NinjaTrader takes the file or rewrites the order's
  state file, whichever comes first; what they did arrives as ORDER_MODIFIED / ORDER_CANCELLED.
- ``flatten``: CLOSEPOSITION for each instrument this account holds and CANCEL for our other
  working orders (or FLATTENEVERYTHING, when the options say NinjaTrader runs this account alone).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from adapters.base import AmbiguousOutcome, BrokerError, Disconnected, OrderRejected
from adapters.ninjatrader.book import Change, OwnOrder, rejected_reason
from adapters.ninjatrader.contracts import ContractError
from adapters.ninjatrader.wire import NtState, WireError, fit_oco_id, instruction
from copytui.instruments import UnknownSymbol, instrument
from copytui.models import FollowerOrder, OrderAck, OrderStatus, OrderType, TimeInForce

if TYPE_CHECKING:
    from adapters.ninjatrader.client import NinjaTraderAdapter

log = logging.getLogger("copytui.adapters.ninjatrader")
_TIF = {TimeInForce.DAY: "DAY", TimeInForce.GTC: "GTC"}


def _price(symbol: str, value: float | None) -> str:
    return instrument(symbol).format_price(value) if value is not None else "0"


class OrderPath:
    def __init__(self, adapter: NinjaTraderAdapter) -> None:
        self.adapter = adapter
        self._placing: dict[str, asyncio.Future[OrderAck]] = {}
        self._answers: dict[str, asyncio.Future[None]] = {}
        self._changes: dict[str, OrderAck] = {}

    # ------------------------------------------------------------------ answers from the book
    def in_flight(self, coid: str) -> bool:
        return coid in self._placing

    def acked(self, o: OwnOrder) -> None:
        self.changed(o)

    def changed(self, o: OwnOrder) -> None:
        fut = self._answers.get(o.coid)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _answer_future(self, coid: str) -> asyncio.Future[None]:
        fut = self._answers.get(coid)
        if fut is None or fut.done():
            fut = self._answers[coid] = asyncio.get_running_loop().create_future()
        return fut

    # ------------------------------------------------------------------ place
    async def place(self, order: FollowerOrder) -> OrderAck:
        coid = order.client_order_id
        if coid in self._placing:  # the same order asked for twice at once: one file, one answer
            return await asyncio.shield(self._placing[coid])
        known = self.adapter.book.orders.get(coid)
        if known is not None:
            return self._ack(known, coid, time.perf_counter_ns())
        fut: asyncio.Future[OrderAck] = asyncio.get_running_loop().create_future()
        self._placing[coid] = fut
        try:
            ack = await self._place(order)
        except BaseException as exc:
            if isinstance(exc, Exception):
                fut.set_exception(exc)
                fut.exception()  # retrieved here: a twin caller may never look
            else:
                fut.cancel()
            raise
        else:
            fut.set_result(ack)
            return ack
        finally:
            del self._placing[coid]

    def oco_id(self, order: FollowerOrder) -> str:
        """The OCO ID of ``order``'s line: its follower OCO group, fitted (see ``fit_oco_id``); "" when
        it has none or the adapter does not declare brackets (copytui then keeps the group itself)."""
        if order.oco_group is None or not self.adapter.capabilities.brackets:
            return ""
        return fit_oco_id(order.oco_group)

    def _place_line(self, order: FollowerOrder) -> tuple[str, str]:
        adapter = self.adapter
        try:
            name = adapter.contracts.instrument(order.symbol)
        except (ContractError, UnknownSymbol) as exc:
            raise OrderRejected(f"not sent: {exc}", order.client_order_id) from None
        tif = _TIF.get(order.tif)
        if tif is None:
            raise OrderRejected(f"not sent: ATI's TIF is DAY or GTC, not {order.tif.value}", order.client_order_id)
        if order.qty <= 0:
            raise OrderRejected(f"not sent: quantity must be positive, got {order.qty}", order.client_order_id)
        kind = {
            OrderType.MARKET: "MARKET",
            OrderType.LIMIT: "LIMIT",
            OrderType.STOP: adapter.options.stop_market_type,
            OrderType.STOP_LIMIT: "STOPLIMIT",
        }[order.order_type]
        limit = order.price if order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
        stop = order.stop_price if order.order_type in (OrderType.STOP, OrderType.STOP_LIMIT) else None
        if (order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and limit is None) or (
            order.order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and stop is None
        ):
            raise OrderRejected(f"not sent: a {order.order_type.value} order needs its price", order.client_order_id)
        try:
            line = instruction(
                "PLACE", account=adapter.nt_account, instrument=name, action=order.side.value.upper(), qty=order.qty,
                order_type=kind, limit_price=_price(order.symbol, limit), stop_price=_price(order.symbol, stop),
                tif=tif, oco_id=self.oco_id(order), order_id=order.client_order_id,
            )  # fmt: skip
        except WireError as exc:
            raise OrderRejected(f"not sent: {exc}", order.client_order_id) from None
        return name, line

    async def _place(self, order: FollowerOrder) -> OrderAck:
        adapter = self.adapter
        outbox = adapter.require_open()
        coid = order.client_order_id
        name, line = self._place_line(order)
        o = OwnOrder(coid, order.symbol, name, order.side, order.order_type, order.qty, order.price, order.stop_price,
                     oco=self.oco_id(order))  # fmt: skip
        if order.order_type is OrderType.MARKET:
            o.price = o.stop_price = None
        adapter.book.add(o)
        try:
            adapter.store.record(o)  # what the state file will not say, kept before the file goes
        except OSError as exc:
            log.warning("cannot keep order %s on disk (%s): find_order after a restart will not know it", coid, exc)
        answered = self._answer_future(coid)
        file = outbox.name_for(coid, "place")
        try:
            sent = await outbox.write(file, [line])
        except OSError as exc:
            self.forget(o)
            raise Disconnected(f"not sent: cannot write {file} into {outbox.incoming}: {exc.strerror or exc}") from None
        wait_s = adapter.options.pickup_timeout_s
        try:
            await asyncio.wait_for(asyncio.shield(answered), wait_s)
        except TimeoutError:
            if outbox.take_back(file):
                self.forget(o)
                raise adapter.stalled(f"NinjaTrader did not read {file} within {wait_s:g}s") from None
            raise AmbiguousOutcome(
                f"NinjaTrader read {file} but wrote no outgoing/{coid}.txt within {wait_s:g}s; ask by client id"
            ) from None
        finally:
            self._answers.pop(coid, None)
            outbox.done(file)
        ack = self._ack(o, coid, sent)
        adapter.latency.add("answer", ack.ack_ns - sent)
        return ack

    def forget(self, o: OwnOrder) -> None:
        self.adapter.book.orders.pop(o.coid, None)
        with contextlib.suppress(OSError):
            self.adapter.store.withdraw(o.coid)

    def _ack(self, o: OwnOrder, coid: str, sent_ns: int) -> OrderAck:
        now = time.perf_counter_ns()
        if o.state is NtState.REJECTED:
            return OrderAck(client_order_id=coid, broker_order_id=None, status=OrderStatus.REJECTED, sent_ns=sent_ns,
                            ack_ns=now, reason=rejected_reason(o.coid, o.oco))  # fmt: skip
        status = o.info(self.adapter.account).status
        return OrderAck(client_order_id=coid, broker_order_id=o.coid,
                        status=OrderStatus.WORKING if status is OrderStatus.SENT else status, sent_ns=sent_ns,
                        ack_ns=now)  # fmt: skip

    # ------------------------------------------------------------------ change, cancel
    def _target(self, order: FollowerOrder) -> OwnOrder:
        target = order.broker_order_id or order.target_client_order_id or ""
        o = self.adapter.book.orders.get(target)
        if o is None:
            raise OrderRejected(
                f"not sent: {target!r} is no order copytui placed in NinjaTrader account {self.adapter.nt_account}",
                order.client_order_id,
            )
        return o

    def _refused(self, order: FollowerOrder, o: OwnOrder, why: str) -> OrderAck:
        now = time.perf_counter_ns()
        return OrderAck(client_order_id=order.client_order_id, broker_order_id=o.coid, status=OrderStatus.REJECTED,
                        sent_ns=now, ack_ns=now, reason=why)  # fmt: skip

    async def modify(self, order: FollowerOrder) -> OrderAck:
        if order.client_order_id in self._changes:
            return self._changes[order.client_order_id]
        o = self._target(order)
        if o.final:
            return self._refused(order, o, f"order {o.coid} is already {o.state.value.lower() if o.state else ''}")
        qty = order.qty or o.qty
        price = order.price if o.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
        stop = order.stop_price if o.order_type in (OrderType.STOP, OrderType.STOP_LIMIT) else None
        price, stop = price if price is not None else o.price, stop if stop is not None else o.stop_price
        line = instruction("CHANGE", qty=qty, limit_price=_price(o.symbol, price), stop_price=_price(o.symbol, stop),
                           order_id=o.coid)  # fmt: skip
        o.change = Change(qty, price, stop)
        ack = await self._send(order, o, line, "change")
        self._changes[order.client_order_id] = ack
        with contextlib.suppress(OSError):
            self.adapter.store.record(
                OwnOrder(o.coid, o.symbol, o.instrument, o.side, o.order_type, qty, price, stop, oco=o.oco)
            )
        return ack

    async def cancel(self, order: FollowerOrder) -> OrderAck:
        if order.client_order_id in self._changes:
            return self._changes[order.client_order_id]
        o = self._target(order)
        if o.state is NtState.CANCELLED:
            now = time.perf_counter_ns()
            return OrderAck(client_order_id=order.client_order_id, broker_order_id=o.coid,
                            status=OrderStatus.CANCELLED, sent_ns=now, ack_ns=now)  # fmt: skip
        if o.final:
            return self._refused(order, o, f"order {o.coid} is already {o.state.value.lower() if o.state else ''}")
        o.cancelling = True
        try:
            ack = await self._send(order, o, instruction("CANCEL", order_id=o.coid), "cancel")
        except Disconnected:
            o.cancelling = False  # taken back or never written: NinjaTrader did not read it
            raise
        self._changes[order.client_order_id] = ack
        return ack

    async def _send(self, order: FollowerOrder, o: OwnOrder, line: str, verb: str) -> OrderAck:
        outbox = self.adapter.require_open()
        answered = self._answer_future(o.coid)
        file = outbox.name_for(order.client_order_id, verb)
        try:
            sent = await outbox.write(file, [line])
        except OSError as exc:
            o.change = None
            raise Disconnected(f"not sent: cannot write {file} into {outbox.incoming}: {exc.strerror or exc}") from None
        if not await self._taken(file, answered):
            if outbox.take_back(file):
                o.change = None
                raise self.adapter.stalled(
                    f"NinjaTrader did not read {file} within {self.adapter.options.pickup_timeout_s:g}s"
                )
            raise AmbiguousOutcome(f"NinjaTrader read {file} but did not answer it; ask by client id")
        now = time.perf_counter_ns()
        self.adapter.latency.add("pickup", now - sent)
        status = OrderStatus.CANCELLED if o.state is NtState.CANCELLED else OrderStatus.WORKING
        return OrderAck(client_order_id=order.client_order_id, broker_order_id=o.coid, status=status, sent_ns=sent,
                        ack_ns=now)  # fmt: skip

    async def _taken(self, file: str, answered: asyncio.Future[None]) -> bool:
        """NinjaTrader took ``file`` or rewrote the order's state file, within the pickup timeout."""
        pickup: asyncio.Future[bool] = asyncio.ensure_future(
            self.adapter.require_open().picked_up(file, self.adapter.options.pickup_timeout_s)
        )
        waits: list[asyncio.Future[Any]] = [pickup, answered]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            return answered.done() or (pickup.done() and pickup.result())
        finally:
            pickup.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pickup

    # ------------------------------------------------------------------ flatten
    async def flatten(self, symbol: str | None = None) -> None:
        adapter = self.adapter
        outbox = adapter.require_open()
        if adapter.options.flatten_everything and symbol is None:
            lines = [instruction("FLATTENEVERYTHING")]
        else:
            held = sorted(h.instrument for h in adapter.book.held.values()
                          if h.file is not None and h.file.qty and symbol in (None, h.symbol))  # fmt: skip
            lines = [instruction("CLOSEPOSITION", account=adapter.nt_account, instrument=name) for name in held]
            lines += [
                instruction("CANCEL", order_id=o.coid)
                for o in adapter.book.orders.values()
                if o.busy and symbol in (None, o.symbol) and o.instrument not in held
            ]
        if not lines:
            return
        going = [o for o in adapter.book.orders.values() if o.busy and symbol in (None, o.symbol)]
        for o in going:  # their cancels are this flatten's, not an OCO group's
            o.cancelling = True
        file = outbox.name_for("flatten", "all" if symbol is None else symbol.lower())
        try:
            sent = await outbox.write(file, lines)
        except OSError as exc:
            why = exc.strerror or exc
            for o in going:
                o.cancelling = False
            raise Disconnected(f"flatten not sent: cannot write into {outbox.incoming}: {why}") from None
        if not await outbox.picked_up(file, adapter.options.pickup_timeout_s):
            if outbox.take_back(file):
                for o in going:
                    o.cancelling = False
                raise adapter.stalled(f"NinjaTrader did not read the flatten file {file}")
            raise BrokerError(f"flatten: cannot tell whether NinjaTrader read {file}")
        adapter.latency.add("pickup", time.perf_counter_ns() - sent)
