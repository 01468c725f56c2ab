"""The Rithmic (R|Protocol) adapter: one account of a Rithmic login, as leader or follower.

The login's session (:mod:`adapters.rithmic.session`) is shared with the user's other accounts;
this adapter subscribes its account there and turns the order notifications and PnL updates of
that account into AccountEvents (:mod:`adapters.rithmic.book`). Orders go out on the session's
order plant (:mod:`adapters.rithmic.orders`); reads are show orders, replayed executions and the
PnL snapshot (:mod:`adapters.rithmic.reads`).

At connect the account's working orders and positions are learned without events (what was there
before is not news). After a lost session comes back, in order: the executions missed meanwhile
(replayed from the last fill seen), the orders that appeared, changed or ended, the notifications
that arrived during that catch-up, then positions. ``fills_since`` replays executions after a
cursor ``"<ssboe>.<usecs>|<basket id>|<fill id>"``.

Brackets. As a leader, the legs of a bracket (330) or of orders linked with 344 carry one OCO group
in their events and open orders, read from the notifications' link fields
(:mod:`adapters.rithmic.oco_groups`). As a follower with ``options.native_oco``, a mirrored
bracket's legs are linked at Rithmic once both are working (:mod:`adapters.rithmic.oco_links`), and
the adapter declares ``Capabilities.brackets``; without it copytui keeps the OCO itself.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterator

from adapters.base import AuthFailed, BrokerError, Capabilities, HealthState
from adapters.kit.stream import EventStream
from adapters.rithmic import reads
from adapters.rithmic.book import Book
from adapters.rithmic.enums import OrderNotify
from adapters.rithmic.messages import InstrumentPnLPositionUpdate
from adapters.rithmic.oco_links import OcoLinks
from adapters.rithmic.options import RithmicOptions
from adapters.rithmic.order_messages import ExchangeOrderNotification, RithmicOrderNotification
from adapters.rithmic.orders import RithmicOrders
from adapters.rithmic.plant import Login
from adapters.rithmic.proto import Message
from adapters.rithmic.session import shared
from copytui.models import AccountEvent, OrderInfo, OrderStatus, Position

log = logging.getLogger("copytui.adapters.rithmic")

CURSOR_HELP = "a Rithmic fill cursor looks like '1767225600.000123|basket|fill', got {!r}"


class RithmicAdapter(RithmicOrders):
    broker = "rithmic"
    # user_tag's length limit is not documented: 32 lowercase alphanumerics is a conservative fit;
    # brackets: a follower's legs linked at Rithmic, with options.native_oco (see the docstring)
    capabilities = Capabilities(modify=True, brackets=False, client_ids=True, client_id_max_len=32, trailing_stops=True)

    def __init__(self, account: str, *, login: Login, account_id: str | None, options: RithmicOptions) -> None:
        super().__init__(account)
        self.login = login
        self.wanted = account_id
        self.options = options
        if options.native_oco:
            self.capabilities = dataclasses.replace(self.capabilities, brackets=True)  # type: ignore[misc]
        self.links = OcoLinks(account, self.health)
        self.overrides = options.contract_overrides()
        self.session = None
        self.account_id = None
        self.book = None
        self.stream = EventStream()
        self._identity = ""
        self._inflight = {}
        self._answered = {}
        self._prebuilt = {}
        self._held: list[tuple[Message, int]] | None = None
        self.started_s = 0
        """The gateway's clock (seconds) when this adapter's session began: fills_since(None) starts there."""
        self.resyncs = 0

    @property
    def account_key(self) -> str:
        """Rithmic's own identity of the account once connected: system, FCM, IB and account id."""
        return self._identity or f"rithmic-{self.login.system_name}-{self.wanted or self.account}"

    # ------------------------------------------------------------ session
    def keeps_oco(self, group: str) -> bool:
        """With native_oco, once Rithmic confirmed the group's link (before that, and after a failed
        link, copytui keeps the group itself)."""
        return self.capabilities.brackets and self.links.keeps(group)

    async def connect(self) -> None:
        self.health.connecting()
        session = shared(
            self.login,
            reconnect_delay_s=self.options.reconnect_delay_s,
            forced_logout_wait_s=self.options.forced_logout_wait_s,
        )
        if self.book is None:
            self.book = Book(self.account, self.wanted or "", self.health)
        self._held = []  # notifications wait until the baseline is read
        try:
            account_id = await session.attach(self.wanted, self)
            self.session, self.account_id = session, account_id
            self.book.account_id = account_id
            self._identity = f"rithmic-{self.login.system_name}-{session.fcm_id}-{session.ib_id}-{account_id}"
            order_plant = session.order
            self.started_s = (order_plant.server_time[0] if order_plant else 0) or int(time.time())
            await self._baseline()
        except AuthFailed as exc:
            self.health.down(HealthState.AUTH_FAILED, str(exc))
            await self._leave()
            raise
        except BaseException as exc:
            self.health.down(detail=str(exc))
            await self._leave()
            raise
        self._release()
        self.health.up()

    async def _baseline(self) -> None:
        session, account_id, book = self._live()
        timeout = self.options.timeout_s
        now = time.perf_counter_ns()
        book.order_rows(await reads.show_orders(session, account_id, timeout), now, news=False)
        book.position_rows(await reads.pnl_positions(session, account_id, timeout), now, news=False)

    async def _leave(self) -> None:
        session, account_id = self.session, self.account_id
        self.session = self.account_id = None
        if session is not None and account_id is not None:
            await session.detach(account_id, self)

    async def disconnect(self) -> None:
        await self.links.close()
        await self._leave()
        self._held = None
        self.health.down()
        self.stream.close()

    def subscribe(self) -> AsyncIterator[AccountEvent]:
        return self.stream.events()

    # ------------------------------------------------------------ what the session tells
    def on_message(self, msg: Message, recv_ns: int) -> None:
        if self._held is not None:
            self._held.append((msg, recv_ns))
            return
        self._apply(msg, recv_ns)

    def _apply(self, msg: Message, recv_ns: int) -> None:
        book = self.book
        if book is None:
            return
        if isinstance(msg, RithmicOrderNotification | ExchangeOrderNotification):
            if isinstance(msg, RithmicOrderNotification) and msg.notify_type == OrderNotify.LINK_ORDERS_FAILED:
                self.links.link_failed(msg)
            events = book.on_note(msg, recv_ns)
            if events and self.links.group_of:
                events = self.links.explain(events, book)
        elif isinstance(msg, InstrumentPnLPositionUpdate):
            events = book.on_position(msg, recv_ns)
        else:
            return
        if events:
            self.health.seen()
            self.stream.put_all(events)

    def _release(self) -> None:
        held, self._held = self._held or [], None
        for msg, recv_ns in held:
            self._apply(msg, recv_ns)

    def on_drop(self, why: str) -> None:
        self.health.drop(why)

    def session_lost(self, reason: str) -> None:
        if self.health.state is not HealthState.DISCONNECTED:
            self.health.lost(reason)
        if self._held is None:
            self._held = []

    def session_down(self, state: HealthState, detail: str) -> None:
        self.health.down(state, detail)

    async def session_back(self) -> None:
        """Logged in and subscribed again: catch up, then report the session up."""
        try:
            await self._catch_up()
        except BrokerError as exc:
            # the engine journals and alerts a drop: fills may be missing until fills_since finds them
            self.health.drop(f"Rithmic catch-up after reconnect failed: {exc}")
            log.warning("Rithmic %s: catch-up after reconnect failed: %s", self.account, exc)
        finally:
            self._release()
        self.resyncs += 1
        self.health.reconnected()

    async def _catch_up(self) -> None:
        session, account_id, book = self._live()
        timeout = self.options.timeout_s
        start = max((book.last_fill[0] or self.started_s) - 2, 0)
        fills = await reads.replay_fills(session, account_id, start, int(time.time()) + 60, timeout)
        now = time.perf_counter_ns()
        events: list[AccountEvent] = []
        for fill in fills:
            events += book.replayed_fill(fill, now)
        events += book.order_rows(await reads.show_orders(session, account_id, timeout), now, news=True)
        self.stream.put_all(events)
        self._release()
        positions = await reads.pnl_positions(session, account_id, timeout)
        self.stream.put_all(book.position_rows(positions, time.perf_counter_ns(), news=True))

    # ------------------------------------------------------------ reads
    async def positions(self) -> list[Position]:
        session, account_id, _ = self._live()
        rows = await reads.pnl_positions(session, account_id, self.options.timeout_s)
        return [p for r in rows if (p := reads.position_of(r, self.account)) is not None]

    async def open_orders(self) -> list[OrderInfo]:
        """The working orders, each with its OCO group as the rows link them (all rows are read
        before any is named: one leg's row may be what links the other)."""
        session, account_id, book = self._live()
        rows = await reads.show_orders(session, account_id, self.options.timeout_s)
        for row in rows:
            book.groups.learn(row)
        infos = (reads.order_info(r, self.account, oco_group=book.groups.group(r.basket_id)) for r in rows)
        return [i for i in infos if i is not None]

    async def find_order(self, client_order_id: str) -> OrderInfo | None:
        """This session's book, then the working orders, then the executions of the look-back window."""
        session, account_id, book = self._live()
        known = book.by_client_id(client_order_id)
        if known is not None:
            return known.info(self.account, book.groups.group(known.basket_id))
        timeout = self.options.timeout_s
        for row in await reads.show_orders(session, account_id, timeout):
            if row.user_tag == client_order_id:
                book.track(row)
                return reads.order_info(row, self.account, oco_group=book.groups.group(row.basket_id))
        now = int(time.time())
        fills = await reads.replay_fills(
            session, account_id, now - int(self.options.lookback_h * 3600), now + 60, timeout
        )
        mine = [f for f in fills if f.user_tag == client_order_id]
        if not mine:
            return None
        last = max(mine, key=lambda f: f.total_fill_size)
        info = reads.order_info(last, self.account, OrderStatus.FILLED)
        if info is not None and info.filled_qty < info.qty:
            info = info.model_copy(update={"status": OrderStatus.CANCELLED})  # ended with part filled
        return info

    async def fills_since(self, cursor: str | None) -> tuple[list[AccountEvent], str | None]:
        """Executions after ``cursor`` (None: this session's start), oldest first, from a replay."""
        session, account_id, _ = self._live()
        after, mark = self._cursor(cursor)
        fills = await reads.replay_fills(
            session, account_id, max(after[0] - 2, 0), int(time.time()) + 60, self.options.timeout_s
        )
        keys = [(f.basket_id, f.fill_id) for f in fills]
        if mark in keys:
            fresh = fills[keys.index(mark) + 1 :]
        else:
            fresh = [f for f in fills if (f.ssboe, f.usecs) > after]
        scratch = Book(self.account, account_id, self.health)
        now = time.perf_counter_ns()
        events = [ev for f in fresh for ev in scratch.replayed_fill(f, now)]
        if fresh:
            last = fresh[-1]
            return events, f"{last.ssboe}.{last.usecs:06d}|{last.basket_id}|{last.fill_id}"
        return events, cursor if cursor is not None else f"{after[0]}.{after[1]:06d}"

    def _cursor(self, cursor: str | None) -> tuple[tuple[int, int], tuple[str, str] | None]:
        if cursor is None:
            return (self.started_s, 0), None
        stamp, _, rest = cursor.partition("|")
        seconds, dot, micros = stamp.partition(".")
        if not dot or not seconds.isdigit() or not micros.isdigit():
            raise BrokerError(CURSOR_HELP.format(cursor))
        basket, sep, fill = rest.partition("|")
        if rest and not sep:
            raise BrokerError(CURSOR_HELP.format(cursor))
        return (int(seconds), int(micros)), ((basket, fill) if rest else None)
