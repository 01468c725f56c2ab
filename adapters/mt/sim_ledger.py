"""The MetaTrader side of the stand-in: one terminal's account kept the way MetaTrader keeps it
(order tickets, deals, positions per ticket on hedging accounts or one per symbol on netting
ones, lots), over an account of the paper exchange, which does the matching.

One paper unit of a symbol is ``lots_per_unit`` lots (a CFD terminal's US500 at 0.1 lots per ES
contract, a futures terminal's ES at 1 lot). Paper events become MetaTrader rows as MT5 reports
its trade transactions: the order added, its deal, the order gone to history; a paper event
delivered twice (the duplicate fault) repeats the same deal ticket, never makes a second deal.
The trade requests on top are :mod:`adapters.mt.sim_book`.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from adapters.base import OrderRejected
from adapters.mt import retcodes
from adapters.mt.protocol import DealRow, Entry, Kind, OrderRow, OrderState, PositionRow, SideName, SymbolInfo
from adapters.simkit import PaperExchange
from copytui.instruments import instrument
from copytui.models import AccountEvent, EventKind, OrderType, Side

_PAPER_TYPES: dict[Kind, OrderType] = {
    "market": OrderType.MARKET,
    "limit": OrderType.LIMIT,
    "stop": OrderType.STOP,
    "stop_limit": OrderType.STOP_LIMIT,
}
_KIND_OF: dict[OrderType, Kind] = {v: k for k, v in _PAPER_TYPES.items()}
OPEN = ("placed", "partial")


@dataclass(frozen=True, slots=True)
class SimSymbol:
    name: str
    paper: str
    volume_min: float
    volume_max: float
    volume_step: float
    lots_per_unit: float

    def info(self) -> SymbolInfo:
        inst = instrument(self.paper)
        return SymbolInfo(
            name=self.name,
            volume_min=self.volume_min,
            volume_max=self.volume_max,
            volume_step=self.volume_step,
            tick_size=inst.tick_size,
            digits=inst.price_decimals,
            contract_size=inst.point_value,
        )


FUTURES = tuple(SimSymbol(s, s, 1.0, 100.0, 1.0, 1.0) for s in ("ES", "MES", "NQ", "MNQ", "YM", "RTY", "CL", "GC"))
"""A terminal that lists the futures themselves, one lot a contract."""
CFD = (
    SimSymbol("US500", "ES", 0.1, 50.0, 0.1, 0.1),
    SimSymbol("USTEC", "NQ", 0.1, 50.0, 0.1, 0.1),
    SimSymbol("XTIUSD", "CL", 0.1, 50.0, 0.1, 0.1),
    SimSymbol("XAUUSD", "GC", 0.1, 50.0, 0.1, 0.1),
)
"""A CFD terminal: index and commodity CFDs in tenths of a lot."""


@dataclass
class MtOrder:
    ticket: int
    symbol: SimSymbol
    side: SideName
    kind: Kind
    volume: float
    paper_id: str | None = None
    filled: float = 0.0
    price: float = 0.0
    stop: float = 0.0
    sl: float = 0.0
    tp: float = 0.0
    avg_price: float = 0.0
    magic: int = 0
    comment: str = ""
    position: int = 0
    state: OrderState = "placed"
    time_ms: int = 0
    reason: str = ""

    def row(self) -> OrderRow:
        return OrderRow(
            ticket=self.ticket,
            symbol=self.symbol.name,
            side=self.side,
            kind=self.kind,
            volume=self.volume,
            filled=self.filled,
            price=self.price,
            stop=self.stop,
            sl=self.sl,
            tp=self.tp,
            avg_price=self.avg_price,
            magic=self.magic,
            comment=self.comment,
            position=self.position,
            state=self.state,
            time_ms=self.time_ms,
            reason=self.reason,
        )


@dataclass
class MtPosition:
    ticket: int
    symbol: SimSymbol
    side: SideName
    volume: float
    price: float
    sl: float = 0.0
    tp: float = 0.0
    magic: int = 0
    comment: str = ""
    time_ms: int = 0

    def row(self) -> PositionRow:
        return PositionRow(
            ticket=self.ticket,
            symbol=self.symbol.name,
            side=self.side,
            volume=self.volume,
            price=self.price,
            sl=self.sl,
            tp=self.tp,
            magic=self.magic,
            comment=self.comment,
            time_ms=self.time_ms,
        )


@dataclass(frozen=True, slots=True)
class Result:
    retcode: int
    message: str = ""
    orders: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return retcodes.outcome(self.retcode) is retcodes.Outcome.DONE


def in_lots(x: float) -> float:
    """A volume rounded as lots are (no float dust in the books)."""
    return round(x, 8)


@dataclass
class Ledger:
    """Orders, deals and positions of one terminal over paper account ``account``."""

    exchange: PaperExchange
    account: str
    login: int
    hedging: bool = False
    symbols: tuple[SimSymbol, ...] = FUTURES
    on_order: Callable[[OrderRow], None] = lambda _row: None
    on_deal: Callable[[DealRow], None] = lambda _row: None
    on_drop: Callable[[], None] = lambda: None
    orders: dict[int, MtOrder] = field(default_factory=dict)
    deals: list[DealRow] = field(default_factory=list)
    positions: dict[int, MtPosition] = field(default_factory=dict)
    _by_paper: dict[str, MtOrder] = field(default_factory=dict)
    _deal_of_fill: dict[str, DealRow] = field(default_factory=dict)
    _sending: MtOrder | None = None
    _paper_ids: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.by_name = {s.name: s for s in self.symbols}
        self.by_paper = {s.paper: s for s in self.symbols}
        base = self.login * 1000
        self._tickets = itertools.count(base + 1)
        self._deal_tickets = itertools.count(base + 500_000_001)
        self.exchange.account(self.account)
        self._unlisten = self.exchange.listen(self.account, self._on_paper, lambda: self.on_drop())

    def detach(self) -> None:
        """Stop listening to the paper account (the stand-in is gone)."""
        self._unlisten()

    def next_ticket(self) -> int:
        return next(self._tickets)

    @staticmethod
    def now_ms() -> int:
        return time.time_ns() // 1_000_000

    # ------------------------------------------------------------ the paper exchange's events
    def _order_of(self, ev: AccountEvent) -> MtOrder | None:
        assert ev.order_id is not None
        order = self._by_paper.get(ev.order_id)
        if order is None and self._sending is not None:
            order, self._sending = self._sending, None  # the order being sent: its first event
        elif order is None and ev.symbol in self.by_paper and ev.side is not None and ev.order_type is not None:
            sym = self.by_paper[ev.symbol]  # traded on the paper account directly: a manual trade
            order = MtOrder(
                next(self._tickets),
                sym,
                ev.side.value,
                _KIND_OF[ev.order_type],
                in_lots(ev.qty * sym.lots_per_unit),
                price=ev.price or 0.0,
                stop=ev.stop_price or 0.0,
                time_ms=self.now_ms(),
            )
        if order is not None and order.paper_id is None:
            order.paper_id = ev.order_id
            self._by_paper[ev.order_id] = order
            self.orders[order.ticket] = order
        return order

    def _on_paper(self, ev: AccountEvent) -> None:
        if ev.kind is EventKind.POSITION or ev.order_id is None:
            return  # a deal says the position after it
        order = self._order_of(ev)
        if order is None:
            return
        if ev.kind is EventKind.FILL:
            self._on_fill(order, ev)
            return
        if ev.kind is EventKind.ORDER_CANCELLED:
            order.state, order.reason = "cancelled", ev.reason or ""
        elif ev.kind is EventKind.ORDER_REJECTED:
            order.state, order.reason = "rejected", ev.reason or ""
        if ev.kind is EventKind.ORDER_MODIFIED:
            order.price = (ev.price or 0.0) if order.kind in ("limit", "stop_limit") else 0.0
            order.stop = (ev.stop_price or 0.0) if order.kind in ("stop", "stop_limit") else 0.0
        self.on_order(order.row())

    def _on_fill(self, order: MtOrder, ev: AccountEvent) -> None:
        assert ev.fill_id is not None and ev.fill_price is not None
        repeat = self._deal_of_fill.get(ev.fill_id)
        if repeat is not None:
            self.on_deal(repeat)  # delivered twice: the same deal again
            return
        lots = in_lots(ev.fill_qty * order.symbol.lots_per_unit)
        order.avg_price = (order.avg_price * order.filled + ev.fill_price * lots) / (order.filled + lots)
        order.filled = in_lots(order.filled + lots)
        entry, position = self._position_after(order, lots, ev.fill_price)
        net = sum(
            (p.volume if p.side == "buy" else -p.volume) for p in self.positions.values() if p.symbol is order.symbol
        )
        paper = self.exchange.accounts[self.account].positions.get(order.symbol.paper)
        deal = DealRow(
            ticket=next(self._deal_tickets),
            order=order.ticket,
            position=position,
            symbol=order.symbol.name,
            side=order.side,
            entry=entry,
            volume=lots,
            price=ev.fill_price,
            time_ms=self.now_ms(),
            magic=order.magic,
            comment=order.comment,
            order_volume=order.volume,
            order_filled=order.filled,
            net=in_lots(net),
            net_price=paper.avg_price if paper else 0.0,
        )
        self._deal_of_fill[ev.fill_id] = deal
        self.deals.append(deal)
        self.on_deal(deal)
        order.state = "filled" if order.filled >= order.volume - 1e-9 else "partial"
        if order.state == "filled":
            self.on_order(order.row())  # the order goes to history

    def _position_after(self, order: MtOrder, lots: float, price: float) -> tuple[Entry, int]:
        """Book ``lots`` of ``order`` into the positions: (deal entry, position ticket)."""
        if self.hedging:
            if order.position:
                pos = self.positions[order.position]
                pos.volume = in_lots(pos.volume - lots)
                if pos.volume <= 0:
                    del self.positions[pos.ticket]
                return "out", order.position
            held = self.positions.get(order.ticket)
            if held is None:
                self.positions[order.ticket] = MtPosition(
                    order.ticket,
                    order.symbol,
                    order.side,
                    lots,
                    price,
                    sl=order.sl,
                    tp=order.tp,
                    magic=order.magic,
                    comment=order.comment,
                    time_ms=self.now_ms(),
                )
            else:
                held.price = (held.price * held.volume + price * lots) / (held.volume + lots)
                held.volume = in_lots(held.volume + lots)
            return "in", order.ticket
        found = next((p for p in self.positions.values() if p.symbol is order.symbol), None)
        if found is None:
            self.positions[order.ticket] = MtPosition(
                order.ticket,
                order.symbol,
                order.side,
                lots,
                price,
                sl=order.sl,
                tp=order.tp,
                magic=order.magic,
                comment=order.comment,
                time_ms=self.now_ms(),
            )
            return "in", order.ticket
        pos = found
        if pos.side == order.side:
            pos.price = (pos.price * pos.volume + price * lots) / (pos.volume + lots)
            pos.volume = in_lots(pos.volume + lots)
            return "in", pos.ticket
        if lots < pos.volume - 1e-9:
            pos.volume = in_lots(pos.volume - lots)
            return "out", pos.ticket
        if abs(lots - pos.volume) <= 1e-9:
            del self.positions[pos.ticket]
            return "out", pos.ticket
        pos.side, pos.volume, pos.price = order.side, in_lots(lots - pos.volume), price
        return "inout", pos.ticket

    # ------------------------------------------------------------ the trade server
    def send(self, order: MtOrder) -> Result:
        """One order to the paper exchange (what the trade server does with an OrderSend)."""
        sym = order.symbol
        coid = order.comment or None
        if coid is not None:  # MetaTrader does not refuse a repeated comment: neither may the stand-in
            n = 1
            while coid in self._paper_ids:
                n += 1
                coid = f"{order.comment}~{n}"
            self._paper_ids.add(coid)
        self._sending = order
        try:
            self.exchange.submit(
                self.account,
                symbol=sym.paper,
                side=Side(order.side),
                qty=round(order.volume / sym.lots_per_unit),
                order_type=_PAPER_TYPES[order.kind],
                price=order.price or None,
                stop_price=order.stop or None,
                client_order_id=coid,
            )
        except OrderRejected as exc:
            return Result(retcodes.REJECT, str(exc))  # a refused order makes nothing
        finally:
            self._sending = None
        return Result(retcodes.DONE if order.kind == "market" else retcodes.PLACED, "", (order.ticket,))

    # ------------------------------------------------------------ what the terminal lists
    def position_rows(self, symbol: str = "") -> list[PositionRow]:
        return [
            p.row() for p in sorted(self.positions.values(), key=lambda p: p.ticket) if symbol in ("", p.symbol.name)
        ]

    def pending_rows(self, symbol: str = "") -> list[OrderRow]:
        return [
            o.row()
            for o in self.orders.values()
            if o.state in OPEN and o.kind != "market" and symbol in ("", o.symbol.name)
        ]

    def deals_after(self, after_ms: int, after_ticket: int, limit: int) -> tuple[list[DealRow], bool]:
        later = sorted(
            (d for d in self.deals if (d.time_ms, d.ticket) > (after_ms, after_ticket)),
            key=lambda d: (d.time_ms, d.ticket),
        )
        return later[:limit], len(later) > limit

    def found(self, comment: str, magic: int, since_ms: int) -> list[OrderRow]:
        return [
            o.row()
            for o in sorted(self.orders.values(), key=lambda o: o.ticket)
            if o.time_ms >= since_ms and ((comment and o.comment == comment) or (magic and o.magic == magic))
        ]

    def net_lots(self, symbol: str) -> float:
        return in_lots(
            sum(
                (p.volume if p.side == "buy" else -p.volume) for p in self.positions.values() if p.symbol.name == symbol
            )
        )
