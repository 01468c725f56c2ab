"""The terminal's order and deal rows as copytui's AccountEvents, in contracts.

One copytui order may be several terminal orders: on a hedging account a sell against long
positions closes them ticket by ticket before it opens anything (:class:`Group`, keyed by the
client order id that every one of them carries as comment, and by its magic number when a broker
rewrites comments). Its fills are reported as one order: the first ticket's id, the cumulative
quantity over all of them.

Deals are counted once by ticket, whatever path brought them (live, replayed after a reconnect,
read back by a resync); a row that cannot be turned into contracts is refused with
``health.drop(why)``. While a reconnect's resync runs, live rows wait (:meth:`Intake.hold`), so the
fills missed while away come first, in the terminal's order.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from adapters.base import Health
from adapters.kit.stream import EventStream
from adapters.mt.protocol import DealEvent, DealRow, OrderEvent, OrderRow, PositionRow
from adapters.mt.symbols import LotProblem, Route, SymbolBook
from copytui.models import AccountEvent, EventKind, OrderType, Side

ORDER_TYPES = {
    "market": OrderType.MARKET,
    "limit": OrderType.LIMIT,
    "stop": OrderType.STOP,
    "stop_limit": OrderType.STOP_LIMIT,
}
_OPEN = ("placed", "partial")
SEEN_DEALS_KEPT = 100_000
GROUPS_KEPT = 20_000
"""Client ids (and final orders) remembered; the oldest go first (find_order asks the terminal)."""


@dataclass
class Group:
    """One copytui order and every terminal order made under its client id."""

    coid: str
    magic: int
    lots: float
    """What was asked for, in lots (0 until known)."""
    primary: int | None = None
    """The ticket copytui reports the order by: the first one made."""
    legs: dict[int, float] = field(default_factory=dict)
    """Ticket -> lots filled."""


@dataclass
class Tracked:
    """An order as last reported, to tell new from modified from gone."""

    ticket: int
    route: Route
    side: Side
    order_type: OrderType
    qty: int
    price: float | None
    stop: float | None
    state: str
    coid: str | None
    version: int = 0
    filled_lots: float = 0.0
    sl: float = 0.0
    tp: float = 0.0

    @property
    def open(self) -> bool:
        return self.state in _OPEN


def _px(value: float | None) -> float | None:
    return value or None


class Intake:
    def __init__(self, account: str, symbols: SymbolBook, stream: EventStream, health: Health) -> None:
        self.account = account
        self.symbols = symbols
        self.stream = stream
        self.health = health
        self.groups: dict[str, Group] = {}
        self._by_magic: dict[int, str] = {}
        self._group_of_ticket: dict[int, str] = {}
        self.orders: dict[int, Tracked] = {}
        self._seen: set[int] = set()
        self._seen_order: deque[int] = deque()
        self.cursor: tuple[int, int] = (0, 0)
        """(time_ms, ticket) of the latest deal read: where a resync starts."""
        self._held: list[OrderEvent | DealEvent] | None = None
        self._unrouted: set[str] = set()
        self.replayed = 0

    # ------------------------------------------------------------ ids
    def expect(self, coid: str, magic: int, lots: float) -> Group:
        """An order about to be sent: its rows are known by comment or magic from now on."""
        group = self.groups.get(coid)
        if group is None:
            group = self.groups[coid] = Group(coid, magic, lots)
            self._by_magic[magic] = coid
            if len(self.groups) > GROUPS_KEPT:
                self._forget_oldest()
        return group

    def _forget_oldest(self) -> None:
        for coid in list(self.groups)[: GROUPS_KEPT // 10]:
            old = self.groups.pop(coid)
            if self._by_magic.get(old.magic) == coid:
                del self._by_magic[old.magic]
        self._group_of_ticket = {t: c for t, c in self._group_of_ticket.items() if c in self.groups}
        final = [t for t, o in self.orders.items() if not o.open]
        for ticket in final[: max(0, len(final) - GROUPS_KEPT)]:
            del self.orders[ticket]

    def claim(self, coid: str, tickets: list[int]) -> int | None:
        """The reply named the orders a request made: the first is the order's id."""
        group = self.groups.get(coid)
        if group is None:
            return tickets[0] if tickets else None
        for t in tickets:
            self._group_of_ticket[t] = coid
        if group.primary is None and tickets:
            group.primary = tickets[0]
        return group.primary

    def group_of(self, ticket: int, comment: str, magic: int) -> Group | None:
        key = self._group_of_ticket.get(ticket)
        if key is None:
            key = comment if comment in self.groups else self._by_magic.get(magic) if magic else None
        if key is None:
            return None
        self._group_of_ticket[ticket] = key
        group = self.groups[key]
        if group.primary is None:
            group.primary = ticket
        return group

    def ticket_of(self, coid: str) -> int | None:
        group = self.groups.get(coid)
        return group.primary if group is not None else None

    # ------------------------------------------------------------ the stream
    def hold(self) -> None:
        if self._held is None:
            self._held = []

    def forget_replays(self) -> int:
        """The first session: what the terminal kept from before it is history (the engine reads
        missed fills through ``fills_since``); only what happens from now on is news."""
        held = self._held or []
        kept = [m for m in held if not m.replay]
        if self._held is not None:
            self._held = kept
        return len(held) - len(kept)

    def release(self) -> None:
        held, self._held = self._held or [], None
        for msg in held:
            self.take(msg)

    def take(self, msg: OrderEvent | DealEvent) -> None:
        """A live (or replayed) event from the terminal, now or after the resync that holds it."""
        if self._held is not None:
            self._held.append(msg)
            return
        if msg.replay:
            self.replayed += 1
        now = time.perf_counter_ns()
        events = self.order_events(msg.order) if isinstance(msg, OrderEvent) else self.deal_events(msg.deal)
        for ev in events:
            self.stream.put(ev.model_copy(update={"recv_ns": now}) if not ev.recv_ns else ev)

    def put(self, events: list[AccountEvent]) -> None:
        now = time.perf_counter_ns()
        self.stream.put_all(ev.model_copy(update={"recv_ns": now}) for ev in events)

    def _event(self, kind: EventKind, **fields: object) -> AccountEvent | None:
        try:
            return AccountEvent.model_validate(
                {"account": self.account, "kind": kind, "wall_ns": time.time_ns(), **fields}
            )
        except ValueError as exc:
            self.health.drop(f"{kind.value} refused: {exc}".replace("\n", " ")[:300])
            return None

    def _route(self, mt_symbol: str) -> Route | None:
        route = self.symbols.of_terminal(mt_symbol)
        if route is None and mt_symbol not in self._unrouted:
            self._unrouted.add(mt_symbol)  # said once per symbol: a trader may trade others beside
            self.health.drop(f"{mt_symbol} is not a symbol copytui trades (map it in options.symbols to copy it)")
        return route

    # ------------------------------------------------------------ orders
    def order_events(self, row: OrderRow) -> list[AccountEvent]:
        route = self._route(row.symbol)
        if route is None:
            return []
        group = self.group_of(row.ticket, row.comment, row.magic)
        if group is not None and group.primary != row.ticket:
            return []  # a further leg of a copytui order: its fills count, its own life does not
        try:
            qty = self.symbols.contracts(route, group.lots if group is not None and group.lots else row.volume)
        except LotProblem as exc:
            self.health.drop(f"order {row.ticket}: {exc}")
            return []
        known = self.orders.get(row.ticket)
        side = Side(row.side)
        order_type = ORDER_TYPES[row.kind]
        price = _px(row.price)
        stop = _px(row.stop)
        coid = group.coid if group is not None else (row.comment or None)
        common = dict(
            order_id=str(row.ticket),
            client_order_id=coid,
            symbol=route.symbol,
            side=side,
            order_type=order_type,
            qty=qty,
            price=price,
            stop_price=stop,
        )
        if known is None:
            known = self.orders[row.ticket] = Tracked(
                row.ticket, route, side, order_type, qty, price, stop, row.state, coid, sl=row.sl, tp=row.tp
            )
            if row.state in _OPEN:
                ev = self._event(EventKind.ORDER_NEW, **common)
                return [ev] if ev else []
        was_open = known.open
        changed = (known.qty, known.price, known.stop) != (qty, price, stop)
        known.state, known.sl, known.tp = row.state, row.sl, row.tp
        if row.state in _OPEN and was_open and changed:
            known.qty, known.price, known.stop = qty, price, stop
            known.version += 1
            ev = self._event(EventKind.ORDER_MODIFIED, **common, version=known.version)
            return [ev] if ev else []
        if was_open and row.state in ("cancelled", "expired"):
            ev = self._event(EventKind.ORDER_CANCELLED, **common, version=known.version, reason=row.state)
            return [ev] if ev else []
        if was_open and row.state == "rejected":
            ev = self._event(EventKind.ORDER_REJECTED, **common, reason=row.reason or "rejected by the trade server")
            return [ev] if ev else []
        return []

    def vanished(self, open_now: set[int]) -> list[AccountEvent]:
        """After a reconnect: orders open before that the terminal no longer lists were filled
        (their deals say so) or cancelled while copytui could not hear it."""
        out = []
        for t in self.orders.values():
            if not t.open or t.ticket in open_now:
                continue
            t.state = "filled" if self._filled_contracts(t) >= t.qty else "cancelled"
            if t.state == "cancelled":
                ev = self._event(
                    EventKind.ORDER_CANCELLED,
                    order_id=str(t.ticket),
                    client_order_id=t.coid,
                    symbol=t.route.symbol,
                    side=t.side,
                    order_type=t.order_type,
                    qty=t.qty,
                    version=t.version,
                    reason="gone from the terminal while disconnected",
                )
                if ev:
                    out.append(ev)
        return out

    def _filled_contracts(self, t: Tracked) -> int:
        group = self.groups.get(t.coid or "")
        lots = sum(group.legs.values()) if group is not None and group.primary == t.ticket else t.filled_lots
        try:
            return self.symbols.contracts(t.route, lots)
        except LotProblem:
            return 0

    # ------------------------------------------------------------ deals
    def seen(self, ticket: int) -> bool:
        return ticket in self._seen

    def _mark(self, row: DealRow) -> None:
        self._seen.add(row.ticket)
        self._seen_order.append(row.ticket)
        if len(self._seen_order) > SEEN_DEALS_KEPT:
            self._seen.discard(self._seen_order.popleft())
        self.cursor = max(self.cursor, (row.time_ms, row.ticket))

    def deal_events(self, row: DealRow) -> list[AccountEvent]:
        """A deal as it happened: a fill once per deal ticket, and the position after it."""
        if row.ticket in self._seen:
            return []
        self._mark(row)
        fill = self.fill_of(row, live=True)
        out = [fill] if fill is not None else []
        if row.net is not None:
            route = self.symbols.of_terminal(row.symbol)
            if route is not None:
                try:
                    net = self.symbols.contracts(route, abs(row.net)) * (1 if row.net >= 0 else -1)
                except LotProblem as exc:
                    self.health.drop(f"position after deal {row.ticket}: {exc}")
                else:
                    ev = self._event(
                        EventKind.POSITION,
                        symbol=route.symbol,
                        position=net,
                        avg_price=_px(row.net_price) if net else None,
                    )
                    if ev:
                        out.append(ev)
        return out

    def fill_of(
        self, row: DealRow, live: bool = False, legs: dict[str, dict[int, float]] | None = None
    ) -> AccountEvent | None:
        """The FILL event of a deal. ``live``: the groups' fill counts move on; else ``legs`` (a
        read of the history) keeps its own counts."""
        route = self._route(row.symbol)
        if route is None:
            return None
        group = self.group_of(row.order, row.comment, row.magic)
        tracked = self.orders.get(row.order)
        if group is not None:
            counts = group.legs if live or legs is None else legs.setdefault(group.coid, {})
            counts[row.order] = max(counts.get(row.order, 0.0), row.order_filled)
            cum_lots, total_lots = sum(counts.values()), group.lots
            order_id, coid = group.primary or row.order, group.coid or None
        else:
            cum_lots, total_lots = row.order_filled, row.order_volume
            order_id, coid = row.order, row.comment or None
        if live and tracked is not None:
            tracked.filled_lots = max(tracked.filled_lots, row.order_filled)
        try:
            fill_qty = self.symbols.contracts(route, row.volume)
            cum_qty = self.symbols.contracts(route, cum_lots)
            qty = max(self.symbols.contracts(route, total_lots) if total_lots else 0, cum_qty)
        except LotProblem as exc:
            self.health.drop(f"deal {row.ticket}: {exc}")
            return None
        kind = tracked.order_type if tracked is not None else OrderType.MARKET
        return self._event(
            EventKind.FILL,
            order_id=str(order_id),
            client_order_id=coid,
            symbol=route.symbol,
            side=Side(row.side),
            order_type=kind,
            qty=qty,
            fill_id=str(row.ticket),
            fill_qty=fill_qty,
            cum_qty=cum_qty,
            fill_price=row.price,
        )

    def missed(self, rows: list[DealRow], floor: tuple[int, int]) -> list[AccountEvent]:
        """A resync's deals: those never read and newer than ``floor`` (the newest deal before the
        first session), in the terminal's order; their positions follow later."""
        out = []
        for row in sorted(rows, key=lambda r: (r.time_ms, r.ticket)):
            if row.ticket in self._seen or (row.time_ms, row.ticket) <= floor:
                continue
            self._mark(row)
            ev = self.fill_of(row, live=True)
            if ev is not None:
                out.append(ev)
        return out

    def positions(self, rows: list[PositionRow]) -> dict[str, tuple[int, float]]:
        """Net contracts and average price per copytui symbol (hedged tickets net out)."""
        lots: dict[str, tuple[Route, float, float]] = {}
        for row in rows:
            route = self.symbols.of_terminal(row.symbol)
            if route is None:
                continue
            signed = row.volume if row.side == "buy" else -row.volume
            _, net, cost = lots.get(route.symbol, (route, 0.0, 0.0))
            lots[route.symbol] = (route, net + signed, cost + signed * row.price)
        out = {}
        for symbol, (route, net, cost) in lots.items():
            try:
                qty = self.symbols.contracts(route, abs(net)) * (1 if net >= 0 else -1)
            except LotProblem as exc:
                self.health.drop(f"position {symbol}: {exc}")
                continue
            out[symbol] = (qty, cost / net if qty else 0.0)
        return out

    def position_events(self, rows: list[PositionRow], symbols: set[str]) -> list[AccountEvent]:
        """POSITION events for a resync: every symbol held now, and ``symbols`` (known before) at 0 if gone."""
        held = self.positions(rows)
        out = []
        for symbol in sorted(set(held) | symbols):
            qty, avg = held.get(symbol, (0, 0.0))
            ev = self._event(EventKind.POSITION, symbol=symbol, position=qty, avg_price=avg or None)
            if ev:
                out.append(ev)
        return out
