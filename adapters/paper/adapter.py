"""The in-process paper adapter: the BrokerAdapter contract over :class:`PaperExchange`.

Used by the demo, by dry runs and by tests. It goes through the same engine path a live account
does; only the transport is a function call instead of a socket.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable

from adapters.base import (
    BrokerAdapter,
    BrokerError,
    Capabilities,
    Disconnected,
    OrderRejected,
)
from adapters.kit.stream import EventStream
from adapters.kit.tasks import TaskGroup
from adapters.paper.exchange import PaperExchange, PaperOrder
from copytui.models import (
    AccountEvent,
    EventKind,
    FollowerOrder,
    OrderAck,
    OrderInfo,
    OrderStatus,
    OrderType,
    Position,
)


def _stamped(event: AccountEvent) -> AccountEvent:
    """The exchange stamps ``recv_ns`` as it delivers; events replayed by a resync are read now."""
    return event if event.recv_ns else event.model_copy(update={"recv_ns": time.perf_counter_ns()})


class PaperAdapter(BrokerAdapter):
    broker = "paper"
    capabilities = Capabilities(modify=True, brackets=False, client_ids=True, client_id_max_len=32, trailing_stops=True)

    def __init__(
        self, exchange: PaperExchange, account: str, reconnect_delay_s: float = 0.05, *, native_oco: bool = False
    ) -> None:
        super().__init__(account)
        if native_oco:  # the exchange keeps an OCO pair sent as one (place_oco); single legs stay copytui's
            self.capabilities = dataclasses.replace(self.capabilities, oco_orders=True)  # type: ignore[misc]
        self.exchange = exchange
        self.reconnect_delay_s = reconnect_delay_s
        self.stream = EventStream()
        self.tasks = TaskGroup()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unlisten: Callable[[], None] | None = None
        self._dropped = False
        self._seen_fill_seqs: set[int] = set()
        self._fill_cursor = 0
        self._working: set[str] = set()
        self.exchange.account(account)

    # ------------------------------------------------------------ session
    @property
    def process_local(self) -> bool:
        return True  # an account of this process's own paper exchange

    async def connect(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._unlisten is None:
            self._unlisten = self.exchange.listen(self.account, self._on_event, self._on_drop)
        self._working = {o.broker_order_id for o in self.exchange.open_orders(self.account)}
        self._fill_cursor = len(self.exchange.accounts[self.account].fills)
        self._seen_fill_seqs = set()
        self.health.up()

    async def disconnect(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
        self._unlisten = None
        await self.tasks.cancel_all()
        self.health.down()
        self.stream.close()

    def _on_event(self, event: AccountEvent) -> None:
        if self._dropped:
            return  # lost on the wire; recovered by the resync after reconnect
        self._track(event)
        self.stream.put(_stamped(event))

    def _track(self, event: AccountEvent) -> None:
        if event.kind is EventKind.FILL and event.fill_id and "-F" in event.fill_id:
            self._seen_fill_seqs.add(int(event.fill_id.rsplit("-F", 1)[1]))
            while self._fill_cursor + 1 in self._seen_fill_seqs:
                self._fill_cursor += 1
                self._seen_fill_seqs.discard(self._fill_cursor)
        if event.order_id:
            if event.kind in (EventKind.ORDER_NEW, EventKind.ORDER_MODIFIED):
                self._working.add(event.order_id)
            elif event.kind in (EventKind.ORDER_CANCELLED, EventKind.ORDER_REJECTED) or (
                event.kind is EventKind.FILL and event.cum_qty >= event.qty
            ):
                self._working.discard(event.order_id)

    def _on_drop(self) -> None:
        if self._dropped:
            return
        self._dropped = True
        self.health.lost("the paper exchange dropped the stream")
        # the exchange may drop us from outside the loop (a test driving it): use the loop we connected on
        self.tasks.spawn(self._reconnect(), f"paper-reconnect-{self.account}", loop=self._loop)

    async def _reconnect(self) -> None:
        """Back after a fixed short delay (an in-process exchange has nothing to back off from),
        then the resync a broker gives a new session."""
        await asyncio.sleep(self.reconnect_delay_s)
        self.exchange.flush_held(self.account)
        self._dropped = False
        self.health.reconnected()
        for ev in self._resync_events():
            self._track(ev)
            self.stream.put(ev.model_copy(update={"recv_ns": time.perf_counter_ns()}))

    def _resync_events(self) -> list[AccountEvent]:
        """What a broker's resync snapshot gives: missed fills, working orders, vanished orders."""
        events = [rec.event for rec in self.exchange.fills_after(self.account, self._fill_cursor)]
        acct = self.exchange.accounts[self.account]
        open_ids = set()
        for order in acct.orders.values():
            if not order.status.final:
                open_ids.add(order.id)
                kind = EventKind.ORDER_MODIFIED if order.version else EventKind.ORDER_NEW
                events.append(self.exchange.order_event(self.account, kind, order))
        for oid in sorted(self._working - open_ids):
            order = acct.orders[oid]
            if order.status is OrderStatus.CANCELLED:
                events.append(self.exchange.order_event(self.account, EventKind.ORDER_CANCELLED, order))
        return events

    def subscribe(self) -> AsyncIterator[AccountEvent]:
        return self.stream.events()

    # ------------------------------------------------------------- orders
    async def _wire_delay(self) -> None:
        # the order is "written" before the exchange handles it: at least one loop turn, as on any
        # wire, so a fan-out writes every follower's order before the paper exchange matches any
        latency = self.exchange.accounts[self.account].faults.latency_ms
        await asyncio.sleep(latency / 2000.0 if latency else 0)

    async def _request(
        self, order: FollowerOrder, call: Callable[[], PaperOrder], done: OrderStatus | None = None
    ) -> OrderAck:
        """One request over the paper "wire": written now, handled a loop turn (or the fault's
        latency) later, answered after the same again. A refusal is a REJECTED answer."""
        sent = time.perf_counter_ns()
        if self._dropped:
            raise Disconnected(f"paper account {self.account} is reconnecting")
        await self._wire_delay()
        try:
            po = call()
        except OrderRejected as exc:
            await self._wire_delay()
            return OrderAck(client_order_id=order.client_order_id, broker_order_id=None, status=OrderStatus.REJECTED,
                            sent_ns=sent, ack_ns=time.perf_counter_ns(), reason=str(exc))  # fmt: skip
        await self._wire_delay()
        return OrderAck(client_order_id=order.client_order_id, broker_order_id=po.id, status=done or po.status,
                        sent_ns=sent, ack_ns=time.perf_counter_ns())  # fmt: skip

    async def place(self, order: FollowerOrder) -> OrderAck:
        # the exchange's own OCO only for an account that declares it; otherwise copytui emulates it
        return await self._request(
            order, lambda: self._submit(order, order.oco_group if self.capabilities.brackets else None)
        )

    def _submit(self, order: FollowerOrder, oco_group: str | None) -> PaperOrder:
        return self.exchange.submit(
            self.account,
            symbol=order.symbol,
            side=order.side,
            qty=order.qty,
            order_type=order.order_type,
            price=order.price,
            stop_price=order.stop_price,
            tif=order.tif,
            client_order_id=order.client_order_id,
            oco_group=oco_group,
            trail=order.trail,
        )

    async def place_oco(self, first: FollowerOrder, second: FollowerOrder) -> tuple[OrderAck, OrderAck]:
        """Both legs in one request, as one exchange OCO group: refused whole when either leg is."""
        if not self.capabilities.oco_orders:
            raise BrokerError("paper places OCO pairs only with options.native_oco")
        sent = time.perf_counter_ns()
        if self._dropped:
            raise Disconnected(f"paper account {self.account} is reconnecting")
        await self._wire_delay()
        placed: list[PaperOrder] = []
        refused = ""
        for order in (first, second):
            try:
                placed.append(self._submit(order, first.oco_group))
            except OrderRejected as exc:
                refused = f"OCO pair refused: {order.client_order_id}: {exc}"
                break
        if refused:
            for po in placed:  # the exchange takes the pair whole or not at all
                self.exchange.cancel(self.account, po.id)
        await self._wire_delay()
        done = time.perf_counter_ns()
        if refused:
            return (
                OrderAck(client_order_id=first.client_order_id, broker_order_id=None, status=OrderStatus.REJECTED,
                         sent_ns=sent, ack_ns=done, reason=refused),
                OrderAck(client_order_id=second.client_order_id, broker_order_id=None, status=OrderStatus.REJECTED,
                         sent_ns=sent, ack_ns=done, reason=refused),
            )  # fmt: skip
        return (
            OrderAck(client_order_id=first.client_order_id, broker_order_id=placed[0].id, status=placed[0].status,
                     sent_ns=sent, ack_ns=done),
            OrderAck(client_order_id=second.client_order_id, broker_order_id=placed[1].id, status=placed[1].status,
                     sent_ns=sent, ack_ns=done),
        )  # fmt: skip

    def _broker_id(self, order: FollowerOrder) -> str:
        if order.broker_order_id:
            return order.broker_order_id
        target = order.target_client_order_id
        found = self.exchange.find_order(self.account, target) if target else None
        if found is None:
            raise OrderRejected(f"no order with client id {target} on {self.account}")
        return found.broker_order_id

    async def modify(self, order: FollowerOrder) -> OrderAck:
        return await self._request(
            order,
            lambda: self.exchange.modify(
                self.account, self._broker_id(order), qty=order.qty or None, price=order.price,
                stop_price=order.stop_price, trail=order.trail if order.order_type is OrderType.TRAILING_STOP else None,
            ),
        )  # fmt: skip

    async def cancel(self, order: FollowerOrder) -> OrderAck:
        return await self._request(
            order, lambda: self.exchange.cancel(self.account, self._broker_id(order)), OrderStatus.CANCELLED
        )

    # -------------------------------------------------------------- reads
    async def positions(self) -> list[Position]:
        return self.exchange.position_list(self.account)

    async def open_orders(self) -> list[OrderInfo]:
        return self.exchange.open_orders(self.account)

    async def find_order(self, client_order_id: str) -> OrderInfo | None:
        return self.exchange.find_order(self.account, client_order_id)

    async def fills_since(self, cursor: str | None) -> tuple[list[AccountEvent], str | None]:
        try:
            seq = int(cursor) if cursor else 0
        except ValueError:
            raise BrokerError(f"paper fill cursor must be a number, got {cursor!r}") from None
        records = self.exchange.fills_after(self.account, seq)
        new_cursor = str(records[-1].seq) if records else (cursor or "0")
        return [r.event for r in records], new_cursor

    async def flatten(self, symbol: str | None = None) -> None:
        await self._wire_delay()
        self.exchange.flatten(self.account, symbol)
