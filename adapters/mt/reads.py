"""What a MetaTrader account holds, read over the bridge: positions (hedged tickets netted per
symbol), working orders, an order by client id (every terminal order made under it counted as
one), and deals after a cursor, page by page, as fills."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from adapters.base import BrokerError
from adapters.mt.bridge import TerminalLink
from adapters.mt.intake import ORDER_TYPES, Intake
from adapters.mt.options import MtOptions
from adapters.mt.protocol import DealRow, Deals, Find, OrderRow, Orders, PositionRow, Positions, Reply, Request
from adapters.mt.symbols import LotProblem, SymbolBook
from adapters.mt.wire import magic_of
from copytui.models import AccountEvent, OrderInfo, OrderStatus, Position, Side

DEALS_PAGE = 500
"""Deals asked for per request (the EA answers with `more` when there are others)."""


class Reads:
    def __init__(
        self,
        account: str,
        login: int,
        intake: Intake,
        symbols: SymbolBook,
        options: MtOptions,
        ask: Callable[[Request, float, str, TerminalLink | None], Awaitable[Reply]],
        link: Callable[[], Awaitable[TerminalLink]],
        session_start: Callable[[], tuple[int, int] | None],
    ) -> None:
        self.account, self.login = account, login
        self.intake, self.symbols, self.options = intake, symbols, options
        self._ask, self._link, self._session_start = ask, link, session_start

    async def ask(self, request: Request, timeout_s: float, what: str, link: TerminalLink | None = None) -> Reply:
        return await self._ask(request, timeout_s, what, link)

    async def tickets(self) -> list[PositionRow]:
        """The terminal's positions ticket by ticket (a hedging account may hold several per symbol)."""
        reply = await self.ask(Positions(), self.options.request_timeout_s, "positions")
        return reply.positions or []

    # ------------------------------------------------------------ reads
    async def positions(self) -> list[Position]:
        reply = await self.ask(Positions(), self.options.request_timeout_s, "positions")
        return [
            Position(account=self.account, symbol=symbol, qty=qty, avg_price=avg)
            for symbol, (qty, avg) in sorted(self.intake.positions(reply.positions or []).items())
            if qty
        ]

    async def open_orders(self) -> list[OrderInfo]:
        reply = await self.ask(Orders(), self.options.request_timeout_s, "working orders")
        out = []
        for row in reply.pending or []:
            group = self.intake.group_of(row.ticket, row.comment, row.magic)
            if group is not None and group.primary != row.ticket:
                continue
            info = self._info([row], group.coid if group is not None else (row.comment or None))
            if info is not None:
                out.append(info)
        return out

    async def find_order(self, client_order_id: str) -> OrderInfo | None:
        """By comment, or by magic number where the broker rewrote the comment; every order made
        under the id counts as one (a hedging place that closed tickets before it opened)."""
        link = await self._link()
        magic = magic_of(client_order_id)
        since = link.terminal_now_ms() - int(self.options.lookback_h * 3_600_000)
        request = Find(comment=client_order_id, magic=magic, since_ms=max(since, 0))
        reply = await self.ask(request, self.options.request_timeout_s, "find order")
        others = set(self.intake.groups) - {client_order_id}
        rows = [
            r
            for r in reply.found or []
            if r.comment == client_order_id or (r.magic == magic and r.comment not in others)
        ]
        if not rows:
            return None
        rows.sort(key=lambda r: r.ticket)
        group = self.intake.expect(client_order_id, magic, sum(r.volume for r in rows))
        self.intake.claim(client_order_id, [r.ticket for r in rows])
        info = self._info(rows, client_order_id, group.primary)
        if info is None:
            raise BrokerError(f"order {client_order_id} on terminal {self.login}: its volume is not whole contracts")
        return info

    def _info(self, rows: list[OrderRow], coid: str | None, primary: int | None = None) -> OrderInfo | None:
        """Orders made under one client id as one OrderInfo (None: not in contracts; dropped)."""
        first = rows[0]
        route = self.symbols.of_terminal(first.symbol)
        if route is None:
            return None
        filled_lots = sum(r.filled for r in rows)
        try:
            qty = self.symbols.contracts(route, sum(r.volume for r in rows))
            filled = self.symbols.contracts(route, filled_lots)
        except LotProblem as exc:
            self.intake.health.drop(f"order {first.ticket}: {exc}")
            return None
        avg = sum(r.avg_price * r.filled for r in rows) / filled_lots if filled_lots else None
        working = any(r.state in ("placed", "partial") for r in rows)
        if working:
            status = OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.WORKING
        elif filled >= qty:
            status = OrderStatus.FILLED
        elif not filled and all(r.state == "rejected" for r in rows):
            status = OrderStatus.REJECTED
        else:
            status = OrderStatus.CANCELLED
        tracked = self.intake.orders.get(first.ticket)
        return OrderInfo(
            account=self.account,
            broker_order_id=str(primary or first.ticket),
            client_order_id=coid,
            symbol=route.symbol,
            side=Side(first.side),
            order_type=tracked.order_type if tracked is not None else ORDER_TYPES[first.kind],
            qty=qty,
            filled_qty=filled,
            price=first.price or None,
            stop_price=first.stop or None,
            avg_fill_price=avg,
            status=status,
        )

    async def deals_after(self, after_ms: int, after_ticket: int, link: TerminalLink | None = None) -> list[DealRow]:
        """Every deal after (after_ms, after_ticket), page by page."""
        rows: list[DealRow] = []
        while True:
            request = Deals(after_ms=max(after_ms, 0), after_ticket=after_ticket, limit=DEALS_PAGE)
            reply = await self.ask(request, self.options.request_timeout_s, "deal history", link)
            page = reply.deals or []
            rows.extend(page)
            if not reply.more or not page:
                return rows
            after_ms, after_ticket = max((d.time_ms, d.ticket) for d in page)

    async def fills_since(self, cursor: str | None) -> tuple[list[AccountEvent], str | None]:
        """Deals after ``cursor`` ("<terminal time ms>:<deal ticket>"; None: this session's start)."""
        if cursor:
            stamp, _, ticket = cursor.partition(":")
            if not (stamp.isdigit() and ticket.isdigit()):
                raise BrokerError(f"MetaTrader fill cursor must look like '1767225600000:123456', got {cursor!r}")
            after = (int(stamp), int(ticket))
        else:
            await self._link()
            start = self._session_start()
            assert start is not None, "read before the first session"
            after = start
        rows = sorted(await self.deals_after(*after), key=lambda d: (d.time_ms, d.ticket))
        legs: dict[str, dict[int, float]] = {}
        events = [ev for row in rows if (ev := self.intake.fill_of(row, legs=legs)) is not None]
        last = (rows[-1].time_ms, rows[-1].ticket) if rows else after
        return events, f"{last[0]}:{last[1]}"
