"""The paper exchange: the in-process market every simulator and the demo trade against.

It keeps accounts, orders, fills and positions, walks prices on each instrument's real tick grid
with a seeded random generator, matches resting limit and stop orders as prices move, and can be
told to misbehave (added latency, rejects, partial fills, dropped streams, duplicated and
reordered events), and keeps OCO groups as a broker does: the fill of one leg shrinks or cancels the
others. Listeners get :class:`AccountEvent` objects synchronously, in order, so a
simulator can turn them into wire frames.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from adapters.base import OrderRejected
from copytui.instruments import UnknownSymbol, instrument
from copytui.models import (
    MAX_OCO_GROUP_LEN,
    AccountEvent,
    EventKind,
    OrderInfo,
    OrderStatus,
    OrderType,
    Position,
    Side,
    TimeInForce,
    apply_fill,
)

# A micro contract quotes the same price as its full-size sibling.
PRICE_SOURCE = {"MES": "ES", "MNQ": "NQ", "MYM": "YM", "M2K": "RTY", "MCL": "CL", "MGC": "GC"}


@dataclass
class Faults:
    """What an account's broker does wrong, by probability per order or per event."""

    latency_ms: float = 0.0
    reject_rate: float = 0.0
    partial_fill_prob: float = 0.0
    drop_stream_prob: float = 0.0
    duplicate_prob: float = 0.0
    reorder_prob: float = 0.0


@dataclass
class PaperOrder:
    id: str
    account: str
    symbol: str
    side: Side
    order_type: OrderType
    qty: int
    price: float | None
    stop_price: float | None
    tif: TimeInForce
    client_order_id: str | None
    status: OrderStatus = OrderStatus.WORKING
    filled: int = 0
    avg_fill_price: float | None = None
    version: int = 0
    triggered: bool = False
    oco_group: str | None = None
    trail: float | None = None
    """A trailing stop's distance from the market (see ``PaperExchange._trail``)."""

    @property
    def leaves(self) -> int:
        return self.qty - self.filled

    def info(self) -> OrderInfo:
        return OrderInfo(
            account=self.account,
            broker_order_id=self.id,
            client_order_id=self.client_order_id,
            symbol=self.symbol,
            side=self.side,
            order_type=self.order_type,
            qty=self.qty,
            filled_qty=self.filled,
            price=self.price,
            stop_price=self.stop_price,
            avg_fill_price=self.avg_fill_price,
            status=self.status,
            oco_group=self.oco_group,
            trail=self.trail,
        )


@dataclass
class PaperPosition:
    qty: int = 0
    avg_price: float = 0.0
    realized: float = 0.0


@dataclass
class FillRecord:
    seq: int
    event: AccountEvent


@dataclass
class PaperAccount:
    name: str
    balance: float
    faults: Faults = field(default_factory=Faults)
    positions: dict[str, PaperPosition] = field(default_factory=dict)
    orders: dict[str, PaperOrder] = field(default_factory=dict)
    by_client_id: dict[str, PaperOrder] = field(default_factory=dict)
    fills: list[FillRecord] = field(default_factory=list)
    submissions: list[str] = field(default_factory=list)  # every client order id ever received
    oco_groups: dict[str, list[PaperOrder]] = field(default_factory=dict)  # OCO group -> its legs


Listener = Callable[[AccountEvent], None]

STOPS = (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP)
"""Orders that wait for the market to reach their stop price."""
MARKET_STOPS = (OrderType.STOP, OrderType.TRAILING_STOP)
"""Stops that become market orders when triggered."""


def run_unique_order_base() -> int:
    """The first order number of a new exchange: milliseconds since 2026-01-01, so that order ids
    from every run that shares a journal are distinct (a later run starts above every id an
    earlier run could have reached, unless that run placed more than 1000 orders a second)."""
    return max(1, time.time_ns() // 1_000_000 - 1_767_225_600_000)


class PaperExchange:
    def __init__(
        self,
        seed: int = 0,
        symbols: tuple[str, ...] = ("ES", "NQ", "CL", "GC"),
        first_order_id: int | None = None,
    ) -> None:
        """``first_order_id`` None: a number unique to this run (see ``run_unique_order_base``)."""
        self.rng = random.Random(seed)
        self._fault_rng = random.Random(seed + 1)
        self.prices: dict[str, float] = {}
        for s in symbols:
            self._ensure_symbol(s)
        self.accounts: dict[str, PaperAccount] = {}
        self._listeners: dict[str, list[Listener]] = {}
        self._droppers: dict[str, list[Callable[[], None]]] = {}
        self._held: dict[str, AccountEvent] = {}
        self._order_ids = itertools.count(first_order_id or run_unique_order_base())
        self._seq = itertools.count(1)

    # ---------------------------------------------------------------- market
    def _ensure_symbol(self, symbol: str) -> None:
        base = PRICE_SOURCE.get(symbol, symbol)
        if base not in self.prices:
            self.prices[base] = instrument(base).start_price
        instrument(symbol)  # unknown symbols fail here, loudly

    def price(self, symbol: str) -> float:
        self._ensure_symbol(symbol)
        return self.prices[PRICE_SOURCE.get(symbol, symbol)]

    def quote(self, symbol: str) -> tuple[float, float]:
        bid = self.price(symbol)
        return bid, instrument(symbol).round_price(bid + instrument(symbol).tick_size)

    def step(self, n: int = 1) -> None:
        """Move every price ``n`` random steps and match what became marketable."""
        for _ in range(n):
            for base in list(self.prices):
                inst = instrument(base)
                move = self.rng.choice((-2, -1, -1, 0, 0, 1, 1, 2))
                self.prices[base] = inst.round_price(self.prices[base] + move * inst.tick_size)
            self._match_resting()

    def set_price(self, symbol: str, price: float) -> None:
        self._ensure_symbol(symbol)
        self.prices[PRICE_SOURCE.get(symbol, symbol)] = instrument(symbol).round_price(price)
        self._match_resting()

    # ------------------------------------------------------------- accounts
    def account(self, name: str, balance: float = 50_000.0, faults: Faults | None = None) -> PaperAccount:
        acct = self.accounts.get(name)
        if acct is None:
            acct = PaperAccount(name=name, balance=balance, faults=faults or Faults())
            self.accounts[name] = acct
        elif faults is not None:
            acct.faults = faults
        return acct

    def _acct(self, name: str) -> PaperAccount:
        try:
            return self.accounts[name]
        except KeyError:
            raise OrderRejected(f"paper exchange has no account {name!r}") from None

    def listen(self, account: str, listener: Listener, on_drop: Callable[[], None] | None = None) -> Callable[[], None]:
        self._listeners.setdefault(account, []).append(listener)
        if on_drop is not None:
            self._droppers.setdefault(account, []).append(on_drop)

        def unlisten() -> None:
            if listener in self._listeners.get(account, []):
                self._listeners[account].remove(listener)
            if on_drop is not None and on_drop in self._droppers.get(account, []):
                self._droppers[account].remove(on_drop)

        return unlisten

    def _emit(self, account: str, event: AccountEvent) -> None:
        acct = self.accounts[account]
        f = acct.faults
        r = self._fault_rng
        out = [event]
        if f.reorder_prob and r.random() < f.reorder_prob and account not in self._held:
            self._held[account] = event  # delivered after the next event
            return
        if account in self._held:
            out.append(self._held.pop(account))
        if f.duplicate_prob and r.random() < f.duplicate_prob:
            out.append(event)
        for ev in out:
            for listener in list(self._listeners.get(account, ())):
                listener(ev)
        if f.drop_stream_prob and r.random() < f.drop_stream_prob:
            self.drop_streams(account)

    def drop_streams(self, account: str) -> None:
        """Break every event stream of ``account`` now, as the drop_stream fault does: each
        listener's adapter reconnects and resyncs (what a test or a black-box check drives)."""
        for drop in list(self._droppers.get(account, ())):
            drop()

    def flush_held(self, account: str) -> None:
        ev = self._held.pop(account, None)
        if ev is not None:
            for listener in list(self._listeners.get(account, ())):
                listener(ev)

    def _event(
        self, acct: PaperAccount, kind: EventKind, order: PaperOrder | None = None, **kw: object
    ) -> AccountEvent:
        base: dict[str, object] = {}
        if order is not None:
            base = dict(
                order_id=order.id,
                client_order_id=order.client_order_id,
                symbol=order.symbol,
                side=order.side,
                order_type=order.order_type,
                qty=order.qty,
                price=order.price,
                stop_price=order.stop_price,
                version=order.version,
                cum_qty=order.filled,
                oco_group=order.oco_group,
                trail=order.trail,
            )
        base.update(kw)
        # in-process delivery follows creation at once: creation time is the time it is "read"
        return AccountEvent.model_validate(
            {
                "account": acct.name,
                "kind": kind,
                "seq": next(self._seq),
                "wall_ns": time.time_ns(),
                "recv_ns": time.perf_counter_ns(),
                **base,
            }
        )

    def order_event(self, account: str, kind: EventKind, order: PaperOrder) -> AccountEvent:
        """An event about ``order`` as it stands now, not delivered to anyone: what a broker's
        resync snapshot reports to a session that reconnects."""
        return self._event(self._acct(account), kind, order)

    # --------------------------------------------------------------- orders
    def submit(
        self,
        account: str,
        *,
        symbol: str,
        side: Side,
        qty: int,
        order_type: OrderType = OrderType.MARKET,
        price: float | None = None,
        stop_price: float | None = None,
        tif: TimeInForce = TimeInForce.DAY,
        client_order_id: str | None = None,
        oco_group: str | None = None,
        trail: float | None = None,
    ) -> PaperOrder:
        """``oco_group``: the order is one leg of that OCO group (see ``_oco_after_fill``); ``trail``:
        a trailing stop's distance from the market (its ``stop_price``, when given, is where it starts)."""
        acct = self._acct(account)
        if client_order_id is not None:
            acct.submissions.append(client_order_id)
            if client_order_id in acct.by_client_id:
                raise OrderRejected(f"duplicate client order id {client_order_id}", client_order_id)
        try:
            self._ensure_symbol(symbol)
        except UnknownSymbol as exc:
            raise OrderRejected(str(exc), client_order_id) from None
        if qty <= 0:
            raise OrderRejected(f"quantity must be positive, got {qty}", client_order_id)
        if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and price is None:
            raise OrderRejected(f"{order_type} order needs a limit price", client_order_id)
        if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and stop_price is None:
            raise OrderRejected(f"{order_type} order needs a stop price", client_order_id)
        if order_type is OrderType.TRAILING_STOP and not (trail is not None and 0 < trail < float("inf")):
            raise OrderRejected("a trailing stop needs a trail above 0", client_order_id)
        if oco_group is not None and not 0 < len(oco_group) <= MAX_OCO_GROUP_LEN:
            raise OrderRejected(f"OCO group must be 1 to {MAX_OCO_GROUP_LEN} characters", client_order_id)
        inst = instrument(symbol)
        order = PaperOrder(
            id=f"P{next(self._order_ids)}",
            account=account,
            symbol=symbol,
            side=side,
            order_type=order_type,
            qty=qty,
            price=inst.round_price(price) if price is not None else None,
            stop_price=inst.round_price(stop_price) if stop_price is not None else None,
            tif=tif,
            client_order_id=client_order_id,
            oco_group=oco_group,
            trail=trail if order_type is OrderType.TRAILING_STOP else None,
        )
        if order.trail is not None:
            start = self._trail_level(order)
            if order.stop_price is None or (start - order.stop_price) * order.side.sign < 0:
                order.stop_price = start  # never placed farther from the market than its trail
        acct.orders[order.id] = order
        if client_order_id is not None:
            acct.by_client_id[client_order_id] = order
        if acct.faults.reject_rate and self._fault_rng.random() < acct.faults.reject_rate:
            order.status = OrderStatus.REJECTED
            self._emit(
                account, self._event(acct, EventKind.ORDER_REJECTED, order, reason="simulated reject: risk check")
            )
            raise OrderRejected("simulated reject: risk check", client_order_id)
        if oco_group is not None:
            acct.oco_groups.setdefault(oco_group, []).append(order)
        self._emit(account, self._event(acct, EventKind.ORDER_NEW, order))
        self._try_fill(acct, order)
        return order

    def modify(
        self,
        account: str,
        order_id: str,
        *,
        qty: int | None = None,
        price: float | None = None,
        stop_price: float | None = None,
        trail: float | None = None,
    ) -> PaperOrder:
        acct = self._acct(account)
        order = acct.orders.get(order_id)
        if order is None or order.status.final:
            raise OrderRejected(f"order {order_id} is not working")
        if qty is not None:
            if qty <= order.filled:
                raise OrderRejected(f"new quantity {qty} is not above the filled {order.filled}")
            order.qty = qty
        inst = instrument(order.symbol)
        if price is not None:
            order.price = inst.round_price(price)
        if stop_price is not None:
            order.stop_price = inst.round_price(stop_price)
        if trail is not None:
            if order.trail is None or not 0 < trail < float("inf"):
                raise OrderRejected(f"order {order_id} is not a trailing stop, or the trail {trail} is not above 0")
            order.trail = trail
        order.version += 1
        self._emit(account, self._event(acct, EventKind.ORDER_MODIFIED, order))
        self._try_fill(acct, order)
        return order

    def cancel(self, account: str, order_id: str) -> PaperOrder:
        acct = self._acct(account)
        order = acct.orders.get(order_id)
        if order is None or order.status.final:
            raise OrderRejected(f"order {order_id} is not working")
        order.status = OrderStatus.CANCELLED
        self._emit(account, self._event(acct, EventKind.ORDER_CANCELLED, order))
        return order

    def flatten(self, account: str, symbol: str | None = None) -> None:
        acct = self._acct(account)
        for order in list(acct.orders.values()):
            if not order.status.final and (symbol is None or order.symbol == symbol):
                self.cancel(account, order.id)
        for sym, pos in list(acct.positions.items()):
            if pos.qty and (symbol is None or sym == symbol):
                saved = acct.faults
                acct.faults = Faults()  # flatten must not be refused or split by the fault injector
                try:
                    self.submit(account, symbol=sym, side=Side.for_delta(-pos.qty), qty=abs(pos.qty))
                finally:
                    acct.faults = saved

    def fill(self, account: str, order_id: str, qty: int, price: float | None = None) -> None:
        """Trade ``qty`` of a working order now (a counterparty hit it), at ``price`` or the order's price."""
        acct = self._acct(account)
        order = acct.orders.get(order_id)
        if order is None or order.status.final:
            raise OrderRejected(f"order {order_id} is not working")
        if not 0 < qty <= order.leaves:
            raise OrderRejected(f"fill quantity {qty} is outside 1..{order.leaves}")
        px = price if price is not None else (order.price or order.stop_price or self.price(order.symbol))
        self._fill(acct, order, qty, instrument(order.symbol).round_price(px))

    # -------------------------------------------------------------- matching
    def _trail_level(self, order: PaperOrder) -> float:
        """Where a trailing stop would stand now: ``trail`` below the bid for a sell, above the ask
        for a buy (rounded to the tick)."""
        assert order.trail is not None
        bid, ask = self.quote(order.symbol)
        level = bid - order.trail if order.side is Side.SELL else ask + order.trail
        return instrument(order.symbol).round_price(level)

    def _trail(self, acct: PaperAccount, order: PaperOrder) -> None:
        """A working trailing stop follows the market in its favour, never back; each move is an
        ORDER_MODIFIED, as a broker reports the stop's new price."""
        if order.trail is None or order.triggered or order.stop_price is None:
            return
        level = self._trail_level(order)
        if (level - order.stop_price) * order.side.sign < 0:  # a sell's stop only rises, a buy's only falls
            order.stop_price = level
            order.version += 1
            self._emit(acct.name, self._event(acct, EventKind.ORDER_MODIFIED, order))

    def _marketable_price(self, order: PaperOrder) -> float | None:
        bid, ask = self.quote(order.symbol)
        touch = ask if order.side is Side.BUY else bid
        if order.order_type in STOPS and not order.triggered:
            assert order.stop_price is not None
            hit = touch >= order.stop_price if order.side is Side.BUY else touch <= order.stop_price
            if not hit:
                return None
            order.triggered = True
        if order.order_type is OrderType.MARKET or (order.order_type in MARKET_STOPS and order.triggered):
            return touch
        assert order.price is not None
        if order.side is Side.BUY:
            return min(touch, order.price) if touch <= order.price else None
        return max(touch, order.price) if touch >= order.price else None

    def _try_fill(self, acct: PaperAccount, order: PaperOrder) -> None:
        if order.status.final:
            return
        self._trail(acct, order)
        if order.status.final:  # a listener cancelled it on the move
            return
        px = self._marketable_price(order)
        if px is None:
            return
        qty = order.leaves
        if qty > 1 and acct.faults.partial_fill_prob and self._fault_rng.random() < acct.faults.partial_fill_prob:
            qty = self._fault_rng.randint(1, qty - 1)
        self._fill(acct, order, qty, px)

    def _match_resting(self) -> None:
        for acct in self.accounts.values():
            for order in list(acct.orders.values()):
                if not order.status.final:
                    self._try_fill(acct, order)

    def _fill(self, acct: PaperAccount, order: PaperOrder, qty: int, px: float) -> None:
        prev_cost = (order.avg_fill_price or 0.0) * order.filled
        order.filled += qty
        order.avg_fill_price = (prev_cost + px * qty) / order.filled
        order.status = OrderStatus.FILLED if order.leaves == 0 else OrderStatus.PARTIALLY_FILLED
        pos = acct.positions.setdefault(order.symbol, PaperPosition())
        self._apply_to_position(acct, pos, order.symbol, order.side.sign * qty, px)
        fill_seq = len(acct.fills) + 1
        ev = self._event(
            acct,
            EventKind.FILL,
            order,
            fill_id=f"{order.id}-F{fill_seq}",
            fill_qty=qty,
            fill_price=px,
        )
        acct.fills.append(FillRecord(seq=fill_seq, event=ev))
        self._emit(acct.name, ev)
        self._emit(
            acct.name,
            self._event(acct, EventKind.POSITION, symbol=order.symbol, position=pos.qty, avg_price=pos.avg_price),
        )
        self._oco_after_fill(acct, order)

    def _oco_after_fill(self, acct: PaperAccount, order: PaperOrder) -> None:
        """Native OCO: every other working leg of the filled order's group keeps at most the filled
        leg's remaining quantity, and is cancelled once that leg is complete; each change an
        ordinary order event, as a broker's own OCO reports it."""
        if order.oco_group is None:
            return
        why = f"oco: {order.id} filled {order.filled} of {order.qty}"
        for leg in acct.oco_groups.get(order.oco_group, ()):
            if leg is order or leg.status.final:
                continue
            keep = min(leg.leaves, order.leaves)
            if keep == 0:
                leg.status = OrderStatus.CANCELLED
                self._emit(acct.name, self._event(acct, EventKind.ORDER_CANCELLED, leg, reason=why))
            elif keep < leg.leaves:
                leg.qty = leg.filled + keep
                leg.version += 1
                self._emit(acct.name, self._event(acct, EventKind.ORDER_MODIFIED, leg, reason=why))

    @staticmethod
    def _apply_to_position(acct: PaperAccount, pos: PaperPosition, symbol: str, delta: int, px: float) -> None:
        """Net a fill into the position with copytui's one position arithmetic; the realised part,
        in money, goes to the position and the account's balance."""
        pos.qty, pos.avg_price, points = apply_fill(pos.qty, pos.avg_price, delta, px)
        if points:
            pnl = points * instrument(symbol).point_value
            pos.realized += pnl
            acct.balance += pnl

    # ----------------------------------------------------------------- views
    def position_list(self, account: str) -> list[Position]:
        acct = self._acct(account)
        out = []
        for sym, p in acct.positions.items():
            if p.qty == 0 and p.realized == 0:
                continue
            mark = self.price(sym)
            upnl = (mark - p.avg_price) * p.qty * instrument(sym).point_value if p.qty else 0.0
            out.append(
                Position(
                    account=account,
                    symbol=sym,
                    qty=p.qty,
                    avg_price=p.avg_price,
                    realized_pnl=p.realized,
                    unrealized_pnl=upnl,
                )
            )
        return out

    def open_orders(self, account: str) -> list[OrderInfo]:
        return [o.info() for o in self._acct(account).orders.values() if not o.status.final]

    def find_order(self, account: str, client_order_id: str) -> OrderInfo | None:
        order = self._acct(account).by_client_id.get(client_order_id)
        return order.info() if order else None

    def fills_after(self, account: str, seq: int) -> list[FillRecord]:
        return [f for f in self._acct(account).fills if f.seq > seq]

    def duplicate_submissions(self, account: str) -> int:
        subs = self._acct(account).submissions
        return len(subs) - len(set(subs))
