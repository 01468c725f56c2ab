"""From validated gateway payloads to copytui AccountEvents, with per-order cumulative fills.

The gateway reports an order's progress twice: ``GatewayUserOrder.fillVolume`` (with the average
``filledPrice``) and one ``GatewayUserTrade`` per execution. Which arrives first is not documented,
so the cumulative quantity of an order grows from whichever says more: a trade adds its size, an
order update may raise it to ``fillVolume``. Each increase becomes exactly one FILL event, so a
duplicated, replayed or resynced payload never produces a second fill.

An order is announced (ORDER_NEW) once it is Open or Pending. A cancel on its way (7
PendingCancellation), a bracket child not yet active (8 Suspended) and a status this copytui does
not know keep the order's state and its fills, but announce nothing: copying a stop that the
leader's gateway holds inactive would make it live at the follower. A side or type that is unknown
is taken from what is already known of the order (place() tells it); an order whose side or type
stays unknown is tracked and its fills counted once they can be, never guessed. A trailing stop's
moves come as order updates with a new ``stopPrice``: each is an ORDER_MODIFIED.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from adapters.projectx.payloads import GwOrder, GwPosition, GwStatus, GwTrade, PayloadError
from copytui.instruments import instrument
from copytui.models import AccountEvent, EventKind, OrderType, Side

_FINAL = {GwStatus.FILLED, GwStatus.CANCELLED, GwStatus.EXPIRED, GwStatus.REJECTED}
_ANNOUNCE = {GwStatus.OPEN, GwStatus.PENDING}


def _before(new: datetime | None, seen: datetime | None) -> bool:
    """``new`` is older than ``seen``; a timestamp without an offset counts as UTC (it cannot be compared otherwise)."""
    if new is None or seen is None:
        return False
    return new.replace(tzinfo=new.tzinfo or UTC) < seen.replace(tzinfo=seen.tzinfo or UTC)


@dataclass
class OrderState:
    order_id: int
    symbol: str
    side: Side | None  # None while the gateway's side value is unknown to this copytui
    order_type: OrderType | None = None
    size: int = 0
    limit: float | None = None
    stop: float | None = None
    trail: float | None = None
    custom_tag: str | None = None
    status: GwStatus = GwStatus.NONE
    announced: bool = False
    version: int = 0
    cum: int = 0  # filled quantity already turned into FILL events
    notional: float = 0.0  # sum of price x qty of those events
    traded: int = 0  # sum of trade sizes seen
    final_sent: bool = False
    updated: datetime | None = None  # updateTimestamp of the newest update applied


@dataclass
class Translator:
    account: str
    account_id: int
    orders: dict[int, OrderState] = field(default_factory=dict)
    trade_ids: set[int] = field(default_factory=set)
    positions: dict[str, tuple[int, float]] = field(default_factory=dict)
    last_trade_ns: int = 0

    # ------------------------------------------------------------ knowledge
    def learn(
        self,
        order_id: int,
        custom_tag: str | None,
        symbol: str,
        side: Side | None,
        order_type: OrderType | None,
        size: int,
    ) -> None:
        """What place() knows before the hub says anything: the order's tag above all."""
        st = self.orders.get(order_id)
        if st is None:
            self.orders[order_id] = OrderState(order_id, symbol, side, order_type, size, custom_tag=custom_tag)
        elif st.custom_tag is None:
            st.custom_tag = custom_tag

    def working_ids(self) -> list[int]:
        return [oid for oid, st in self.orders.items() if st.announced and not st.final_sent]

    def tag_of(self, order_id: int) -> str | None:
        st = self.orders.get(order_id)
        return st.custom_tag if st else None

    def id_of_tag(self, custom_tag: str) -> int | None:
        for oid, st in self.orders.items():
            if st.custom_tag == custom_tag:
                return oid
        return None

    # --------------------------------------------------------------- events
    def _base(self, st: OrderState, recv_ns: int, wall_ns: int) -> dict[str, Any]:
        return dict(
            account=self.account,
            order_id=str(st.order_id),
            client_order_id=st.custom_tag,
            symbol=st.symbol,
            side=st.side,
            order_type=st.order_type,
            qty=max(st.size, st.cum),
            price=st.limit,
            stop_price=st.stop,
            trail=st.trail,
            version=st.version,
            cum_qty=st.cum,
            recv_ns=recv_ns,
            wall_ns=wall_ns or time.time_ns(),
        )

    def _fill(self, st: OrderState, qty: int, price: float, fill_id: str, recv_ns: int, wall_ns: int) -> AccountEvent:
        """The FILL event; ``st`` counts it only when it is a valid event (else PayloadError, ``st`` untouched)."""
        cum, notional = st.cum + qty, st.notional + price * qty
        base = {**self._base(st, recv_ns, wall_ns), "cum_qty": cum, "qty": max(st.size, cum)}
        try:
            ev = AccountEvent(
                kind=EventKind.FILL,
                fill_id=fill_id,
                fill_qty=qty,
                fill_price=price,
                avg_price=notional / cum,
                **base,
            )
        except ValidationError as exc:
            why = exc.errors()[0]["msg"]
            raise PayloadError(f"order {st.order_id}: a fill of {qty} at {price} is not a valid fill: {why}") from None
        st.cum, st.notional = cum, notional
        return ev

    def on_order(self, p: GwOrder, recv_ns: int = 0) -> list[AccountEvent]:
        st = self.orders.get(p.id)
        if st is None:
            st = OrderState(p.id, p.symbol, p.copy_side, p.order_type)
            self.orders[p.id] = st
        if _before(p.updateTimestamp, st.updated):
            return []  # an older snapshot (a resync racing the live stream): the newer state stands
        implied: float | None = None
        volume = p.fillVolume  # None: the gateway did not say, so nothing is inferred from it
        if volume is not None and volume > st.cum and p.filledPrice is not None:
            # the order says more was filled than the trades told: the rest at the implied price
            try:
                raw = (p.filledPrice * volume - st.notional) / (volume - st.cum)
                implied = instrument(p.symbol).round_price(raw)
            except (OverflowError, ValueError):  # NaN, infinite, or beyond a float
                raise PayloadError(
                    f"GatewayUserOrder {p.id}: filledPrice {p.filledPrice} x fillVolume {volume} "
                    "gives no usable fill price"
                ) from None
        st.updated = p.updateTimestamp or st.updated
        st.symbol = p.symbol
        st.side = p.copy_side or st.side
        st.order_type = p.order_type or st.order_type
        if p.customTag and not st.custom_tag:
            st.custom_tag = p.customTag
        events: list[AccountEvent] = []
        wall = p.wall_ns
        changed = (p.size, p.limitPrice, p.stopPrice, p.trail) != (st.size, st.limit, st.stop, st.trail)
        st.size, st.limit, st.stop, st.trail = p.size, p.limitPrice, p.stopPrice, p.trail
        if implied is not None and volume is not None and st.side is not None:
            events.append(self._fill(st, volume - st.cum, implied, f"{p.id}-v{volume}", recv_ns, wall))
        st.status = p.status
        if p.status in _FINAL:
            if not st.final_sent:
                events.extend(self._final(st, p.status, recv_ns, wall))
        elif not st.final_sent and st.side is not None and st.order_type is not None:
            if not st.announced and p.status in _ANNOUNCE:
                st.announced = True
                events.append(AccountEvent(kind=EventKind.ORDER_NEW, **self._base(st, recv_ns, wall)))
            elif st.announced and changed:
                st.version += 1
                events.append(AccountEvent(kind=EventKind.ORDER_MODIFIED, **self._base(st, recv_ns, wall)))
        return events

    def _final(self, st: OrderState, status: GwStatus, recv_ns: int, wall: int) -> list[AccountEvent]:
        if status is GwStatus.FILLED:
            st.final_sent = st.cum >= st.size
            return []
        st.final_sent = True
        kind = EventKind.ORDER_REJECTED if status is GwStatus.REJECTED else EventKind.ORDER_CANCELLED
        reason = {
            GwStatus.REJECTED: "rejected by the ProjectX gateway",
            GwStatus.EXPIRED: "expired at the ProjectX gateway",
        }.get(status)
        return [AccountEvent(kind=kind, reason=reason, **self._base(st, recv_ns, wall))]

    def on_trade(self, t: GwTrade, recv_ns: int = 0) -> list[AccountEvent]:
        if t.voided or t.id in self.trade_ids:
            return []
        st = self.orders.get(t.orderId)
        if st is None:
            st = OrderState(t.orderId, t.symbol, t.copy_side)
            self.orders[t.orderId] = st
        st.side = st.side or t.copy_side
        if st.side is None:
            raise PayloadError(
                f"GatewayUserTrade {t.id}: side {', '.join(t.unknown_values)} is unknown to this copytui and order "
                f"{t.orderId} has not told its own yet"
            )
        traded = st.traded + t.size
        # the fill first: a trade that makes no valid event is not counted at all
        ev = self._fill(st, traded - st.cum, t.price, str(t.id), recv_ns, t.wall_ns) if traded > st.cum else None
        self.trade_ids.add(t.id)
        self.last_trade_ns = max(self.last_trade_ns, t.wall_ns)
        st.traded = traded
        if ev is None:
            return []  # the order update already counted this execution
        if st.status is GwStatus.FILLED and st.cum >= st.size:
            st.final_sent = True
        return [ev]

    def on_position(self, p: GwPosition, recv_ns: int = 0) -> list[AccountEvent]:
        qty = p.signed_size
        avg = p.averagePrice or 0.0
        if self.positions.get(p.symbol) == (qty, avg):
            return []
        self.positions[p.symbol] = (qty, avg)
        return [
            AccountEvent(
                account=self.account,
                kind=EventKind.POSITION,
                symbol=p.symbol,
                position=qty,
                avg_price=avg if qty else None,
                recv_ns=recv_ns,
                wall_ns=time.time_ns(),
            )
        ]

    def flat(self, symbol: str, recv_ns: int = 0) -> list[AccountEvent]:
        """A position that disappeared from the gateway's open positions while the hub was away."""
        if self.positions.get(symbol, (0, 0.0))[0] == 0:
            return []
        self.positions[symbol] = (0, 0.0)
        return [
            AccountEvent(
                account=self.account,
                kind=EventKind.POSITION,
                symbol=symbol,
                position=0,
                recv_ns=recv_ns,
                wall_ns=time.time_ns(),
            )
        ]
