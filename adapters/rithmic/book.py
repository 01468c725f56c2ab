"""One account's orders as the notifications tell them, and the AccountEvents they make.

Rithmic tells an order's life twice: RithmicOrderNotification (351: received, open or trigger
pending, modified, complete with a reason) and ExchangeOrderNotification (352: status, modify,
cancel, trigger, fill, reject). Each event is made once, from whichever notification comes first:

- ORDER_NEW: 351 OPEN or TRIGGER_PENDING, or 352 STATUS "open";
- ORDER_MODIFIED: 351 MODIFIED or 352 MODIFY that changes quantity or prices and is not older
  (``ssboe``/``usecs``) than the last one applied; the version grows by one each time;
- ORDER_CANCELLED / ORDER_REJECTED: 352 CANCEL / REJECT, or 351 COMPLETE (its reason or status
  saying reject, else cancel unless the order is filled);
- FILL: 352 FILL only, once per (basket id, fill id), with the cumulative quantity Rithmic says
  (``total_fill_size``) so a reordered fill still carries the right total.

Order events carry the order's OCO group as the notifications link it (a bracket's legs, orders
linked with 344; see :mod:`adapters.rithmic.oco_groups`).

A notification this account cannot use (no basket id, an unknown side) is refused with
``health.drop``; one for a product copytui does not trade is skipped (logged once per contract).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from adapters.base import Health
from adapters.rithmic.contracts import symbol_of
from adapters.rithmic.enums import ExchangeNotify, NotifiedTransactionType, OrderNotify, PriceType
from adapters.rithmic.messages import InstrumentPnLPositionUpdate
from adapters.rithmic.oco_groups import OcoGroups
from adapters.rithmic.order_messages import ExchangeOrderNotification, RithmicOrderNotification
from adapters.rithmic.trailing import read_type, trail_of
from copytui.models import AccountEvent, EventKind, OrderInfo, OrderStatus, OrderType, Side

log = logging.getLogger("copytui.adapters.rithmic")

Note = RithmicOrderNotification | ExchangeOrderNotification

SIDES: dict[int, Side] = {
    NotifiedTransactionType.BUY: Side.BUY,
    NotifiedTransactionType.SELL: Side.SELL,
    NotifiedTransactionType.SS: Side.SELL,
}
TYPES: dict[int, OrderType] = {
    PriceType.LIMIT: OrderType.LIMIT,
    PriceType.MARKET: OrderType.MARKET,
    PriceType.STOP_LIMIT: OrderType.STOP_LIMIT,
    PriceType.STOP_MARKET: OrderType.STOP,
}
_OPENING = (OrderNotify.OPEN, OrderNotify.TRIGGER_PENDING)
_DONE_WORDS = ("complete", "cancel", "reject", "fill")


@dataclass(slots=True)
class Tracked:
    basket_id: str
    user_tag: str | None
    symbol: str
    side: Side
    order_type: OrderType
    qty: int
    price: float | None
    stop_price: float | None
    filled: int = 0
    avg_fill_price: float | None = None
    status: OrderStatus = OrderStatus.PENDING
    version: int = 0
    changed_at: tuple[int, int] = (0, 0)
    announced: bool = False
    contract: str = ""
    """The order's Rithmic symbol and exchange (what a modify must repeat)."""
    exchange: str = ""
    trail: float | None = None

    def info(self, account: str, oco_group: str | None = None) -> OrderInfo:
        return OrderInfo(
            account=account,
            broker_order_id=self.basket_id,
            client_order_id=self.user_tag,
            symbol=self.symbol,
            side=self.side,
            order_type=self.order_type,
            qty=self.qty,
            filled_qty=self.filled,
            price=self.price,
            stop_price=self.stop_price,
            trail=self.trail,
            avg_fill_price=self.avg_fill_price,
            status=self.status,
            oco_group=oco_group,
        )


def prices(order_type: OrderType, price: float, trigger: float) -> tuple[float | None, float | None]:
    """(limit price, stop price) as copytui holds them: only those the order type uses."""
    limit = price if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
    stop = trigger if order_type in (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP) else None
    return limit, stop


def stamp_ns(ssboe: int, usecs: int) -> int:
    return max(0, ssboe) * 1_000_000_000 + max(0, usecs) * 1_000


def looks_done(status: str) -> bool:
    text = status.lower()
    return any(word in text for word in _DONE_WORDS)


class Book:
    def __init__(self, account: str, account_id: str, health: Health) -> None:
        self.account = account
        """copytui's name of the account: what its events carry."""
        self.account_id = account_id
        self.health = health
        self.orders: dict[str, Tracked] = {}
        self.by_tag: dict[str, str] = {}
        self.fills_seen: set[tuple[str, str]] = set()
        self.last_fill: tuple[int, int] = (0, 0)
        self.positions: dict[str, tuple[int, float]] = {}
        self.foreign: set[str] = set()
        self.groups = OcoGroups()

    # ------------------------------------------------------------ reading a note
    def _foreign(self, contract: str) -> None:
        if contract not in self.foreign:
            self.foreign.add(contract)
            log.info(
                "Rithmic %s: %s is not a contract copytui trades; its notifications are skipped", self.account, contract
            )

    def track(self, note: Note) -> Tracked | None:
        """The order a notification is about, learned from it if new; None (and why) if unusable."""
        if not note.basket_id:
            self.health.drop(f"Rithmic {type(note).__name__} without basket_id")
            return None
        self.groups.learn(note)
        known = self.orders.get(note.basket_id)
        ticks = note.trail_by_ticks if isinstance(note, ExchangeOrderNotification) else 0
        if known is not None:
            if ticks and known.order_type is OrderType.STOP:  # a 351 told it first, as a plain stop
                known.order_type, known.trail = read_type(known.symbol, known.order_type, ticks)
            if note.user_tag and not known.user_tag:
                known.user_tag = note.user_tag
                self.by_tag.setdefault(note.user_tag, known.basket_id)
            return known
        symbol = symbol_of(note.symbol, note.exchange)
        if symbol is None:
            self._foreign(f"{note.symbol}.{note.exchange}")
            return None
        side = SIDES.get(note.transaction_type)
        order_type = TYPES.get(note.price_type)
        if side is None or order_type is None:
            self.health.drop(
                f"Rithmic order {note.basket_id}: transaction_type {note.transaction_type} / "
                f"price_type {note.price_type} is not one copytui reads"
            )
            return None
        order_type, trail = read_type(symbol, order_type, ticks)
        limit, stop = prices(order_type, note.price, note.trigger_price)
        tracked = Tracked(
            note.basket_id,
            note.user_tag or None,
            symbol,
            side,
            order_type,
            note.quantity,
            limit,
            stop,
            contract=note.symbol,
            exchange=note.exchange,
            trail=trail,
        )
        self.orders[note.basket_id] = tracked
        if note.user_tag:  # the first order keeps its tag (a bracket's legs may repeat their entry's)
            self.by_tag.setdefault(note.user_tag, note.basket_id)
        return tracked

    def learn(self, tracked: Tracked) -> Tracked:
        """An order copytui placed, known from its answer before any notification."""
        known = self.orders.setdefault(tracked.basket_id, tracked)
        if tracked.user_tag:
            self.by_tag[tracked.user_tag] = tracked.basket_id
            known.user_tag = known.user_tag or tracked.user_tag
        return known

    def by_client_id(self, client_order_id: str) -> Tracked | None:
        basket = self.by_tag.get(client_order_id)
        return self.orders.get(basket) if basket else None

    # ------------------------------------------------------------ events
    def _event(self, kind: EventKind, t: Tracked, note: Note | None, recv_ns: int, **kw: Any) -> AccountEvent | None:
        try:
            return AccountEvent(
                account=self.account,
                kind=kind,
                order_id=t.basket_id,
                client_order_id=t.user_tag,
                symbol=t.symbol,
                side=t.side,
                order_type=t.order_type,
                qty=t.qty,
                price=t.price,
                stop_price=t.stop_price,
                trail=t.trail,
                version=t.version,
                cum_qty=t.filled,
                oco_group=self.groups.group(t.basket_id),
                wall_ns=stamp_ns(note.ssboe, note.usecs) if note is not None else 0,
                recv_ns=recv_ns,
                **kw,
            )
        except ValidationError as exc:
            self.health.drop(f"Rithmic order {t.basket_id}: {exc.errors()[0]['msg']}")
            return None

    def on_note(self, note: Note, recv_ns: int) -> list[AccountEvent]:
        """The events one live notification makes (none for most)."""
        if note.is_snapshot:
            return []  # a snapshot row nobody asked for any more (its request timed out)
        t = self.track(note)
        if t is None:
            return []
        if isinstance(note, ExchangeOrderNotification):
            kind = note.notify_type
            if kind == ExchangeNotify.FILL:
                return self._fill(t, note, recv_ns)
            if kind == ExchangeNotify.REJECT:
                return self._end(t, OrderStatus.REJECTED, note, recv_ns)
            if kind == ExchangeNotify.CANCEL:
                return self._end(t, OrderStatus.CANCELLED, note, recv_ns)
            if kind == ExchangeNotify.MODIFY:
                return self._modified(t, note, recv_ns)
            if kind == ExchangeNotify.STATUS and note.status.lower() == "open":
                return self._opened(t, note, recv_ns)
            return []
        kind = note.notify_type
        if kind in _OPENING:
            return self._opened(t, note, recv_ns)
        if kind == OrderNotify.MODIFIED:
            return self._modified(t, note, recv_ns)
        if kind == OrderNotify.COMPLETE:
            said = f"{note.status} {note.completion_reason} {note.text}".lower()
            if "reject" in said:
                return self._end(t, OrderStatus.REJECTED, note, recv_ns)
            filled = "fill" in note.completion_reason.lower() or 0 < note.quantity <= note.total_fill_size
            if filled or 0 < t.qty <= t.filled:
                if not t.status.final:
                    t.status = OrderStatus.FILLED
                return []
            return self._end(t, OrderStatus.CANCELLED, note, recv_ns)
        return []

    def _opened(self, t: Tracked, note: Note, recv_ns: int) -> list[AccountEvent]:
        if t.announced or t.status.final:
            return []
        t.announced = True
        if t.status is OrderStatus.PENDING:
            t.status = OrderStatus.WORKING
        ev = self._event(EventKind.ORDER_NEW, t, note, recv_ns)
        return [ev] if ev else []

    def _modified(self, t: Tracked, note: Note, recv_ns: int) -> list[AccountEvent]:
        when = (note.ssboe, note.usecs)
        if t.status.final or when < t.changed_at:
            return []  # the order is done, or this change is older than one applied already
        limit, stop = prices(t.order_type, note.price, note.trigger_price)
        qty = note.quantity or t.qty
        ticks = note.trail_by_ticks if isinstance(note, ExchangeOrderNotification) and t.trail else 0
        trail = trail_of(t.symbol, ticks) or t.trail  # a 351 says no trail: the order keeps its own
        if (qty, limit, stop, trail) == (t.qty, t.price, t.stop_price, t.trail):
            return []  # the same change told twice (351 and 352, or a duplicate)
        t.qty, t.price, t.stop_price, t.trail = qty, limit, stop, trail
        t.version += 1
        t.changed_at = when
        t.announced = True
        ev = self._event(EventKind.ORDER_MODIFIED, t, note, recv_ns)
        return [ev] if ev else []

    def _end(
        self, t: Tracked, status: OrderStatus, note: Note | None, recv_ns: int, why: str = ""
    ) -> list[AccountEvent]:
        if t.status.final:
            return []
        t.status = status
        if note is not None:
            why = " ".join(w for w in (note.text, note.report_text, getattr(note, "completion_reason", "")) if w)
        kind = EventKind.ORDER_REJECTED if status is OrderStatus.REJECTED else EventKind.ORDER_CANCELLED
        ev = self._event(kind, t, note, recv_ns, reason=why or status.value)
        return [ev] if ev else []

    def _fill(self, t: Tracked, note: ExchangeOrderNotification, recv_ns: int) -> list[AccountEvent]:
        if not note.fill_id or note.fill_size <= 0:
            self.health.drop(f"Rithmic fill of order {t.basket_id} without fill_id or fill_size")
            return []
        key = (t.basket_id, note.fill_id)
        if key in self.fills_seen:
            return []
        self.fills_seen.add(key)
        self.last_fill = max(self.last_fill, (note.ssboe, note.usecs))
        cum = note.total_fill_size if note.total_fill_size >= note.fill_size else t.filled + note.fill_size
        if cum > t.filled:
            t.filled = cum
            t.avg_fill_price = note.avg_fill_price or note.fill_price
        if not t.status.final:
            t.status = OrderStatus.FILLED if 0 < t.qty <= t.filled else OrderStatus.PARTIALLY_FILLED
        ev = self._event(
            EventKind.FILL,
            t,
            note,
            recv_ns,
            fill_id=note.fill_id,
            fill_qty=note.fill_size,
            fill_price=note.fill_price,
            avg_price=note.avg_fill_price or None,
        )
        if ev is None:
            return []
        return [ev.model_copy(update={"cum_qty": cum})] if ev.cum_qty != cum else [ev]

    # ------------------------------------------------------------ positions
    def on_position(self, update: InstrumentPnLPositionUpdate, recv_ns: int) -> list[AccountEvent]:
        if update.is_snapshot:
            return []
        return self._position(update, recv_ns)

    def _position(self, update: InstrumentPnLPositionUpdate, recv_ns: int) -> list[AccountEvent]:
        symbol = symbol_of(update.symbol, update.exchange)
        if symbol is None:
            self._foreign(f"{update.symbol}.{update.exchange}")
            return []
        qty = update.net_quantity
        return self._held(
            symbol, qty, update.avg_open_fill_price if qty else 0.0, stamp_ns(update.ssboe, update.usecs), recv_ns
        )

    def _held(self, symbol: str, qty: int, avg: float, wall_ns: int, recv_ns: int) -> list[AccountEvent]:
        if self.positions.get(symbol, (0, 0.0)) == (qty, avg):
            return []  # a P&L tick: the position itself did not change
        self.positions[symbol] = (qty, avg)
        try:
            return [
                AccountEvent(
                    account=self.account,
                    kind=EventKind.POSITION,
                    symbol=symbol,
                    position=qty,
                    avg_price=avg or None,
                    wall_ns=wall_ns,
                    recv_ns=recv_ns,
                )
            ]
        except ValidationError as exc:
            self.health.drop(f"Rithmic position of {symbol}: {exc.errors()[0]['msg']}")
            return []

    # ------------------------------------------------------------ after a gap
    def replayed_fill(self, note: ExchangeOrderNotification, recv_ns: int) -> list[AccountEvent]:
        """A fill from an execution replay: an event unless this book has seen it."""
        t = self.track(note)
        return self._fill(t, note, recv_ns) if t is not None else []

    def order_rows(self, rows: list[Note], recv_ns: int, news: bool) -> list[AccountEvent]:
        """The broker's working orders now: new ones and changed ones are events when ``news``
        (after a gap), else only learned (what was working before the session is not news);
        those this book holds as working and the broker no longer lists ended meanwhile."""
        out: list[AccountEvent] = []
        for row in rows:
            t = self.track(row)
            if t is None:
                continue
            if not news:
                t.announced = True
                t.status = OrderStatus.PARTIALLY_FILLED if row.total_fill_size else OrderStatus.WORKING
                continue
            out += self._opened(t, row, recv_ns)
            out += self._modified(t, row, recv_ns)
        if news:
            out += self.ended_while_away({r.basket_id for r in rows}, recv_ns)
        return out

    def position_rows(self, rows: list[InstrumentPnLPositionUpdate], recv_ns: int, news: bool) -> list[AccountEvent]:
        """The broker's positions now; changed ones are POSITION events when ``news``."""
        seen: set[str] = set()
        out: list[AccountEvent] = []
        for row in rows:
            symbol = symbol_of(row.symbol, row.exchange)
            if symbol is not None:
                seen.add(symbol)
                out += self._position(row, recv_ns)
        for symbol in set(self.positions) - seen:
            out += self._held(symbol, 0, 0.0, 0, recv_ns)
        return out if news else []

    def working(self) -> dict[str, Tracked]:
        return {b: t for b, t in self.orders.items() if not t.status.final}

    def ended_while_away(self, still_open: set[str], recv_ns: int) -> list[AccountEvent]:
        """Orders this book holds as working that the broker no longer lists: cancelled meanwhile
        (their fills came with the replay first)."""
        out: list[AccountEvent] = []
        for basket, t in self.working().items():
            if basket not in still_open and t.filled < t.qty:
                out += self._end(t, OrderStatus.CANCELLED, None, recv_ns, "ended while the session was down")
            elif basket not in still_open:
                t.status = OrderStatus.FILLED
        return out
