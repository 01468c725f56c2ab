"""From checked DTC messages to copytui AccountEvents: each order's state, its fills counted once.

DTC tells an order's progress in ORDER_UPDATE (FilledQuantity, the cumulative quantity, with the
last execution's id, quantity and price) and, for gap recovery, in HISTORICAL_ORDER_FILL_RESPONSE
(one message per execution). The cumulative quantity of an order grows from whichever says more:
the order's own FilledQuantity or the sum of the distinct executions seen. Each increase is one
FILL event, so a duplicated, replayed or re-read message never makes a second fill, and the sum
never exceeds what the server reported (invariant 3: never overshoot).

An order is announced (ORDER_NEW) once it is sent, pending or open; a bracket child not yet active
(PENDING_CHILD), a pending cancel or replace and an order type copytui does not trade keep their
state and fills but announce nothing. Cancelled and rejected are said once; an update whose
LatestTransactionDateTime is older than the one already applied (a reordered message) changes
nothing but the fills it proves. Orders of one OCO pair (``OCOLinkedOrderServerOrderID``) carry
one ``oco_group`` in their events and in ``info`` (see :mod:`adapters.sierrachart.oco`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from adapters.sierrachart.messages import HistoricalFill, OrderUpdate, PositionUpdate
from adapters.sierrachart.oco import OcoLinks
from adapters.sierrachart.options import SymbolMap
from adapters.sierrachart.wire import BuySell, DtcOrderType, FrameError, Reason, Status
from copytui.instruments import instrument
from copytui.models import AccountEvent, EventKind, OrderInfo, OrderStatus, OrderType, Side

log = logging.getLogger("copytui.adapters.sierrachart")

SIDES: dict[int, Side] = {BuySell.BUY: Side.BUY, BuySell.SELL: Side.SELL}
TYPES: dict[int, OrderType] = {
    DtcOrderType.MARKET: OrderType.MARKET,
    DtcOrderType.LIMIT: OrderType.LIMIT,
    DtcOrderType.STOP: OrderType.STOP,
    DtcOrderType.STOP_LIMIT: OrderType.STOP_LIMIT,
}
NO_SERVER_ID = "refused:"
"""The key of an order the server refused without a ServerOrderID, before its ClientOrderID."""
_ANNOUNCE = {Status.ORDER_SENT, Status.PENDING_OPEN, Status.OPEN, Status.PARTIALLY_FILLED}
_FINAL = {Status.FILLED, Status.CANCELED, Status.REJECTED}
_COPY_STATUS: dict[int, OrderStatus] = {
    Status.FILLED: OrderStatus.FILLED,
    Status.CANCELED: OrderStatus.CANCELLED,
    Status.REJECTED: OrderStatus.REJECTED,
    Status.UNSPECIFIED: OrderStatus.UNKNOWN,
}


def copy_status(status: int, cum: int) -> OrderStatus:
    """copytui's status for DTC's OrderStatus: sent, pending and open orders are working."""
    final = _COPY_STATUS.get(status)
    if final is not None:
        return final
    return OrderStatus.PARTIALLY_FILLED if cum else OrderStatus.WORKING


def prices_of(
    order_type: OrderType | None, price1: float | None, price2: float | None
) -> tuple[float | None, float | None]:
    """(limit, stop) from DTC's Price1 / Price2: Price1 is the limit of a limit order and the stop of a
    stop or stop-limit order, whose limit is Price2."""
    if order_type is OrderType.LIMIT:
        return price1, None
    if order_type is OrderType.STOP:
        return None, price1
    if order_type is OrderType.STOP_LIMIT:
        return price2, price1
    return None, None


@dataclass(slots=True)
class OrderState:
    server_id: str
    symbol: str
    side: Side | None
    order_type: OrderType | None
    client_id: str | None = None
    qty: int = 0
    price: float | None = None
    stop: float | None = None
    status: int = Status.UNSPECIFIED
    cum: int = 0
    notional: float = 0.0
    traded: int = 0
    """Sum of the distinct executions seen."""
    announced: bool = False
    final_sent: bool = False
    version: int = 0
    latest: float = 0.0
    reason: str = ""
    born: float = field(default_factory=time.monotonic)
    """When this book first heard of the order."""

    @property
    def broker_id(self) -> str:
        """The ServerOrderID ("" for an order refused before the server gave it one)."""
        return "" if self.server_id.startswith(NO_SERVER_ID) else self.server_id

    @property
    def working(self) -> bool:
        return self.status not in _FINAL

    @property
    def avg(self) -> float | None:
        return self.notional / self.cum if self.cum else None


@dataclass
class Book:
    account: str
    """copytui's name of the account: what events carry."""
    trade_account: str
    symbols: SymbolMap
    orders: dict[str, OrderState] = field(default_factory=dict)
    by_client: dict[str, OrderState] = field(default_factory=dict)
    exec_ids: set[str] = field(default_factory=set)
    positions: dict[str, tuple[int, float]] = field(default_factory=dict)
    oco: OcoLinks = field(default_factory=OcoLinks)

    # ------------------------------------------------------------ lookups
    def find(self, client_id: str) -> OrderState | None:
        return self.by_client.get(client_id)

    def adopt(self, st: OrderState, client_id: str) -> None:
        st.client_id = client_id
        self.by_client[client_id] = st

    def working_ids(self) -> list[str]:
        return [sid for sid, st in self.orders.items() if st.working and st.announced]

    def info(self, st: OrderState) -> OrderInfo | None:
        if st.side is None:
            return None
        return OrderInfo(
            account=self.account,
            broker_order_id=st.broker_id,
            client_order_id=st.client_id,
            symbol=st.symbol,
            side=st.side,
            order_type=st.order_type or OrderType.MARKET,
            qty=max(st.qty, st.cum),
            filled_qty=st.cum,
            price=st.price,
            stop_price=st.stop,
            avg_fill_price=st.avg,
            status=copy_status(st.status, st.cum),
            oco_group=self.oco.group(st.broker_id),
        )

    def symbol_of(self, sierra: str, what: str) -> str:
        root = self.symbols.to_copytui(sierra)
        if root is None:
            raise FrameError(f"{what}: symbol {sierra!r} is unknown to copytui: add it to options.contracts")
        return root

    # ------------------------------------------------------------ orders
    def _state(self, u: OrderUpdate) -> OrderState:
        st = self.orders.get(u.server_id) if u.server_id else None
        if st is None and u.previous_server_id:
            st = self.orders.pop(u.previous_server_id, None)  # a replace gave the order a new id
            if st is not None:
                st.server_id = u.server_id
                self.orders[u.server_id] = st
        if st is None and u.client_id:
            st = self.by_client.get(u.client_id)
            if st is not None and u.server_id and st.server_id != u.server_id:
                self.orders.pop(st.server_id, None)
                st.server_id = u.server_id
                self.orders[u.server_id] = st
        if st is None:
            symbol = self.symbol_of(u.symbol, "ORDER_UPDATE")
            key = u.server_id or f"{NO_SERVER_ID}{u.client_id}"
            st = OrderState(key, symbol, SIDES.get(u.buy_sell), TYPES.get(u.order_type))
            self.orders[st.server_id] = st
        if u.client_id and st.client_id is None:
            st.client_id = u.client_id
            self.by_client[u.client_id] = st
        return st

    def on_order(self, u: OrderUpdate, recv_ns: int = 0, quiet: bool = False) -> list[AccountEvent]:
        """One ORDER_UPDATE of this account; ``quiet``: learn it without reporting (the first connect)."""
        unknown = not (u.server_id in self.orders or u.client_id in self.by_client)
        if unknown and u.reason in (Reason.ORDER_CANCEL_REJECTED, Reason.ORDER_CANCEL_REPLACE_REJECTED):
            return []  # a refused change of an order this book never saw: nothing happened to an order
        st = self._state(u)
        st.side = st.side or SIDES.get(u.buy_sell)
        self.oco.link(st.broker_id, u.oco_linked_id)  # before any event: the first one carries the group
        events: list[AccountEvent] = []
        fill = self._fill_from_update(st, u, recv_ns)
        stale = bool(u.latest and st.latest and u.latest < st.latest)
        if not stale:
            st.latest = u.latest or st.latest
            st.order_type = TYPES.get(u.order_type) or st.order_type
            limit, stop = prices_of(st.order_type, u.price1, u.price2)
            qty = u.order_qty if u.order_qty is not None else st.qty
            changed = (qty, limit, stop) != (st.qty, st.price, st.stop)
            st.qty, st.price, st.stop = qty, limit, stop
            if u.status and not (st.status in _FINAL and u.status not in _FINAL):
                st.status = u.status
            st.reason = u.info_text or st.reason
            if not st.final_sent and st.side is not None and st.order_type is not None and st.qty > 0:
                if not st.announced and u.status in _ANNOUNCE:
                    st.announced = True
                    events.append(self._event(st, EventKind.ORDER_NEW, recv_ns))
                elif st.announced and changed and st.working:
                    st.version += 1
                    events.append(self._event(st, EventKind.ORDER_MODIFIED, recv_ns))
        if fill is not None:
            events.append(fill)
        if not stale and not st.final_sent:
            events.extend(self._final(st, recv_ns))
        return [] if quiet else events

    def _fill_from_update(self, st: OrderState, u: OrderUpdate, recv_ns: int) -> AccountEvent | None:
        exec_id = u.last_fill_exec_id
        new_exec = bool(exec_id) and exec_id not in self.exec_ids and (u.last_fill_qty or 0) > 0
        if new_exec:
            self.exec_ids.add(exec_id)
            st.traded += u.last_fill_qty or 0
        target = max(u.filled_qty or 0, st.traded)
        size = max(u.order_qty or st.qty, u.filled_qty or 0)
        if size:  # two names for one execution (live and historical) must not fill past the order
            target = min(target, size)
        if target <= st.cum:
            return None
        delta = target - st.cum
        if new_exec and delta == u.last_fill_qty and u.last_fill_price is not None:
            px, fill_id = u.last_fill_price, exec_id
        elif u.avg_fill_price is not None and (u.filled_qty or 0) >= target:
            raw = (u.avg_fill_price * target - st.notional) / delta  # the rest at the price the average implies
            px, fill_id = instrument(st.symbol).round_price(raw), f"{st.server_id}-c{target}"
        elif u.last_fill_price is not None:
            px, fill_id = u.last_fill_price, exec_id or f"{st.server_id}-c{target}"
        else:
            raise FrameError(f"ORDER_UPDATE {st.server_id}: filled {target} with no fill or average price")
        return self._fill(st, delta, px, fill_id, recv_ns)

    def _fill(self, st: OrderState, qty: int, px: float, fill_id: str, recv_ns: int) -> AccountEvent:
        if st.side is None:
            raise FrameError(f"order {st.server_id}: a fill of {qty} but no BuySell known")
        cum, notional = st.cum + qty, st.notional + px * qty
        fields = self._fields(st, recv_ns)
        fields.update(cum_qty=cum, qty=max(st.qty, cum), avg_price=notional / cum)
        event = AccountEvent(kind=EventKind.FILL, fill_id=fill_id, fill_qty=qty, fill_price=px, **fields)
        st.cum, st.notional = cum, notional
        return event

    def _final(self, st: OrderState, recv_ns: int) -> list[AccountEvent]:
        if st.status == Status.FILLED:
            st.final_sent = st.cum >= st.qty > 0
            return []
        if st.status not in (Status.CANCELED, Status.REJECTED) or st.side is None:
            return []
        st.final_sent = True
        if st.status == Status.REJECTED:
            why = st.reason or "rejected by Sierra Chart"
            return [self._event(st, EventKind.ORDER_REJECTED, recv_ns, reason=why)]
        return [self._event(st, EventKind.ORDER_CANCELLED, recv_ns, reason=st.reason or None)]

    def _fields(self, st: OrderState, recv_ns: int) -> dict[str, Any]:
        return {
            "account": self.account,
            "order_id": st.broker_id or None,
            "client_order_id": st.client_id,
            "symbol": st.symbol,
            "side": st.side,
            "order_type": st.order_type,
            "qty": max(st.qty, st.cum),
            "price": st.price,
            "stop_price": st.stop,
            "version": st.version,
            "cum_qty": st.cum,
            "oco_group": self.oco.group(st.broker_id),
            "recv_ns": recv_ns or time.perf_counter_ns(),
            "wall_ns": time.time_ns(),
        }

    def _event(self, st: OrderState, kind: EventKind, recv_ns: int, reason: str | None = None) -> AccountEvent:
        return AccountEvent(kind=kind, reason=reason, **self._fields(st, recv_ns))

    # ------------------------------------------------------------ fills and positions
    def on_fill(self, f: HistoricalFill, recv_ns: int = 0, quiet: bool = False) -> list[AccountEvent]:
        """One execution from HISTORICAL_ORDER_FILL_RESPONSE: a FILL unless its quantity was counted."""
        if f.exec_id in self.exec_ids:
            return []
        st = self.orders.get(f.server_id)
        if st is None:
            side = SIDES.get(f.buy_sell)
            st = self.orders[f.server_id] = OrderState(f.server_id, self.symbol_of(f.symbol, "fill"), side, None)
        st.side = st.side or SIDES.get(f.buy_sell)
        if st.side is None:
            raise FrameError(
                f"HISTORICAL_ORDER_FILL_RESPONSE {f.exec_id}: BuySell {f.buy_sell} is neither buy nor sell"
            )
        assert f.price is not None  # messages.historical_fill refuses a fill without one
        self.exec_ids.add(f.exec_id)
        st.traded += f.qty
        target = min(st.traded, st.qty) if st.qty else st.traded
        if target <= st.cum:
            return []
        event = self._fill(st, target - st.cum, f.price, f.exec_id, recv_ns)
        if st.status == Status.FILLED and st.cum >= st.qty:
            st.final_sent = True
        return [] if quiet else [event]

    def on_position(self, p: PositionUpdate, recv_ns: int = 0, quiet: bool = False) -> list[AccountEvent]:
        symbol = self.symbol_of(p.symbol, "POSITION_UPDATE")
        avg = p.avg_price or 0.0 if p.qty else 0.0
        if self.positions.get(symbol, (0, 0.0)) == (p.qty, avg):
            return []
        self.positions[symbol] = (p.qty, avg)
        return [] if quiet else [self._position(symbol, p.qty, avg, recv_ns)]

    def flat_unless(self, held: set[str], recv_ns: int = 0) -> list[AccountEvent]:
        """Positions that are no longer among the server's (``held``): flat now."""
        events = []
        for symbol, (qty, _) in list(self.positions.items()):
            if qty and symbol not in held:
                self.positions[symbol] = (0, 0.0)
                events.append(self._position(symbol, 0, 0.0, recv_ns))
        return events

    def _position(self, symbol: str, qty: int, avg: float, recv_ns: int) -> AccountEvent:
        return AccountEvent(
            account=self.account,
            kind=EventKind.POSITION,
            symbol=symbol,
            position=qty,
            avg_price=avg if qty else None,
            recv_ns=recv_ns or time.perf_counter_ns(),
            wall_ns=time.time_ns(),
        )

    def ended_while_away(self, open_ids: set[str], recv_ns: int = 0) -> list[AccountEvent]:
        """Orders announced as working that the server no longer lists as open: filled (their fills
        came with the historical fills) or cancelled while the connection was down."""
        events: list[AccountEvent] = []
        for sid in self.working_ids():
            if sid in open_ids:
                continue
            st = self.orders[sid]
            if st.qty and st.cum >= st.qty:
                st.status, st.final_sent = Status.FILLED, True
                continue
            st.status, st.final_sent = Status.CANCELED, True
            why = "no longer open at Sierra Chart after a reconnect"
            events.append(self._event(st, EventKind.ORDER_CANCELLED, recv_ns, reason=why))
        return events
