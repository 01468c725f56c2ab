"""P&L per follower from its fills and marks, the same for every broker.

Realised: the follower's own fills netted by :func:`copytui.models.apply_fill`, times the contract's
point value. Unrealised: the open position against the contract's mark, the last price seen for it
(any account's fill on it or on the contract it is priced from, e.g. MNQ from NQ, or the price a
broker's own P&L figure implies) until a market-data source exists.

A position already held at start is seeded from the broker's report; without an average price its
P&L is unknown. Unrealised P&L already there at start (valued at the first mark seen) is not part of
the session's P&L, which is what the daily loss limit watches. The broker's own figure, where it
sends one, is kept beside ours and compared with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from copytui.instruments import Instrument, UnknownSymbol, instrument, price_source
from copytui.models import AccountEvent, EventKind, Position, Side, apply_fill


@dataclass(frozen=True, slots=True)
class PnlFigures:
    realized: float
    """Realised since the session started, in account currency (known positions only)."""
    unrealized: float
    """Unrealised of the open positions at their marks (known positions with a mark only)."""
    known: bool
    """False when a position's average price or mark is unknown: the figures leave it out."""
    broker: float | None
    """The broker's own realised-since-start plus unrealised, None when the broker sends none."""


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the engine should alert: ``level``, ``kind``, ``message`` as in ``raise_alert``."""

    level: str
    kind: str
    message: str


@dataclass(slots=True)
class Ledger:
    """One follower's position and P&L in one contract, since the session started."""

    qty: int = 0
    avg: float = 0.0
    realized: float = 0.0
    known: bool = True
    opening: float | None = 0.0
    """Unrealised P&L already there at start; None until the first mark values it."""
    mismatch: tuple[int, int] | None = None
    """(ours, broker's) quantity on the last check when they differed."""


@dataclass
class FollowerPnl:
    name: str
    ledgers: dict[str, Ledger] = field(default_factory=dict)
    seeded: bool = False
    fills: int = 0
    unknown: list[str] = field(default_factory=list)
    """Why the P&L cannot be computed, one phrase per cause (empty: it can)."""
    broker_start: dict[str, float] = field(default_factory=dict)
    """The broker's realised figure per contract at start."""
    alerted: set[str] = field(default_factory=set)
    """Contracts whose difference from the broker's figure was already alerted."""
    broker_figure: float | None = None
    """The broker's own P&L since start as of the last read, None when it sends none."""

    def lose(self, ledger: Ledger, why: str) -> None:
        ledger.known = False
        if why not in self.unknown:
            self.unknown.append(why)


def _spec(symbol: str) -> Instrument | None:
    try:
        return instrument(symbol)
    except UnknownSymbol:
        return None


class PnlBook:
    """Every follower's P&L and the marks they share."""

    def __init__(self) -> None:
        self._marks: dict[str, float] = {}  # by price source
        self._followers: dict[str, FollowerPnl] = {}
        self._waiting: dict[str, list[tuple[str, Ledger]]] = {}  # price source -> seeded, not yet valued
        self._other_fills: dict[str, set[str]] = {}  # follower -> fill ids of orders not copytui's

    # ---------------------------------------------------------------- marks
    def note_mark(self, symbol: str, price: float) -> None:
        base = price_source(symbol)
        self._marks[base] = price
        waiting = self._waiting.pop(base, None)
        for sym, ledger in waiting or ():
            ledger.opening = self._unrealized(sym, ledger)

    def mark_from(self, ev: AccountEvent) -> None:
        """Any account's fill prices its contract (and the contracts priced from it)."""
        if ev.kind is EventKind.FILL and ev.symbol and ev.fill_price is not None:
            self.note_mark(ev.symbol, ev.fill_price)

    def mark(self, symbol: str) -> float | None:
        return self._marks.get(price_source(symbol))

    def _note_broker_marks(self, positions: Iterable[Position]) -> None:
        """The price a broker's own unrealised figure implies is a mark like any other."""
        for p in positions:
            spec = _spec(p.symbol)
            if spec is None or not p.qty or not p.avg_price or p.unrealized_pnl is None:
                continue
            self.note_mark(p.symbol, spec.round_price(p.avg_price + p.unrealized_pnl / (p.qty * spec.point_value)))

    def _unrealized(self, symbol: str, ledger: Ledger) -> float | None:
        if ledger.qty == 0:
            return 0.0
        mark, spec = self.mark(symbol), _spec(symbol)
        if mark is None or spec is None:
            return None
        return (mark - ledger.avg) * ledger.qty * spec.point_value

    # ---------------------------------------------------------------- fills
    def follower(self, name: str) -> FollowerPnl:
        fp = self._followers.get(name)
        if fp is None:
            fp = self._followers[name] = FollowerPnl(name)
        return fp

    def fill(self, name: str, symbol: str, side: Side, qty: int, price: float) -> None:
        """One fill of the follower's own: it marks the contract, then moves the position."""
        self.note_mark(symbol, price)  # first, so a position held at start is valued before it changes
        fp = self.follower(name)
        fp.fills += 1
        ledger = fp.ledgers.setdefault(symbol, Ledger())
        spec = _spec(symbol)
        if spec is None:
            fp.lose(ledger, f"it traded {symbol}, a contract copytui has no point value for")
            return
        ledger.qty, ledger.avg, points = apply_fill(ledger.qty, ledger.avg, side.sign * qty, price)
        ledger.realized += points * spec.point_value

    def other_fill(self, name: str, ev: AccountEvent) -> None:
        """A fill of an order copytui did not place (a flatten, a manual trade): it moves the
        position and the P&L all the same; a fill id seen before is not counted again."""
        if ev.symbol is None or ev.side is None or ev.fill_price is None or ev.fill_qty <= 0:
            return
        key = ev.fill_id or f"{ev.order_id}-{ev.cum_qty}"
        seen = self._other_fills.setdefault(name, set())
        if key in seen:
            return
        seen.add(key)
        self.fill(name, ev.symbol, ev.side, ev.fill_qty, ev.fill_price)

    def seed(self, name: str, positions: Iterable[Position]) -> list[str]:
        """Start from the broker's positions; returns why the P&L cannot be computed (empty: it can)."""
        positions = list(positions)
        self._note_broker_marks(positions)
        fp = self.follower(name)
        if fp.fills:
            fp.unknown.append("it traded before its positions could be read")
        fp.ledgers = {}
        fp.seeded = True
        for p in positions:
            fp.broker_start[p.symbol] = p.realized_pnl or 0.0
        fp.broker_figure = self._broker_figure(fp, positions)
        for p in positions:
            ledger = fp.ledgers[p.symbol] = Ledger(qty=p.qty, avg=p.avg_price if p.qty else 0.0)
            if not p.qty:
                continue
            if _spec(p.symbol) is None:
                fp.lose(ledger, f"it holds {p.qty:+d} {p.symbol}, a contract copytui has no point value for")
            elif not p.avg_price:
                fp.lose(ledger, f"it holds {p.qty:+d} {p.symbol} and its broker reports no average price for it")
            else:
                ledger.opening = self._unrealized(p.symbol, ledger)
                if ledger.opening is None:
                    self._waiting.setdefault(price_source(p.symbol), []).append((p.symbol, ledger))
        return list(fp.unknown)

    # -------------------------------------------------------------- figures
    def figures(self, name: str) -> PnlFigures:
        fp = self._followers.get(name)
        realized = unrealized = 0.0
        known = fp is not None and fp.seeded and not fp.unknown
        for sym, ledger in (fp.ledgers if fp else {}).items():
            if not ledger.known:
                continue
            realized += ledger.realized
            u = self._unrealized(sym, ledger)
            if u is None:
                known = False
            else:
                unrealized += u
        return PnlFigures(realized, unrealized, known, fp.broker_figure if fp else None)

    @staticmethod
    def _broker_figure(fp: FollowerPnl, positions: Iterable[Position]) -> float | None:
        sent = [p for p in positions if p.realized_pnl is not None or p.unrealized_pnl is not None]
        if not sent:
            return None
        return sum(
            (p.realized_pnl or 0.0) - fp.broker_start.get(p.symbol, 0.0) + (p.unrealized_pnl or 0.0) for p in sent
        )

    def session_pnl(self, name: str) -> float | None:
        """Realised plus unrealised since start, what the daily loss limit watches; None when unknown."""
        fp = self._followers.get(name)
        if fp is None or not fp.seeded or fp.unknown:
            return None
        total = 0.0
        for sym, ledger in fp.ledgers.items():
            u = self._unrealized(sym, ledger)
            # a position held at start and not yet valued has not moved as far as copytui can see
            moved = 0.0 if u is None or ledger.opening is None else u - ledger.opening
            total += ledger.realized + moved
        return total

    def unknown(self, name: str) -> list[str]:
        fp = self._followers.get(name)
        return list(fp.unknown) if fp else []

    # ---------------------------------------------------- against the broker
    def check(self, name: str, broker: str, positions: Mapping[str, Position], settled: bool) -> list[Notice]:
        """Compare with the broker's freshly read positions.

        A quantity that differs on two checks running with nothing in flight means fills copytui did
        not see (a flatten, a trade made at the broker): the position is taken from the broker.
        Where the broker sends its own P&L, a difference above a tick's value per contract held is
        alerted once per contract.
        """
        fp = self._followers.get(name)
        if fp is None or not fp.seeded:
            return []
        self._note_broker_marks(positions.values())
        fp.broker_figure = self._broker_figure(fp, positions.values())
        notices: list[Notice] = []
        for sym in sorted(set(fp.ledgers) | set(positions)):
            ledger = fp.ledgers.setdefault(sym, Ledger())
            p = positions.get(sym)
            held = p.qty if p else 0
            if held != ledger.qty:
                if settled and ledger.mismatch == (ledger.qty, held):
                    notices.append(self._resync(fp, sym, ledger, p))
                else:
                    ledger.mismatch = (ledger.qty, held)
                continue
            ledger.mismatch = None
            spec = _spec(sym)
            if p is None or p.realized_pnl is None or spec is None or not ledger.known or sym in fp.alerted:
                continue
            ours = ledger.realized
            theirs = p.realized_pnl - fp.broker_start.get(sym, 0.0)
            if p.unrealized_pnl is not None:
                ours += self._unrealized(sym, ledger) or 0.0
                theirs += p.unrealized_pnl
            if abs(ours - theirs) > spec.tick_value * max(1, abs(held)):
                fp.alerted.add(sym)
                notices.append(
                    Notice(
                        "warning",
                        "P&L differs",
                        f"{name} {sym}: copytui's P&L {ours:+,.2f}, {broker}'s own {theirs:+,.2f} since start",
                    )
                )
        return notices

    def _resync(self, fp: FollowerPnl, sym: str, ledger: Ledger, p: Position | None) -> Notice:
        was, held = ledger.qty, p.qty if p else 0
        avg = (p.avg_price if p else 0.0) or 0.0
        mark, spec = self.mark(sym), _spec(sym)
        valued = ""
        if was and (held - was > 0) != (was > 0):  # the unseen trades closed some of the position
            if mark is None or spec is None:
                fp.lose(ledger, f"{sym} was closed by trades copytui did not see, at an unknown price")
            else:
                ledger.realized += apply_fill(was, ledger.avg, held - was, mark)[2] * spec.point_value
                valued = f"; the closed part is valued at the last price {spec.format_price(mark)}"
        reduced_only = held != 0 and (held > 0) == (was > 0) and abs(held) < abs(was)
        ledger.avg = avg or (ledger.avg if reduced_only else 0.0)
        ledger.qty, ledger.mismatch = held, None
        if held and spec is None:
            fp.lose(ledger, f"it holds {held:+d} {sym}, a contract copytui has no point value for")
        elif held and not ledger.avg:
            fp.lose(ledger, f"it holds {held:+d} {sym} and its broker reports no average price for it")
        return Notice(
            "warning",
            "P&L resynced",
            f"{fp.name} {sym}: the broker holds {held:+d} where copytui's fills give {was:+d} (fills copytui "
            f"did not see: a flatten or a trade made at the broker); P&L goes on from the broker's position{valued}",
        )
