"""The MetaTrader adapter: one MT4 or MT5 account, through the copytui EA in its terminal.

The terminal dials copytui, not the other way round (MQL sockets only connect out): ``connect()``
claims the account's login on the process's bridge listener (:mod:`adapters.mt.bridge`) and waits,
up to ``options.connect_timeout_s``, for that terminal's hello, refusing a wrong token loudly.
Then reads and orders are requests over the terminal's connection (:mod:`adapters.mt.orders`), and
its order and deal events become AccountEvents in contracts (:mod:`adapters.mt.intake`).

The EA redials by itself when the connection drops. Its next hello is a reconnect: the events it
kept unacknowledged come again, copytui reads the deals it missed since its cursor, the working
orders and the positions (a resync), delivers what it had not seen in the terminal's order, and
only then lets the held live events through and reports itself up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from adapters.base import (
    AuthFailed,
    BrokerAdapter,
    BrokerError,
    Capabilities,
    Disconnected,
    HealthState,
)
from adapters.kit.stream import EventStream
from adapters.kit.tasks import TaskGroup
from adapters.mt.bridge import BridgeServer, LinkClosed, TerminalLink
from adapters.mt.intake import Intake
from adapters.mt.options import Bridge, MtOptions
from adapters.mt.orders import OrderPath
from adapters.mt.protocol import DealEvent, OrderEvent, Orders, PositionRow, Positions
from adapters.mt.reads import Reads
from adapters.mt.symbols import SymbolBook
from copytui.models import AccountEvent, FollowerOrder, OrderAck, OrderInfo, Position

log = logging.getLogger("copytui.adapters.mt")

RESYNC_OVERLAP_MS = 2_000
"""A resync reads deals from this long before its cursor (tickets already seen are skipped)."""


class MtAdapter(BrokerAdapter):
    broker = "mt"
    # the comment holds 31 characters; some brokers cut it shorter or append to it: 24 leaves room,
    # and the magic number (from the same id) finds the order where a comment was rewritten
    capabilities = Capabilities(modify=True, brackets=False, client_ids=True, client_id_max_len=24)

    def __init__(self, account: str, bridge: Bridge, token: Callable[[], str | None], options: MtOptions) -> None:
        super().__init__(account)
        self.bridge = bridge
        self.login = bridge.login
        self.options = options
        self.expected_server = options.server
        self.heartbeat_s = options.heartbeat_s
        self._read_token = token
        self._token: str | None = None
        self.symbols = SymbolBook(options.routes())
        self.stream = EventStream()
        self.tasks = TaskGroup()
        self.intake = Intake(account, self.symbols, self.stream, self.health)
        self.orders = OrderPath(self._await_link, self.intake, self.symbols, options, lambda: self.hedging)
        self.reads = Reads(
            account,
            self.login,
            self.intake,
            self.symbols,
            options,
            self.orders.ask,
            self._await_link,
            lambda: self.session_start,
        )
        self.link: TerminalLink | None = None
        self.server: BridgeServer | None = None
        self.hedging = False
        self.terminal_server = ""
        self.session_start: tuple[int, int] | None = None
        """(time_ms, ticket) of the newest deal before the first session: older deals are history."""
        self.resyncs = 0
        self.refusals = 0
        self._settled = asyncio.Event()
        self._linked = asyncio.Event()
        self._refusal: str | None = None
        self._resync_lock = asyncio.Lock()
        self._closing = False

    @property
    def account_key(self) -> str:
        """The terminal's trade server and login, once its hello said them."""
        if self.terminal_server:
            return f"mt-{self.terminal_server}-{self.login}"
        return f"mt-{self.login}"

    # ------------------------------------------------------------ the bridge's side (Owner)
    def token(self) -> str | None:
        return self._token

    def attach(self, link: TerminalLink) -> None:
        """The terminal is in (its hello checked): hold its events until this session is in step."""
        self.link = link
        self.intake.hold()
        self.tasks.spawn(self._session(link), f"mt-session-{self.login}")

    def detach(self, link: TerminalLink, why: str) -> None:
        """The terminal's connection ended. Its events stay held: the next session's resync comes
        first, so what was missed meanwhile is delivered before them."""
        if self.link is not link:
            return
        self.link = None
        self._linked.clear()
        if not self._closing and self.health.state is not HealthState.STOPPED:
            self.health.lost(f"terminal {self.login}: {why}")

    def refused(self, why: str) -> None:
        self.refusals += 1
        self.health.drop(why)
        if not self.health.connected:
            self.health.note(why)
        if not self._settled.is_set():
            self._refusal = why
            self._settled.set()

    def dropped(self, why: str) -> None:
        self.health.drop(why)

    def gap(self) -> None:
        if self.link is not None and self.session_start is not None:
            self.tasks.spawn(self._resync_now(self.link), f"mt-gap-resync-{self.login}")

    def event(self, message: OrderEvent | DealEvent) -> None:
        self.health.seen()
        self.intake.take(message)

    # ------------------------------------------------------------ session
    async def connect(self) -> None:
        bridge, opts = self.bridge, self.options
        where = f"{bridge.host}:{bridge.port}"
        self._closing = False
        self._token = self._read_token()
        if not self._token:
            raise AuthFailed(
                f"no bridge token stored for MetaTrader account {self.account}: run `copytui accounts add "
                f"{self.account} --broker mt` and give the EA the same token"
            )
        self.health.connecting(f"waiting for terminal {self.login} to dial {where}")
        try:
            self.server = await BridgeServer.claim(bridge.host, bridge.port, self)
        except OSError as exc:
            self.health.down(detail=f"cannot listen on {where}: {exc.strerror or exc}")
            raise Disconnected(f"cannot listen on {where} for MetaTrader terminal {self.login}: {exc}") from None
        except ValueError as exc:
            raise BrokerError(f"MetaTrader account {self.account}: {exc}") from None
        try:
            async with asyncio.timeout(opts.connect_timeout_s):
                await self._settled.wait()
        except TimeoutError:
            await self._give_up(HealthState.DISCONNECTED)
            raise Disconnected(
                f"no MetaTrader terminal with login {self.login} dialed {where} within {opts.connect_timeout_s:g}s: "
                f"is the copytui EA on a chart of that terminal, with {bridge.host} allowed under Tools > Options "
                "> Expert Advisors?"
            ) from None
        if self._refusal is not None:
            why, self._refusal = self._refusal, None
            await self._give_up(HealthState.AUTH_FAILED)
            raise AuthFailed(f"MetaTrader account {self.account}: {why}")

    async def _give_up(self, state: HealthState) -> None:
        self._settled.clear()
        if self.server is not None:
            await self.server.release(self)
            self.server = None
        self.health.down(state, self.health.detail)

    async def _session(self, link: TerminalLink) -> None:
        """A new connection: learn the terminal, then be in step with it before events flow."""
        hello = link.hello
        first = self.session_start is None
        self.terminal_server, self.hedging = hello.server, hello.mode == "hedging"
        notes = self.symbols.learn(hello.symbols)
        if not hello.trade_allowed:
            notes.append("Algo Trading is off in the terminal: its orders will be refused (10027)")
        for note in notes:
            log.warning("MetaTrader %s (%s): %s", self.account, self.login, note)
        try:
            if first:
                await self._baseline(link)
                self.session_start = self.intake.cursor = (hello.last_deal_ms, hello.last_deal)
            else:
                await self._resync(link)
        except (BrokerError, LinkClosed) as exc:  # the events stay held for the next session
            log.warning("MetaTrader %s: session start failed: %s", self.account, exc)
            link.close(f"session start failed: {exc}")
            return
        self.intake.release()
        detail = f"{hello.platform} {hello.server} login {hello.login} ({hello.mode})"
        detail += "".join(f"; {n}" for n in notes)
        self._linked.set()
        if self._settled.is_set():
            self.health.reconnected()
            self.health.note(detail)
        else:  # connect() is waiting for this
            self.health.up(detail)
            self._settled.set()

    async def _baseline(self, link: TerminalLink) -> None:
        """What the account holds at the start is history: known, never reported as news."""
        reply = await self.orders.ask(Orders(), self.options.request_timeout_s, "working orders", link)
        for row in reply.pending or []:
            self.intake.order_events(row)
        if forgotten := self.intake.forget_replays():
            log.info("MetaTrader %s: %d events from before this session are history", self.account, forgotten)

    async def _resync_now(self, link: TerminalLink) -> None:
        """A line was lost on a live connection: read back what it may have said."""
        self.intake.hold()
        try:
            await self._resync(link)
        except (BrokerError, LinkClosed) as exc:
            log.warning("MetaTrader %s: resync after a lost line failed: %s", self.account, exc)
            if link is not self.link or link.closed.is_set():
                return  # held for the next session, whose resync comes first
        self.intake.release()

    async def _resync(self, link: TerminalLink) -> None:
        """Missed deals in order, then working orders (new, changed, gone), then positions."""
        async with self._resync_lock:
            assert self.session_start is not None
            since = max(self.intake.cursor[0] - RESYNC_OVERLAP_MS, self.session_start[0])
            timeout_s = self.options.request_timeout_s
            events = self.intake.missed(await self.reads.deals_after(since, 0, link), self.session_start)
            pending = (await self.orders.ask(Orders(), timeout_s, "resync", link)).pending or []
            for row in pending:
                events.extend(self.intake.order_events(row))
            events.extend(self.intake.vanished({row.ticket for row in pending}))
            held = (await self.orders.ask(Positions(), timeout_s, "resync", link)).positions or []
            known = {ev.symbol for ev in events if ev.symbol} | {t.route.symbol for t in self.intake.orders.values()}
            events.extend(self.intake.position_events(held, known))
            self.intake.put(events)
            self.resyncs += 1

    async def disconnect(self) -> None:
        self._closing = True
        if self.server is not None:
            await self.server.release(self)
            self.server = None
        await self.tasks.cancel_all()
        self.link = None
        self._settled.clear()
        self._linked.clear()
        self.intake.release()
        self.health.down()
        self.stream.close()

    def subscribe(self) -> AsyncIterator[AccountEvent]:
        return self.stream.events()

    def _require_link(self) -> TerminalLink:
        link = self.link
        if link is None or link.closed.is_set() or not self._linked.is_set():
            raise Disconnected(f"MetaTrader terminal {self.login} is not connected ({self.health.detail})")
        return link

    async def _await_link(self) -> TerminalLink:
        """The terminal's link; while it redials, up to ``options.reconnect_wait_s`` for it to be back."""
        if not self._linked.is_set() and self.health.state is HealthState.RECONNECTING:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.options.reconnect_wait_s):
                    await self._linked.wait()
        return self._require_link()

    # ------------------------------------------------------------ orders
    async def place(self, order: FollowerOrder) -> OrderAck:
        return await self.orders.place(order)

    async def modify(self, order: FollowerOrder) -> OrderAck:
        return await self.orders.modify(order)

    async def cancel(self, order: FollowerOrder) -> OrderAck:
        return await self.orders.cancel(order)

    async def flatten(self, symbol: str | None = None) -> None:
        await self.orders.flatten(symbol)

    # MetaTrader's own, beside the contract: by position ticket (tickets from ``tickets()``)
    async def close_position(self, ticket: int, qty: int | None = None) -> None:
        """Close position ``ticket``: ``qty`` contracts of it (a partial close), or all of it."""
        lots = 0.0
        if qty:
            row = next((p for p in await self.tickets() if p.ticket == ticket), None)
            route = self.symbols.of_terminal(row.symbol) if row is not None else None
            if row is None or route is None:
                raise BrokerError(f"terminal {self.login} holds no position {ticket} in a symbol copytui trades")
            lots = round(qty * route.lots_per_contract, 8)
        await self.orders.close_position(ticket, lots)

    async def set_stops(self, ticket: int, sl: float | None = None, tp: float | None = None) -> None:
        """Stop loss and take profit of position ``ticket``, in the terminal symbol's prices (None: none)."""
        await self.orders.set_stops(ticket, sl or 0.0, tp or 0.0)

    # ------------------------------------------------------------ reads
    async def tickets(self) -> list[PositionRow]:
        """The terminal's positions ticket by ticket (a hedging account may hold several per symbol)."""
        return await self.reads.tickets()

    async def positions(self) -> list[Position]:
        return await self.reads.positions()

    async def open_orders(self) -> list[OrderInfo]:
        return await self.reads.open_orders()

    async def find_order(self, client_order_id: str) -> OrderInfo | None:
        return await self.reads.find_order(client_order_id)

    async def fills_since(self, cursor: str | None) -> tuple[list[AccountEvent], str | None]:
        return await self.reads.fills_since(cursor)
