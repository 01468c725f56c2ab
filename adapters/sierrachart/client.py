"""The Sierra Chart adapter: its DTC protocol server, JSON encoding, one TCP connection per account.

The connection (:class:`~adapters.sierrachart.link.DtcLink`) logs on, checks the trade account
and keeps the session alive; unsolicited ORDER_UPDATE and POSITION_UPDATE messages become the
account's events (:mod:`adapters.sierrachart.intake`, :mod:`adapters.sierrachart.book`); orders
go out as SUBMIT_NEW_SINGLE_ORDER with copytui's client order id as ClientOrderID
(:mod:`adapters.sierrachart.orders`). The first session learns what the account already has
without reporting it; each later one, before it is reported up, reads the historical fills, the
open orders and the positions, and reports what changed while the connection was down. What was
sent and the ServerOrderID each order got are kept in the data folder
(:mod:`adapters.sierrachart.store`): after a restart, an order that completed while copytui was
down is found by its fills, which name only the ServerOrderID. With ``options.native_oco`` a
mirrored bracket's two legs go out as one SUBMIT_NEW_OCO_ORDER (``place_oco``,
:mod:`adapters.sierrachart.oco_orders`) and Sierra Chart keeps their OCO.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from adapters.base import AuthFailed, BrokerAdapter, BrokerError, Capabilities, HealthState, fit_client_id
from adapters.kit.stream import EventStream
from adapters.kit.tasks import TaskGroup
from adapters.sierrachart import changes
from adapters.sierrachart import messages as m
from adapters.sierrachart.book import Book, OrderState
from adapters.sierrachart.intake import Intake
from adapters.sierrachart.link import DtcLink
from adapters.sierrachart.oco_orders import place_pair
from adapters.sierrachart.options import SierraChartOptions, SymbolMap, parse_contracts
from adapters.sierrachart.orders import OrderPath, order_ack
from adapters.sierrachart.store import OrderStore, store_path, tally
from adapters.sierrachart.wire import ORDER_ID_LENGTH, FrameError, Msg, status_name
from copytui.models import AccountEvent, FollowerOrder, OrderAck, OrderAction, OrderInfo, OrderStatus, Position

log = logging.getLogger("copytui.adapters.sierrachart")


class SierraChartAdapter(BrokerAdapter):
    broker = "sierrachart"
    # ClientOrderID is char[32] in DTCProtocol.h, NUL included; oco_orders with options.native_oco
    capabilities = Capabilities(modify=True, brackets=False, client_ids=True, client_id_max_len=ORDER_ID_LENGTH - 1)

    def __init__(
        self,
        account: str,
        *,
        host: str,
        port: int,
        trade_account: str | None,
        username: str | None,
        password: Callable[[], str | None],
        options: SierraChartOptions | None = None,
        data_dir: str = "",
    ) -> None:
        """``trade_account`` None: the server's only trade account; ``password`` is read at each logon, never
        kept; ``data_dir``: where what was sent is kept for the next run (none: this process only)."""
        super().__init__(account)
        self.options = opts = options or SierraChartOptions()
        if opts.native_oco:
            self.capabilities = dataclasses.replace(self.capabilities, oco_orders=True)  # type: ignore[misc]
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.symbols = SymbolMap(parse_contracts(opts.contracts) if opts.contracts else {})
        self.book = Book(account, trade_account or "", self.symbols)
        self.trade_account = trade_account
        self.stream = EventStream()
        self.tasks = TaskGroup()
        self.link: DtcLink | None = None
        self.orders: OrderPath | None = None
        self.intake: Intake | None = None
        self.data_dir = data_dir
        self.store = OrderStore(opts.fills_days * 86_400.0)
        self.session_start = 0.0
        self.resyncs = 0
        self._unknown_symbols: set[str] = set()

    # ------------------------------------------------------------ session
    @property
    def account_key(self) -> str:
        """After connect: the server's address as connected and its spelling of the trade account."""
        if self.link is None or not self.link.trade_account:
            return super().account_key
        return f"sierrachart-{self.link.peer}:{self.port}-{self.link.trade_account}"

    @property
    def bad_frames(self) -> list[str]:
        return self.intake.bad_frames if self.intake is not None else []

    async def connect(self) -> None:
        self.health.connecting()
        link = DtcLink(
            self.account, self.host, self.port, self.options, self.health,
            credentials=lambda: (self.username or "", self.password() or ""),
            trade_account=self.trade_account, on_message=self._on_message, on_up=self._on_up,
            on_down=self._on_down, on_bad_frame=self._on_bad_frame,
        )  # fmt: skip
        self.link = link
        self.orders = OrderPath(self.account, link, self.book, self.symbols, self.options, self.store)
        self.intake = Intake(self.account, self.book, self.orders, self.stream, self.health)
        self.tasks.spawn(link.run(), f"sierrachart-link-{self.account}")
        try:
            await link.first
        except BaseException as exc:
            await self.tasks.cancel_all()
            state = HealthState.AUTH_FAILED if isinstance(exc, AuthFailed) else HealthState.DISCONNECTED
            self.health.down(state, str(exc))
            raise

    async def disconnect(self) -> None:
        if self.link is not None:
            await self.link.close()
        await self.tasks.cancel_all()
        self.store.close()
        self.health.down()
        self.stream.close()

    def subscribe(self) -> AsyncIterator[AccountEvent]:
        return self.stream.events()

    def _on_message(self, msg: dict[str, Any], recv_ns: int) -> None:
        assert self.intake is not None
        self.intake.on_message(msg, recv_ns)

    def _on_bad_frame(self, why: str) -> None:
        assert self.intake is not None
        self.intake.bad_frame(why)

    def _on_down(self, why: str) -> None:
        if self.orders is not None:
            self.orders.on_down(why)

    async def _on_up(self, first: bool) -> None:
        """Before a session is reported up: learn the account (first) or resync what was missed."""
        assert self.link is not None and self.intake is not None and self.orders is not None
        self.trade_account = self.link.trade_account
        self.book.trade_account = self.trade_account or ""
        self.orders.reset()
        if first:
            self.session_start = time.time()
            self.store.open(store_path(self.data_dir, self.account_key))
        quiet, now = first, time.perf_counter_ns()
        intake = self.intake
        intake.hold()
        try:
            for f in await self._fills():
                intake.fill(f, now, quiet)
            open_ids: set[str] = set()
            for u in await self._open_updates():
                open_ids.add(u.server_id)
                intake.order(u, now, quiet)
            held = set()
            for p in await self._position_updates():
                intake.position(p, now, quiet)
                if p.qty and (root := self.symbols.to_copytui(p.symbol)):
                    held.add(root)
            if not first:
                intake.emit(self.book.ended_while_away(open_ids, now))
                intake.emit(self.book.flat_unless(held, now))
                self.resyncs += 1
        finally:
            intake.release()

    # ------------------------------------------------------------ reads
    def _valid(self, parse: Callable[[dict[str, Any]], Any], raws: list[dict[str, Any]]) -> list[Any]:
        assert self.intake is not None
        out = []
        for raw in raws:
            try:
                item = parse(raw)
            except FrameError as exc:
                self.intake.bad_frame(str(exc))
                continue
            if self.intake.mine(item.trade_account):
                out.append(item)
        return out

    async def _request(self, msg_type: int, **fields: Any) -> list[dict[str, Any]]:
        if self.link is None:
            raise BrokerError(f"Sierra Chart {self.account}: not connected")
        return await self.link.request(msg_type, {"TradeAccount": self.link.trade_account or "", **fields})

    async def _fills(self) -> list[m.HistoricalFill]:
        raws = await self._request(Msg.HISTORICAL_ORDER_FILLS_REQUEST, NumberOfDays=self.options.fills_days)
        fills: list[m.HistoricalFill] = self._valid(m.historical_fill, raws)
        return sorted(fills, key=lambda f: f.date_time)  # stable: the server's order within one second

    async def _open_updates(self) -> list[m.OrderUpdate]:
        updates: list[m.OrderUpdate] = self._valid(
            m.order_update, await self._request(Msg.OPEN_ORDERS_REQUEST, RequestAllOrders=1)
        )
        return [u for u in updates if not u.no_orders and u.server_id]

    async def _position_updates(self) -> list[m.PositionUpdate]:
        updates: list[m.PositionUpdate] = self._valid(
            m.position_update, await self._request(Msg.CURRENT_POSITIONS_REQUEST)
        )
        return [p for p in updates if not p.no_positions]

    def _scratch(self) -> Book:
        """A book for reading answers into copytui's types without touching the live one."""
        return Book(self.account, self.book.trade_account, self.symbols)

    async def positions(self) -> list[Position]:
        out = []
        for p in await self._position_updates():
            root = self.symbols.to_copytui(p.symbol)
            if root is None:
                if p.symbol not in self._unknown_symbols:
                    self._unknown_symbols.add(p.symbol)
                    log.warning(
                        "Sierra Chart %s: a position in %s, unknown to copytui, is left out", self.account, p.symbol
                    )
            elif p.qty:
                out.append(Position(account=self.account, symbol=root, qty=p.qty, avg_price=p.avg_price or 0.0))
        return out

    async def open_orders(self) -> list[OrderInfo]:
        """The server's open orders; each read before any is told, so that an OCO leg's group is
        the one its partner's update completes (as the live book names it)."""
        scratch, read = self._scratch(), []
        for u in await self._open_updates():
            try:
                scratch.on_order(u, quiet=True)
            except (FrameError, ValueError) as exc:
                log.warning("Sierra Chart %s: open order %s left out: %s", self.account, u.server_id, exc)
                continue
            read.append(scratch.orders[u.server_id])
        return [info for st in read if (info := scratch.info(st)) is not None]

    async def find_order(self, client_order_id: str) -> OrderInfo | None:
        """This connection's orders first, then the server's open orders, then an order this adapter
        sent without an answer that the fills read since show (:meth:`OrderPath.claim`), then one
        sent by this run or an earlier one that completed unseen (:meth:`_completed`)."""
        st = self.book.find(client_order_id)
        if st is not None:
            return self.book.info(st)
        for info in await self.open_orders():
            if info.client_order_id == client_order_id:
                return info
        claimed = self.orders.claim(client_order_id) if self.orders is not None else None
        if claimed is not None:
            return self.book.info(claimed)
        return await self._completed(client_order_id)

    async def _completed(self, coid: str) -> OrderInfo | None:
        """An order sent before (:class:`OrderStore`) that is neither this session's nor open: it
        completed at the server, and its fills say how much at what price. DTC's fills carry no
        ClientOrderID: its ServerOrderID is the one kept, or the one its fills point to (``claim``)."""
        sent = self.store.sent.get(coid)
        if sent is None:
            return None
        orders = tally(await self._fills(), self.symbols)
        sid = self.store.claim(coid, orders)
        if sid is None:
            return None
        filled = orders.get(sid)
        qty, avg = (filled.qty, filled.avg) if filled is not None else (0, None)
        live = self.book.orders.get(sid)
        if live is not None and live.cum > qty:  # read live after the fills were asked for
            qty, avg = live.cum, live.avg
        # not open: filled whole, or its rest cancelled; with no fill at all it was cancelled or refused,
        # or its fills are not in the history yet: not said, asked again (a guess could double it)
        status = OrderStatus.FILLED if qty >= sent.qty else OrderStatus.CANCELLED if qty else OrderStatus.UNKNOWN
        return OrderInfo(account=self.account, broker_order_id=sid, client_order_id=coid, symbol=sent.symbol,
                         side=sent.side, order_type=sent.order_type, qty=max(sent.qty, qty), filled_qty=qty,
                         avg_fill_price=avg, status=status)  # fmt: skip

    async def balance(self) -> m.Balance:
        """ACCOUNT_BALANCE_REQUEST: the trade account's cash balance as Sierra Chart reports it."""
        raws = await self._request(Msg.ACCOUNT_BALANCE_REQUEST)
        found: list[m.Balance] = self._valid(m.balance, raws)
        if not found:
            raise BrokerError(f"Sierra Chart sent no balance for {self.trade_account}")
        return found[0]

    async def fills_since(self, cursor: str | None) -> tuple[list[AccountEvent], str | None]:
        """Historical fills after ``cursor`` (None: this adapter's first connect), each with its order's
        cumulative quantity over the window read. The cursor is ``[time, [execution ids at that time]]``."""
        if cursor:
            try:
                after, seen = json.loads(cursor)
                after, seen = float(after), {str(s) for s in seen}
            except (ValueError, TypeError) as exc:
                raise BrokerError(
                    f"Sierra Chart fill cursor {cursor!r:.60} is not one of this adapter's: {exc}"
                ) from None
        else:
            # DTC's DateTime is whole seconds: the session's second, its fills already there in the cursor
            after, seen = float(int(self.session_start)), set()
        replay = self._scratch()
        replay.oco = self.book.oco  # the fills of an OCO leg carry its group, as its live events do
        for sid, st in self.book.orders.items():
            replay.orders[sid] = OrderState(sid, st.symbol, st.side, st.order_type, st.client_id, st.qty)
        events: list[AccountEvent] = []
        last, last_ids = after, set(seen)
        for f in await self._fills():
            try:
                made = replay.on_fill(f)
            except (FrameError, ValueError) as exc:
                log.warning("Sierra Chart %s: fill %s left out: %s", self.account, f.exec_id, exc)
                continue
            if f.date_time > after or (f.date_time == after and f.exec_id not in seen):
                events.extend(made)
            if f.date_time > last:
                last, last_ids = f.date_time, {f.exec_id}
            elif f.date_time == last:
                last_ids.add(f.exec_id)
        return events, json.dumps([last, sorted(last_ids)])

    # ------------------------------------------------------------ orders
    async def place(self, order: FollowerOrder) -> OrderAck:
        assert self.orders is not None, "connect() first"
        return await self.orders.place(order)

    async def place_oco(self, first: FollowerOrder, second: FollowerOrder) -> tuple[OrderAck, OrderAck]:
        """Both legs in one SUBMIT_NEW_OCO_ORDER (see :mod:`adapters.sierrachart.oco_orders`)."""
        assert self.orders is not None, "connect() first"
        return await place_pair(self.orders, first, second)

    async def _target(self, order: FollowerOrder) -> OrderState | None:
        st = self.book.orders.get(order.broker_order_id or "")
        if st is None and order.target_client_order_id:
            st = self.book.find(order.target_client_order_id)
            if st is None and (info := await self.find_order(order.target_client_order_id)) is not None:
                st = self._scratch_state(info)
        return st

    def _scratch_state(self, info: OrderInfo) -> OrderState:
        return OrderState(info.broker_order_id, info.symbol, info.side, info.order_type, info.client_order_id, info.qty)

    async def modify(self, order: FollowerOrder) -> OrderAck:
        assert self.orders is not None, "connect() first"
        st = await self._target(order)
        if st is None:
            return order_ack(
                order, OrderStatus.REJECTED, 0, None, f"no order with client id {order.target_client_order_id}"
            )
        return await changes.modify(self.orders, order, st)

    async def cancel(self, order: FollowerOrder) -> OrderAck:
        assert self.orders is not None, "connect() first"
        st = await self._target(order)
        if st is None:
            return order_ack(
                order, OrderStatus.REJECTED, 0, None, f"no order with client id {order.target_client_order_id}"
            )
        if not st.working:
            return order_ack(
                order, OrderStatus.REJECTED, 0, st.server_id, f"not sent: the order is already {status_name(st.status)}"
            )
        return await changes.cancel(self.orders, order, st)

    async def flatten(self, symbol: str | None = None) -> None:
        """Cancel the working orders, then SUBMIT_FLATTEN_POSITION_ORDER for each position (of ``symbol``, or all)."""
        assert self.orders is not None, "connect() first"
        for info in await self.open_orders():
            if symbol is None or info.symbol == symbol:
                st = self.book.orders.get(info.broker_order_id) or self._scratch_state(info)
                probe = FollowerOrder(follower=self.account, signal_id="flatten", client_order_id="flatten",
                                      action=OrderAction.CANCEL, symbol=info.symbol, side=info.side, qty=0)  # fmt: skip
                answer = await changes.cancel(self.orders, probe, st)
                if answer.status is OrderStatus.REJECTED:
                    log.warning(
                        "Sierra Chart %s: cancel of %s during flatten: %s",
                        self.account,
                        info.broker_order_id,
                        answer.reason,
                    )
        for p in await self.positions():
            if p.qty and (symbol is None or p.symbol == symbol):
                coid = fit_client_id(f"flatten-{self.account}-{p.symbol}-{time.time_ns()}", self.capabilities, "fl")
                await changes.flatten_position(self.orders, p.symbol, coid)
