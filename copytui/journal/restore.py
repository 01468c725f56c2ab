"""Row decoding for a restart: what the engine rebuilds its state from, read once before any new
event, as typed values (the engine never sees a row or a column name).

The journal stores enums by value and leaves optional columns NULL; decoding turns them back into
the canonical types of :mod:`copytui.models`, so a journal whose rows cannot be decoded fails the
start with a clear message instead of half-restoring.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field

from copytui.journal.schema import JournalError
from copytui.models import FollowerOrder, OrderAction, OrderStatus, OrderType, Side, SignalKind

# Statuses whose quantity counts towards what the follower holds or will hold.
LIVE_STATUSES = (
    OrderStatus.PENDING,
    OrderStatus.SENT,
    OrderStatus.WORKING,
    OrderStatus.PARTIALLY_FILLED,
    OrderStatus.FILLED,
    OrderStatus.UNKNOWN,
)

# The kinds of signal that carry one of the leader's own orders; corrections and operator signals
# are copytui's own and hold nothing the leader did.
LEADER_ORDER_KINDS = (SignalKind.NEW, SignalKind.MODIFY, SignalKind.CANCEL, SignalKind.FILL)


@dataclass(frozen=True, slots=True)
class JournaledSignal:
    """One of the leader's order signals as journaled: enough to rebuild the leader's working
    orders, their filled quantities and its net position per symbol."""

    id: str
    kind: SignalKind
    leader_order_id: str
    """The leader's order id; ``""`` when the signal had none."""
    symbol: str
    side: Side
    order_type: OrderType
    qty: int
    price: float | None
    stop_price: float | None
    cum_qty: int
    """The order's cumulative filled quantity when the signal was made (fills)."""
    leader_position: int
    """The leader's net position in ``symbol`` after the signal (fills)."""
    trail: float | None = None
    """A trailing stop's distance from the market, when the leader's broker gave it."""


@dataclass(frozen=True, slots=True)
class JournaledIntent:
    """One follower order as journaled, with what the broker answered so far."""

    order: FollowerOrder
    """As the router made it; ``leader_symbol`` is the follower's symbol when the row has none."""
    status: OrderStatus
    filled_qty: int
    avg_fill_price: float | None
    broker_order_id: str | None


@dataclass(frozen=True, slots=True)
class RestartState:
    """Everything the engine reads from the journal when it starts, in journal order."""

    seen_signal_ids: set[str]
    """Every signal id already journaled, of any leader: a replayed event maps to one and is dropped."""
    leader_signals: tuple[JournaledSignal, ...]
    """The leader's order signals (see ``LEADER_ORDER_KINDS``), oldest first."""
    intents: dict[str, tuple[JournaledIntent, ...]] = field(default_factory=dict)
    """Per follower asked for (every one has an entry, maybe empty): its orders, oldest first."""


_SIGNAL_COLUMNS = (
    "id, kind, leader_order_id, symbol, side, order_type, qty, price, stop_price, cum_qty, leader_position, trail"
)
_INTENT_COLUMNS = (
    "follower, signal_id, client_order_id, action, symbol, side, qty, order_type, price, stop_price, leader_symbol,"
    " leader_order_id, target_client_order_id, broker_order_id, reference_price, status, filled_qty, avg_fill_price,"
    " trail"
)

SignalRow = tuple[str, str, str | None, str, str | None, str | None, int | None, float | None, float | None,
                  int | None, int | None, float | None]  # fmt: skip
IntentRow = tuple[str, str, str, str, str, str, int, str, float | None, float | None, str | None, str | None,
                  str | None, str | None, float | None, str, int | None, float | None, float | None]  # fmt: skip


def read_restart_state(db: sqlite3.Connection, leader: str, followers: Iterable[str]) -> RestartState:
    """Decode the rows a restart needs: see :class:`RestartState`. ``db`` must hold every write
    (the journal flushes before it calls this)."""
    names = list(dict.fromkeys(followers))
    seen = {sid for (sid,) in db.execute("SELECT id FROM signals")}
    kinds = ",".join("?" * len(LEADER_ORDER_KINDS))
    signals = tuple(
        _signal(row)
        for row in db.execute(
            f"SELECT {_SIGNAL_COLUMNS} FROM signals WHERE leader = ? AND kind IN ({kinds}) ORDER BY rowid",
            (leader, *LEADER_ORDER_KINDS),
        )
    )
    by_follower: dict[str, list[JournaledIntent]] = {name: [] for name in names}
    if names:
        wanted = ",".join("?" * len(names))
        for row in db.execute(
            f"SELECT {_INTENT_COLUMNS} FROM intents WHERE follower IN ({wanted}) ORDER BY rowid", names
        ):
            by_follower[row[0]].append(_intent(row))
    return RestartState(seen, signals, {name: tuple(rows) for name, rows in by_follower.items()})


def read_unresolved(db: sqlite3.Connection) -> list[JournaledIntent]:
    """Every follower order still waiting on the broker (pending, sent, unknown), oldest first."""
    waiting = (OrderStatus.PENDING, OrderStatus.SENT, OrderStatus.UNKNOWN)
    rows = db.execute(f"SELECT {_INTENT_COLUMNS} FROM intents WHERE status IN (?,?,?) ORDER BY rowid", waiting)
    return [_intent(row) for row in rows]


def _signal(row: SignalRow) -> JournaledSignal:
    sid, kind, oid, symbol, side, order_type, qty, price, stop_price, cum_qty, position, trail = row
    if side is None:
        raise JournalError(f"journaled signal {sid} cannot be read back: it has no side")
    try:
        return JournaledSignal(
            id=sid,
            kind=SignalKind(kind),
            leader_order_id=oid or "",
            symbol=symbol,
            side=Side(side),
            order_type=OrderType(order_type or OrderType.MARKET),
            qty=int(qty or 0),
            price=price,
            stop_price=stop_price,
            cum_qty=int(cum_qty or 0),
            leader_position=int(position or 0),
            trail=trail,
        )
    except ValueError as exc:
        raise JournalError(f"journaled signal {sid} cannot be read back: {exc}") from None


def _intent(row: IntentRow) -> JournaledIntent:
    (
        follower, signal_id, client_order_id, action, symbol, side, qty, order_type, price, stop_price,
        leader_symbol, leader_order_id, target_client_order_id, broker_order_id, reference_price, status,
        filled_qty, avg_fill_price, trail,
    ) = row  # fmt: skip
    try:
        order = FollowerOrder(
            follower=follower,
            signal_id=signal_id,
            client_order_id=client_order_id,
            action=OrderAction(action),
            symbol=symbol,
            side=Side(side),
            qty=qty,
            order_type=OrderType(order_type),
            price=price,
            stop_price=stop_price,
            leader_symbol=leader_symbol or symbol,
            leader_order_id=leader_order_id,
            target_client_order_id=target_client_order_id,
            broker_order_id=broker_order_id,
            reference_price=reference_price,
            status=OrderStatus(status),
            trail=trail,
        )
    except ValueError as exc:  # pydantic's ValidationError included
        raise JournalError(f"journaled order {client_order_id} of {follower} cannot be read back: {exc}") from None
    return JournaledIntent(order, order.status, filled_qty or 0, avg_fill_price, broker_order_id)
