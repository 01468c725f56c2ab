"""The FIX adapter: one quickfix initiator session (FIX 4.2 / 4.4) driven from copytui's event loop.

It is put together from parts, each in a module of its own:

- :mod:`adapters.fix.session`: the account's session: logon, logout, sending; what quickfix says
  about the session goes into Health.
- :mod:`adapters.fix.hub`: the quickfix initiator the sessions of one gateway share (one reader
  thread for all of them), started with the first and stopped with the last.
- :mod:`adapters.fix.bridge`: quickfix's callbacks, on quickfix's thread: each message is copied
  out and handed to the loop, in batches.
- :mod:`adapters.fix.frames`: the messages copytui sends, each built as one string.
- :mod:`adapters.fix.inbound`: on the loop, each message from the gateway to the part it answers.
- :mod:`adapters.fix.book`: what the session has seen (orders by ClOrdID chain, fills, positions),
  and the AccountEvents each ExecutionReport means; they go on the adapter's :class:`EventStream`.
- :mod:`adapters.fix.orders`: place / modify / cancel and their first answers.
- :mod:`adapters.fix.reads`: positions, open orders and find_order, through AN / AF / H where the
  gateway takes them, from the session book where it does not.
- :mod:`adapters.fix.trailing`: native trailing stops (option ``trailing_stops``), sent and read.

Safety: an order is never resent by quickfix. Outgoing messages are not persisted and a resend
of an application message is refused in ``toApp`` (quickfix sends a gap fill instead), so an order
that did not reach the gateway is never delivered late; copytui asks for it by ClOrdID instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from adapters.base import BrokerAdapter, BrokerError, Capabilities, fit_client_id
from adapters.fix.book import SessionBook
from adapters.fix.inbound import Inbound
from adapters.fix.orders import OrderPath
from adapters.fix.reads import Reads
from adapters.fix.session import FixSession
from adapters.fix.session_config import FixAccount
from adapters.kit import EventStream
from copytui.models import (
    AccountEvent,
    FollowerOrder,
    OrderAck,
    OrderAction,
    OrderInfo,
    OrderStatus,
    Position,
    Side,
)


class FixAdapter(BrokerAdapter):
    broker = "fix"
    capabilities = Capabilities(modify=True, brackets=False, client_ids=True, client_id_max_len=32)

    def __init__(
        self,
        opts: FixAccount,
        *,
        account: str,
        data_dir: Path,
        secret: Callable[[], str | None] | None = None,
    ) -> None:
        super().__init__(account)
        self.opts = opts
        self.data_dir = data_dir
        # per account: the gateway's ClOrdID length is an option (BrokerAdapter declares a ClassVar)
        self.capabilities = Capabilities(  # type: ignore[misc]
            modify=True,
            brackets=False,
            client_ids=True,
            client_id_max_len=opts.clordid_max_len,
            order_ids_restart=True,  # OrderID (37) is unique per day and counterparty process at best
        )
        if opts.trailing_stops:  # the gateway trails the copy: the engine sends it a trail, not the leader's moves
            self.capabilities = dataclasses.replace(self.capabilities, trailing_stops=True)  # type: ignore[misc]
        self.stream = EventStream()
        self._book = SessionBook(account)
        self.session = FixSession(opts, self.health, data_dir, secret, detail=lambda: self.reads.fallback_detail())
        self.orders = OrderPath(opts, self.session, self._book)
        self.reads = Reads(opts, self.session, self._book, self.health, account)
        self.inbound = Inbound(self.session, self._book, self.orders, self.reads, self.stream)

    @property
    def account_key(self) -> str:
        """The gateway, the session (SenderCompID -> TargetCompID) and the Account (1) it carries:
        what the counterparty itself knows this account by, whatever the config calls it."""
        o = self.opts
        return f"fix-{o.host}:{o.port}-{o.sender_comp_id}-{o.target_comp_id}-{self.account}".lower()

    @property
    def bad_frames(self) -> int:
        """Messages from the gateway copytui could not use (see :attr:`FixSession.bad_frames`)."""
        return self.session.bad_frames

    @property
    def supports(self) -> dict[str, bool]:
        """Whether positions and open orders are still asked of the gateway (AN / AF)."""
        return self.reads.supports

    @property
    def refused(self) -> dict[str, str]:
        """Reads the gateway refused or never answered, with why (see :attr:`Reads.refused`)."""
        return self.reads.refused

    # ------------------------------------------------------------ session
    async def connect(self) -> None:
        if self.session.started:
            return
        await self.session.start(self.inbound.on_admin, self.inbound.on_app)
        self.reads.ask_all()

    async def disconnect(self) -> None:
        await self.session.stop()
        self.orders.close()
        await self.reads.close()
        self.health.down(detail=self.health.detail)
        self.stream.close()

    def subscribe(self) -> AsyncIterator[AccountEvent]:
        return self.stream.events()

    # ------------------------------------------------------------ orders
    async def place(self, order: FollowerOrder) -> OrderAck:
        return await self.orders.place(order)

    async def modify(self, order: FollowerOrder) -> OrderAck:
        return await self.orders.modify(order)

    async def cancel(self, order: FollowerOrder) -> OrderAck:
        return await self.orders.cancel(order)

    async def flatten(self, symbol: str | None = None) -> None:
        asking = self.reads.asking.get("positions")
        if asking is not None and not asking.done():  # a flatten is worth the wait for the gateway's positions
            await asyncio.wait([asking])
        for o in list(self._book.orders.values()):
            if o.status.final or not o.order_id or (symbol and o.symbol != symbol):
                continue
            with contextlib.suppress(BrokerError):
                await self.cancel(self._internal(OrderAction.CANCEL, o.symbol, o.side, 0, target=o.root))
        for p in await self.positions():
            if p.qty and (symbol is None or p.symbol == symbol):
                side = Side.for_delta(-p.qty)
                ref = self._book.last_price.get(p.symbol) or p.avg_price or None
                ack = await self.place(self._internal(OrderAction.PLACE, p.symbol, side, abs(p.qty), ref=ref))
                if ack.status is OrderStatus.REJECTED:
                    raise BrokerError(f"fix account {self.opts.name}: flatten {p.symbol} rejected: {ack.reason}")

    def _internal(
        self,
        action: OrderAction,
        symbol: str,
        side: Side,
        qty: int,
        *,
        target: str | None = None,
        ref: float | None = None,
    ) -> FollowerOrder:
        coid = fit_client_id(f"flatten|{self.account}|{symbol}|{action}|{time.time_ns()}", self.capabilities, "fl")
        return FollowerOrder(
            follower=self.opts.name,
            signal_id="flatten",
            client_order_id=coid,
            action=action,
            symbol=symbol,
            side=side,
            qty=qty,
            target_client_order_id=target,
            reference_price=ref,
        )

    # ------------------------------------------------------------ reads
    async def positions(self) -> list[Position]:
        return await self.reads.positions()

    async def open_orders(self) -> list[OrderInfo]:
        return await self.reads.open_orders()

    async def find_order(self, client_order_id: str) -> OrderInfo | None:
        return await self.reads.find_order(client_order_id)

    async def fills_since(self, cursor: str | None) -> tuple[list[AccountEvent], str | None]:
        """This session's fills after ``cursor``; a cursor of another adapter's life starts from the first."""
        fills = self._book.fills
        token, start = self.session.token, 0
        if cursor:
            given, _, n = cursor.partition(":")
            if given == token and n.isdigit():
                start = int(n)
        return list(fills[start:]), f"{token}:{len(fills)}"
