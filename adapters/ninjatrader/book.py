"""What NinjaTrader's outgoing files say, turned into AccountEvents: one owner of the account's
orders, positions and fill log.

ATI gives no fill ids and no order details in its state files, so:

- an order copytui placed (its ORDER ID is our client order id) is known by what we asked for;
  its fills are the rises of the filled amount in ``<orderId>.txt``, each priced from the change of
  the average fill price, and known by (order id, cumulative quantity);
- every other trade on the account (by hand, by a strategy, by another ATI client, made while
  NinjaTrader restarted) shows only as a change of ``<Instrument>_<Account>_Position.txt``: a
  position change that our own orders do not explain within ``settle_s`` is reported as a fill
  of its own, priced from the position's average (an exit's price is not in the file: such a fill
  carries the entry average and says so in ``reason``).

Nothing here touches files or the event loop: the adapter feeds file texts in, the book calls
``emit`` and ``schedule``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapters.base import Health
from adapters.ninjatrader.wire import (
    NtState,
    OrderState,
    PositionState,
    WireError,
    parse_order_file,
    parse_position_file,
)
from copytui.instruments import instrument
from copytui.models import AccountEvent, EventKind, OrderInfo, OrderStatus, OrderType, Position, Side, apply_fill

UNKNOWN_EXIT = "exit price unknown: NinjaTrader's position file does not carry it (entry average used)"


@dataclass
class Change:
    qty: int
    price: float | None
    stop_price: float | None


@dataclass
class OwnOrder:
    """An order copytui placed through ATI, with what NinjaTrader last said of it."""

    coid: str
    symbol: str
    instrument: str
    side: Side
    order_type: OrderType
    qty: int
    price: float | None = None
    stop_price: float | None = None
    state: NtState | None = None
    """None: written, no state file read yet."""
    filled: int = 0
    avg: float = 0.0
    version: int = 0
    announced: bool = False
    ended: bool = False
    orphaned: bool = False
    """Its state file went with a NinjaTrader restart: its later fills show as position changes."""
    change: Change | None = None
    reads: int = 0
    oco: str = ""
    """The OCO ID it was placed with ("" for none): NinjaTrader cancels it when another order of that
    group fills or is cancelled."""
    cancelling: bool = False
    """copytui asked NinjaTrader to cancel it: a CANCELLED state file is that answer, not the OCO's."""

    @property
    def final(self) -> bool:
        return self.state is not None and self.state.final

    @property
    def busy(self) -> bool:
        """May still fill through its state file."""
        return not self.final and not self.orphaned

    def info(self, account: str) -> OrderInfo:
        if self.state is None:
            status = OrderStatus.SENT
        elif self.state is NtState.FILLED or (self.filled and self.filled >= self.qty):
            status = OrderStatus.FILLED
        else:
            status = self.state.status
        return OrderInfo(
            account=account,
            broker_order_id=self.coid,
            client_order_id=self.coid,
            symbol=self.symbol,
            side=self.side,
            order_type=self.order_type,
            qty=self.qty,
            filled_qty=self.filled,
            price=self.price,
            stop_price=self.stop_price,
            avg_fill_price=self.avg if self.filled else None,
            status=status,
            oco_group=self.oco or None,
        )


@dataclass
class Held:
    """One instrument of the account: what the position file says, and what our events account for."""

    instrument: str
    symbol: str
    file: PositionState | None = None
    qty: int = 0
    avg: float = 0.0
    activity: float = -1e18
    """monotonic time of the last own-order news on this instrument."""
    diff_since: float = 0.0
    read_ns: int = 0
    """perf_counter_ns of the last read of its position file."""
    timer: Any = None


def fill_price_from_averages(before_qty: int, before_avg: float, after_qty: int, after_avg: float) -> float:
    """The price of the fills that took a cumulative quantity from ``before_qty`` at ``before_avg``
    to ``after_qty`` at ``after_avg`` (both averages over the whole quantity)."""
    delta = after_qty - before_qty
    price = (after_avg * after_qty - before_avg * before_qty) / delta if delta else after_avg
    return price if price > 0 else after_avg


def position_fill_price(before: tuple[int, float], after: tuple[int, float]) -> tuple[float, str | None]:
    """The price of a position change, and why it is a guess (None when it is not)."""
    (bq, ba), (aq, aa) = before, after
    if aq != 0 and (bq == 0 or (bq > 0) == (aq > 0)) and abs(aq) > abs(bq):
        return fill_price_from_averages(abs(bq), ba, abs(aq), aa), None
    if aq != 0 and bq != 0 and (bq > 0) != (aq > 0):
        return aa, None  # through flat: the new position's average is the fill's price
    return (ba or aa), UNKNOWN_EXIT


class Book:
    def __init__(
        self,
        account: str,
        health: Health,
        emit: Callable[[AccountEvent], None],
        schedule: Callable[[float, Callable[[], None]], Any],
        *,
        settle_s: float,
        epoch: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.account = account
        self.health = health
        self._emit = emit
        self._schedule = schedule
        self.settle_s = settle_s
        self.epoch = epoch
        self.clock = clock
        self.orders: dict[str, OwnOrder] = {}
        self.held: dict[str, Held] = {}
        self.fills: list[AccountEvent] = []
        self.seq = 0
        self.acked: Callable[[OwnOrder], None] = lambda _o: None
        self.changed: Callable[[OwnOrder], None] = lambda _o: None
        self._synthetic = 0
        self._refused_roots: set[str] = set()
        self.fill_cursor: Callable[[int], str] | None = None
        """The fills_since cursor after ``n`` fills (set by the adapter, which owns the cursor's form)."""

    # ------------------------------------------------------------------ events
    def _event(self, recv_ns: int, **fields: Any) -> AccountEvent:
        self.seq += 1
        if fields.get("kind") is EventKind.FILL and self.fill_cursor is not None:
            # fills_since's cursor once this fill is copied (its position already counted): the
            # engine journals it with the fill's signal, so a restart replays nothing it copied
            fields["cursor"] = self.fill_cursor(len(self.fills) + 1)
        ev = AccountEvent(account=self.account, seq=self.seq, wall_ns=time.time_ns(), recv_ns=recv_ns, **fields)
        if ev.kind is EventKind.FILL:
            self.fills.append(ev)
        self.health.seen()
        self._emit(ev)
        return ev

    def _order_event(self, o: OwnOrder, kind: EventKind, recv_ns: int, **extra: Any) -> AccountEvent:
        return self._event(
            recv_ns,
            kind=kind,
            order_id=o.coid,
            client_order_id=o.coid,
            symbol=o.symbol,
            side=o.side,
            order_type=o.order_type,
            qty=o.qty,
            price=o.price,
            stop_price=o.stop_price,
            version=o.version,
            cum_qty=o.filled,
            **extra,
        )

    # ------------------------------------------------------------------ own orders
    def add(self, o: OwnOrder) -> None:
        self.orders[o.coid] = o

    def on_order_file(self, coid: str, text: str, recv_ns: int, baseline: bool = False) -> None:
        o = self.orders[coid]
        try:
            st = parse_order_file(text, f"outgoing/{coid}.txt")
        except WireError as exc:
            self.health.drop(str(exc))
            return
        first = o.state is None
        if st.filled < o.filled:
            self.health.drop(f"outgoing/{coid}.txt: filled amount went back from {o.filled} to {st.filled}")
            return
        o.reads += 1
        if baseline:  # what the file said before this session: the state, not news
            o.state, o.filled, o.avg, o.announced = st.state, st.filled, st.avg_price, True
            o.ended = st.state in (NtState.CANCELLED, NtState.REJECTED)
            return
        self._apply(o, st, recv_ns)
        if first:
            self.acked(o)
        self.changed(o)

    def _apply(self, o: OwnOrder, st: OrderState, recv_ns: int) -> None:
        o.orphaned = False
        self._touch(o)
        if st.state is NtState.REJECTED:
            o.state = st.state
            if not o.ended:
                o.ended = True
                self._order_event(o, EventKind.ORDER_REJECTED, recv_ns, reason=rejected_reason(o.coid, o.oco))
            return
        if not o.announced:
            o.announced = True
            self._order_event(o, EventKind.ORDER_NEW, recv_ns)
        if o.change is not None and not st.state.changing:
            change, o.change = o.change, None
            if not st.state.final:
                o.qty, o.price, o.stop_price = change.qty, change.price, change.stop_price
                o.version += 1
                self._order_event(o, EventKind.ORDER_MODIFIED, recv_ns)
        if st.filled > o.filled:
            self._own_fill(o, st, recv_ns)
        o.state = st.state
        if st.state is NtState.CANCELLED and not o.ended:
            o.ended = True
            self._order_event(o, EventKind.ORDER_CANCELLED, recv_ns, reason=oco_cancel_reason(o))

    def _own_fill(self, o: OwnOrder, st: OrderState, recv_ns: int) -> None:
        delta = st.filled - o.filled
        price = instrument(o.symbol).round_price(fill_price_from_averages(o.filled, o.avg, st.filled, st.avg_price))
        o.filled, o.avg = st.filled, st.avg_price
        o.qty = max(o.qty, o.filled)
        held = self._held(o.instrument, o.symbol)
        held.qty, held.avg, _ = apply_fill(held.qty, held.avg, o.side.sign * delta, price)
        self._order_event(
            o, EventKind.FILL, recv_ns, fill_id=f"{o.coid}-{o.filled}", fill_qty=delta, fill_price=price,
            avg_price=st.avg_price,
        )  # fmt: skip
        self._check(held)

    # ------------------------------------------------------------------ positions
    def _held(self, name: str, symbol: str) -> Held:
        h = self.held.get(name)
        if h is None:
            h = self.held[name] = Held(name, symbol)
        return h

    def _touch(self, o: OwnOrder) -> None:
        self._held(o.instrument, o.symbol).activity = self.clock()

    def on_position_file(self, name: str, symbol: str | None, text: str, recv_ns: int, baseline: bool = False) -> None:
        where = f"outgoing/ position file of {name}"
        try:
            ps = parse_position_file(text, where)
        except WireError as exc:
            self.health.drop(str(exc))
            return
        if symbol is None:
            if name not in self._refused_roots and ps.qty:
                self._refused_roots.add(name)
                self.health.drop(f"{where}: copytui knows no symbol for {name!r}; its trades are not copied")
            return
        h = self._held(name, symbol)
        changed = h.file != ps
        h.file, h.read_ns = ps, recv_ns
        if baseline:
            h.qty, h.avg = ps.qty, ps.avg_price
            return
        if changed and h.qty != ps.qty and not h.diff_since:
            h.diff_since = self.clock()
        self._check(h)  # a fill it reports comes before the position it made
        if changed:
            qty, avg = self.symbol_position(symbol)
            self._event(recv_ns, kind=EventKind.POSITION, symbol=symbol, position=qty, avg_price=avg)

    def _check(self, h: Held) -> None:
        """Report what our own orders do not explain, once they had ``settle_s`` to explain it."""
        if h.file is None or h.file.qty == h.qty:
            h.diff_since = 0.0
            if h.timer is not None:
                h.timer.cancel()
                h.timer = None
            return
        busy = any(o.busy and o.instrument == h.instrument for o in self.orders.values())
        start = max(h.activity, h.diff_since) if busy else h.activity
        wait = start + self.settle_s - self.clock()
        if wait <= 0:
            self._unexplained(h)
            return
        if h.timer is not None:
            h.timer.cancel()
        h.timer = self._schedule(wait, lambda: self._recheck(h))

    def _recheck(self, h: Held) -> None:
        h.timer = None
        self._check(h)

    def _unexplained(self, h: Held) -> None:
        assert h.file is not None
        delta = h.file.qty - h.qty
        price, why = position_fill_price((h.qty, h.avg), (h.file.qty, h.file.avg_price))
        self._synthetic += 1
        oid = f"pos-{self.epoch}-{self._synthetic}"
        h.qty, h.avg, h.diff_since = h.file.qty, h.file.avg_price, 0.0
        # read when its position file was: a leader's copy time counts from there, the settle wait included
        self._event(
            h.read_ns or time.perf_counter_ns(), kind=EventKind.FILL, order_id=oid, symbol=h.symbol,
            side=Side.for_delta(delta), order_type=OrderType.MARKET, qty=abs(delta), fill_id=oid,
            fill_qty=abs(delta), cum_qty=abs(delta), fill_price=instrument(h.symbol).round_price(price),
            avg_price=h.file.avg_price or None, reason=why,
        )  # fmt: skip

    def symbol_position(self, symbol: str) -> tuple[int, float]:
        """What the position files say of ``symbol`` (every contract month of it together)."""
        files = [h.file for h in self.held.values() if h.symbol == symbol and h.file is not None and h.file.qty]
        qty = sum(f.qty for f in files)
        cost = sum(f.avg_price * abs(f.qty) for f in files)
        return qty, (cost / sum(abs(f.qty) for f in files) if files and qty else 0.0)

    def positions(self) -> list[Position]:
        out = []
        for symbol in sorted({h.symbol for h in self.held.values()}):
            qty, avg = self.symbol_position(symbol)
            if qty:
                out.append(Position(account=self.account, symbol=symbol, qty=qty, avg_price=avg))
        return out

    def accounted(self) -> dict[str, tuple[int, float]]:
        """Per symbol, the position our events account for: what fills_since's cursor remembers."""
        out: dict[str, tuple[int, float]] = {}
        for symbol in {h.symbol for h in self.held.values()}:
            parts = [h for h in self.held.values() if h.symbol == symbol and h.qty]
            size = sum(abs(h.qty) for h in parts)
            out[symbol] = (sum(h.qty for h in parts), sum(h.avg * abs(h.qty) for h in parts) / size if size else 0.0)
        return out

    # ------------------------------------------------------------------ NinjaTrader restarted
    def cleared(self) -> list[str]:
        """outgoing/ was emptied: every file is unknown until written again. Returns the instruments
        that were held (their files may not come back when the position closed meanwhile)."""
        held = [h.instrument for h in self.held.values() if h.file is not None and h.file.qty]
        for h in self.held.values():
            h.file = None
            if h.timer is not None:
                h.timer.cancel()
                h.timer = None
        for o in self.orders.values():
            if not o.final:
                o.orphaned = True
        return held

    def missing_since_restart(self) -> list[str]:
        return sorted(h.instrument for h in self.held.values() if h.file is None and h.qty)


def rejected_reason(coid: str, oco: str = "") -> str:
    also = f", as may an OCO ID it will not link, such as {oco} reused from a finished group" if oco else ""
    return (
        f"NinjaTrader wrote REJECTED in outgoing/{coid}.txt (ATI gives no reason: see NinjaTrader's Log tab; "
        f"an instrument, account or ORDER TYPE word it does not take is refused this way{also})"
    )


def oco_cancel_reason(o: OwnOrder) -> str | None:
    """Why an order copytui did not cancel went CANCELLED: its OCO group's doing, when it has one
    (ATI says no more; an order without a group was cancelled by hand or by NinjaTrader itself)."""
    if not o.oco or o.cancelling:
        return None
    return f"cancelled by NinjaTrader's OCO {o.oco}: another order of the group filled or was cancelled"
