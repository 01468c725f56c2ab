"""The BrokerAdapter conformance suite: written once, run against every adapter and its simulator.

How to plug in a new adapter
============================
In the broker's test module (``tests/adapters/test_<broker>.py`` here, or the tests of a broker package
that lives elsewhere: ``pip install copytui[testkit]``) subclass :class:`AdapterConformance` and give it one fixture,
``venue``, that starts the broker's simulator on 127.0.0.1 over a :class:`PaperExchange`, builds the
adapter through the broker's real factory, and yields an open :class:`Venue`::

    from adapters.kit.conformance import AdapterConformance, Venue

    class TestMyBrokerConformance(AdapterConformance):
        @pytest.fixture
        async def venue(self) -> AsyncIterator[Venue]:
            exchange = PaperExchange(seed=5)
            sim = MyBrokerSimulator(exchange)
            sim.add_account("ACC1")                     # the paper account behind the adapter
            port = await sim.start("127.0.0.1", 0)

            def make() -> BrokerAdapter:                 # a fresh adapter, as the runtime makes it
                cfg = AccountConfig(name="acc1", broker="mybroker", environment="sim",
                                    host="127.0.0.1", port=port, account_id="ACC1")
                return create_adapter(cfg, AdapterContext(secret=lambda key: "test-secret"))

            async def drop() -> None:                    # break the event stream as the broker would
                sim.drop_sockets("ACC1")

            async with Venue.open(exchange, "ACC1", make, drop) as v:
                yield v
            await sim.stop()

Every test then drives ``venue.adapter`` over real sockets and checks the paper exchange behind the
simulator as the broker's ground truth: its orders, positions and duplicate submissions. Client
order ids are made with :func:`adapters.base.fit_client_id` from the adapter's capabilities, so
brokers with short or restricted ids run the same suite. Override ``symbol`` on the class to trade
another instrument; mark a test ``skip`` in the subclass only with a reason the broker documents.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from adapters.base import BrokerAdapter, fit_client_id
from adapters.paper.exchange import PaperExchange, PaperOrder
from copytui.instruments import instrument
from copytui.models import (
    AccountEvent,
    EventKind,
    FollowerOrder,
    OrderAck,
    OrderAction,
    OrderStatus,
    OrderType,
    Side,
)

WAIT_S = 5.0
_nonce = itertools.count(1)


@dataclass
class Venue:
    """An adapter connected to its simulator, the paper exchange behind it, and its event log."""

    adapter: BrokerAdapter
    exchange: PaperExchange
    account: str
    """The paper-exchange account the adapter trades (the broker's ground truth)."""
    make_adapter: Callable[[], BrokerAdapter]
    drop_stream: Callable[[], Awaitable[None] | None]
    events: list[AccountEvent] = field(default_factory=list)
    symbol: str = "ES"
    _reader: asyncio.Task[None] | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        exchange: PaperExchange,
        account: str,
        make_adapter: Callable[[], BrokerAdapter],
        drop_stream: Callable[[], Awaitable[None] | None],
        symbol: str = "ES",
    ) -> AsyncIterator[Venue]:
        adapter = make_adapter()
        await adapter.connect()
        v = cls(adapter, exchange, account, make_adapter, drop_stream, symbol=symbol)
        v._reader = asyncio.get_running_loop().create_task(v._collect(), name=f"conformance-events-{account}")
        try:
            yield v
        finally:
            await adapter.disconnect()
            v._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await v._reader

    async def _collect(self) -> None:
        async for ev in self.adapter.subscribe():
            self.events.append(ev)

    # ------------------------------------------------------------ helpers
    def coid(self, what: str) -> str:
        return fit_client_id(f"conformance-{what}-{next(_nonce)}-{id(self)}", self.adapter.capabilities)

    def order(
        self,
        coid: str,
        side: Side = Side.BUY,
        qty: int = 1,
        order_type: OrderType = OrderType.MARKET,
        price: float | None = None,
        stop_price: float | None = None,
    ) -> FollowerOrder:
        return FollowerOrder(
            follower=self.account,
            signal_id=f"sig-{coid}",
            client_order_id=coid,
            action=OrderAction.PLACE,
            symbol=self.symbol,
            side=side,
            qty=qty,
            order_type=order_type,
            price=price,
            stop_price=stop_price,
        )

    def change(
        self, action: OrderAction, target: FollowerOrder, broker_order_id: str | None, **kw: Any
    ) -> FollowerOrder:
        return target.model_copy(
            update={
                "action": action,
                "client_order_id": self.coid(action.value),
                "target_client_order_id": target.client_order_id,
                "broker_order_id": broker_order_id,
                **kw,
            }
        )

    def ticks(self, n: float) -> float:
        return n * instrument(self.symbol).tick_size

    def paper_orders(self, coid: str) -> list[PaperOrder]:
        """Orders the broker really holds for ``coid`` (simulators may suffix repeated ids)."""
        orders = self.exchange.accounts[self.account].orders.values()
        return [o for o in orders if (o.client_order_id or "").startswith(coid)]

    def paper_position(self) -> int:
        pos = self.exchange.accounts[self.account].positions.get(self.symbol)
        return pos.qty if pos else 0

    async def wait_event(
        self, what: str, pred: Callable[[AccountEvent], bool], since: int = 0, timeout: float = WAIT_S
    ) -> AccountEvent:
        async def found() -> AccountEvent:
            while True:
                for ev in self.events[since:]:
                    if pred(ev):
                        return ev
                await asyncio.sleep(0.005)

        try:
            return await asyncio.wait_for(found(), timeout)
        except TimeoutError:
            kinds = [f"{e.kind.value}:{e.client_order_id or e.order_id}" for e in self.events[since:]][-12:]
            raise AssertionError(f"no {what} event within {timeout}s; last events {kinds}") from None

    async def until(self, what: str, cond: Callable[[], Any], timeout: float = WAIT_S) -> Any:
        """Poll ``cond`` (sync or async) until it is truthy; for states no event announces."""

        async def check() -> Any:
            while True:
                got = cond()
                if inspect.isawaitable(got):
                    got = await got
                if got:
                    return got
                await asyncio.sleep(0.01)

        try:
            return await asyncio.wait_for(check(), timeout)
        except TimeoutError:
            raise AssertionError(f"{what} did not happen within {timeout}s") from None

    @staticmethod
    def of(kind: EventKind, ack: OrderAck, cum_qty: int | None = None) -> Callable[[AccountEvent], bool]:
        """Matches events of ``kind`` for the order behind ``ack`` (and, for fills, a cumulative qty)."""
        return lambda e: (
            e.kind is kind and e.order_id == ack.broker_order_id and (cum_qty is None or e.cum_qty == cum_qty)
        )

    def fills_for(self, order_id: str | None, coid: str | None, since: int = 0) -> list[AccountEvent]:
        return [
            e
            for e in self.events[since:]
            if e.kind is EventKind.FILL
            and ((order_id and e.order_id == order_id) or (coid and e.client_order_id == coid))
        ]


class AdapterConformance:
    """The BrokerAdapter contract (adapters/base.py), checked over real sockets. Subclass it and
    provide a ``venue`` fixture (see the module docstring)."""

    @pytest.fixture
    async def venue(self) -> AsyncIterator[Venue]:
        raise NotImplementedError("a conformance test module must provide a `venue` fixture")
        yield  # pragma: no cover

    async def test_connects_and_reports_health(self, venue: Venue) -> None:
        assert venue.adapter.health.connected
        assert venue.adapter.health.state == "connected"
        assert venue.adapter.broker != "abstract"

    async def test_market_order_fills_with_events_and_position(self, venue: Venue) -> None:
        coid = venue.coid("market")
        ack = await venue.adapter.place(venue.order(coid, qty=2))
        assert ack.status is not OrderStatus.REJECTED, ack.reason
        assert ack.broker_order_id and ack.client_order_id == coid and ack.sent_ns > 0
        last = await venue.wait_event("fill reaching cum_qty 2", venue.of(EventKind.FILL, ack, 2))
        assert last.symbol == venue.symbol and last.side is Side.BUY and last.fill_price is not None
        assert last.account and last.recv_ns > 0
        assert sum(e.fill_qty for e in venue.fills_for(ack.broker_order_id, None)) == 2
        await venue.wait_event("position 2", lambda e: e.kind is EventKind.POSITION and e.position == 2)
        await venue.until("positions() to report 2", lambda: _qty(venue, 2))
        assert venue.paper_position() == 2

    async def test_limit_order_rests_then_modify_and_cancel(self, venue: Venue) -> None:
        bid, _ = venue.exchange.quote(venue.symbol)
        px = bid - venue.ticks(20)
        coid = venue.coid("limit")
        order = venue.order(coid, order_type=OrderType.LIMIT, price=px)
        ack = await venue.adapter.place(order)
        assert ack.status is OrderStatus.WORKING, ack
        new = await venue.wait_event("order_new", venue.of(EventKind.ORDER_NEW, ack))
        assert new.order_type is OrderType.LIMIT and new.price == px and new.qty == 1 and new.client_order_id == coid
        opened = await venue.until("open_orders() to list it", lambda: _open(venue, coid))
        assert opened.price == px and opened.broker_order_id == ack.broker_order_id

        moved = px - venue.ticks(4)
        mod = venue.change(OrderAction.MODIFY, order, ack.broker_order_id, price=moved)
        mack = await venue.adapter.modify(mod)
        assert mack.status is not OrderStatus.REJECTED, mack.reason
        ev = await venue.wait_event("order_modified", venue.of(EventKind.ORDER_MODIFIED, ack))
        assert ev.price == moved and ev.version > new.version
        assert venue.paper_orders(coid)[0].price == moved

        cack = await venue.adapter.cancel(venue.change(OrderAction.CANCEL, order, ack.broker_order_id, qty=0))
        assert cack.status is not OrderStatus.REJECTED, cack.reason
        await venue.wait_event("order_cancelled", venue.of(EventKind.ORDER_CANCELLED, ack))
        await venue.until("open_orders() to drop it", lambda: _not_open(venue, coid))
        assert venue.paper_orders(coid)[0].status is OrderStatus.CANCELLED

    async def test_stop_order_triggers_and_fills(self, venue: Venue) -> None:
        bid, _ = venue.exchange.quote(venue.symbol)
        stop = bid - venue.ticks(8)
        coid = venue.coid("stop")
        ack = await venue.adapter.place(venue.order(coid, side=Side.SELL, order_type=OrderType.STOP, stop_price=stop))
        assert ack.status is OrderStatus.WORKING, ack
        await venue.wait_event("stop order_new", venue.of(EventKind.ORDER_NEW, ack))
        venue.exchange.set_price(venue.symbol, stop - venue.ticks(2))
        fill = await venue.wait_event("stop fill", venue.of(EventKind.FILL, ack))
        assert fill.side is Side.SELL and fill.cum_qty == 1
        await venue.until("position -1", lambda: _qty(venue, -1))

    async def test_partial_fills_carry_cumulative_quantity(self, venue: Venue) -> None:
        bid, _ = venue.exchange.quote(venue.symbol)
        px = bid - venue.ticks(10)
        coid = venue.coid("partial")
        ack = await venue.adapter.place(venue.order(coid, qty=3, order_type=OrderType.LIMIT, price=px))
        assert ack.status is OrderStatus.WORKING, ack
        paper = venue.paper_orders(coid)[0]
        venue.exchange.fill(venue.account, paper.id, 1)
        first = await venue.wait_event("first partial fill", venue.of(EventKind.FILL, ack))
        assert (first.fill_qty, first.cum_qty, first.fill_price) == (1, 1, px)
        venue.exchange.fill(venue.account, paper.id, 2)
        second = await venue.wait_event("second partial fill", venue.of(EventKind.FILL, ack, 3))
        assert second.fill_qty == 2
        info = await venue.adapter.find_order(coid)
        assert info is not None and info.filled_qty == 3 and info.status is OrderStatus.FILLED

    async def test_find_order_by_client_id(self, venue: Venue) -> None:
        coid = venue.coid("find")
        ack = await venue.adapter.place(venue.order(coid, side=Side.SELL))
        await venue.wait_event("fill", venue.of(EventKind.FILL, ack))
        info = await venue.adapter.find_order(coid)
        assert info is not None
        assert (info.broker_order_id, info.client_order_id, info.symbol) == (ack.broker_order_id, coid, venue.symbol)
        assert info.side is Side.SELL and info.filled_qty == 1 and info.avg_fill_price is not None
        assert await venue.adapter.find_order(venue.coid("never-sent")) is None

    async def test_fills_since_returns_what_came_after_the_cursor(self, venue: Venue) -> None:
        _, cursor = await venue.adapter.fills_since(None)
        acks = []
        for qty in (1, 2):
            ack = await venue.adapter.place(venue.order(venue.coid("gap"), qty=qty))
            await venue.wait_event("fill", venue.of(EventKind.FILL, ack, qty))
            acks.append(ack)
        events, after = await venue.adapter.fills_since(cursor)
        got = {(e.order_id, e.cum_qty) for e in events}
        assert got == {(acks[0].broker_order_id, 1), (acks[1].broker_order_id, 2)}
        assert all(e.kind is EventKind.FILL and e.symbol == venue.symbol for e in events)
        assert after != cursor
        again, _ = await venue.adapter.fills_since(after)
        assert again == []

    async def test_flatten_closes_positions_and_cancels_orders(self, venue: Venue) -> None:
        ack = await venue.adapter.place(venue.order(venue.coid("flat-buy"), qty=2))
        await venue.wait_event("fill", venue.of(EventKind.FILL, ack, 2))
        _, ask = venue.exchange.quote(venue.symbol)
        coid = venue.coid("flat-limit")
        far = ask + venue.ticks(40)
        await venue.adapter.place(venue.order(coid, side=Side.SELL, order_type=OrderType.LIMIT, price=far))
        await venue.until("the limit to rest", lambda: _open(venue, coid))
        await venue.adapter.flatten()
        await venue.until("positions() flat", lambda: _qty(venue, 0))
        await venue.until("no open orders", lambda: _no_open(venue))
        assert venue.paper_position() == 0
        assert not [o for o in venue.exchange.accounts[venue.account].orders.values() if not o.status.final]

    async def test_broker_reject_is_a_rejected_ack(self, venue: Venue) -> None:
        faults = venue.exchange.accounts[venue.account].faults
        faults.reject_rate = 1.0
        try:
            ack = await venue.adapter.place(venue.order(venue.coid("reject")))
        finally:
            faults.reject_rate = 0.0
        assert ack.status is OrderStatus.REJECTED
        assert ack.reason
        assert venue.paper_position() == 0

    async def test_duplicate_client_id_never_makes_a_second_order(self, venue: Venue) -> None:
        coid = venue.coid("dup")
        order = venue.order(coid)
        first = await venue.adapter.place(order)
        second = await venue.adapter.place(order)
        assert second.broker_order_id in (None, first.broker_order_id)
        racing = venue.order(venue.coid("dup-race"))
        a, b = await asyncio.gather(venue.adapter.place(racing), venue.adapter.place(racing))
        assert {a.broker_order_id, b.broker_order_id} - {None} <= {a.broker_order_id or b.broker_order_id}
        await venue.until("both fills", lambda: venue.paper_position() == 2)
        await asyncio.sleep(0.05)  # give a wrongly sent second order time to land
        assert len(venue.paper_orders(coid)) == 1
        assert len(venue.paper_orders(racing.client_order_id)) == 1
        assert venue.paper_position() == 2

    async def test_reconnect_after_dropped_stream_loses_no_fill(self, venue: Venue) -> None:
        before = venue.adapter.health.reconnects
        mark = len(venue.events)
        dropped = venue.drop_stream()
        if inspect.isawaitable(dropped):
            await dropped
        # trades that happen while the stream is down (a manual trade on the broker's platform)
        venue.exchange.submit(venue.account, symbol=venue.symbol, side=Side.BUY, qty=1)
        venue.exchange.submit(venue.account, symbol=venue.symbol, side=Side.BUY, qty=2)
        health = venue.adapter.health
        await venue.until("a reconnect", lambda: health.reconnects > before and health.connected)

        def missed() -> int:
            fills = [e for e in venue.events[mark:] if e.kind is EventKind.FILL and e.side is Side.BUY]
            by_order: dict[str | None, int] = {}
            for e in fills:
                by_order[e.order_id] = max(by_order.get(e.order_id, 0), e.cum_qty)
            return sum(by_order.values())

        await venue.until("the fills made while down to arrive", lambda: missed() >= 3)
        assert missed() == 3
        await venue.until("positions() at 3", lambda: _qty(venue, 3))
        ack = await venue.adapter.place(venue.order(venue.coid("after-reconnect"), side=Side.SELL, qty=3))
        await venue.wait_event("fill after reconnect", venue.of(EventKind.FILL, ack, 3))
        await venue.until("flat again", lambda: _qty(venue, 0))


async def _qty(venue: Venue, qty: int) -> bool:
    held = {p.symbol: p.qty for p in await venue.adapter.positions()}
    return held.get(venue.symbol, 0) == qty


async def _open(venue: Venue, coid: str) -> Any:
    return next((o for o in await venue.adapter.open_orders() if o.client_order_id == coid), None)


async def _not_open(venue: Venue, coid: str) -> bool:
    return await _open(venue, coid) is None


async def _no_open(venue: Venue) -> bool:
    return not await venue.adapter.open_orders()
