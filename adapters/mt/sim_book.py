"""The trade requests of the stand-in's terminal (what MetaTrader's OrderSend and its trade server
do), over a :class:`Ledger`: volumes checked against the symbol's limits, a hedging sell closing
tickets before it opens one, requotes when asked for, refusals with MetaTrader's retcodes, and
every request in the :class:`AuditLog`, refused ones too.
"""

from __future__ import annotations

import random

from adapters.base import OrderRejected
from adapters.mt import retcodes
from adapters.mt.protocol import DealRow, Kind, OrderRow, PositionRow, SideName
from adapters.mt.sim_ledger import CFD, FUTURES, OPEN, Ledger, MtOrder, MtPosition, Result, SimSymbol, in_lots
from adapters.simkit import AuditLog, PaperExchange

__all__ = ["CFD", "FUTURES", "Result", "SimSymbol", "TerminalBook"]


class TerminalBook:
    """One terminal's account over paper account ``account`` of ``exchange``."""

    def __init__(
        self,
        exchange: PaperExchange,
        account: str,
        login: int,
        *,
        hedging: bool = False,
        symbols: tuple[SimSymbol, ...] = FUTURES,
        audit: AuditLog | None = None,
        requote_prob: float = 0.0,
    ) -> None:
        self.ledger = Ledger(exchange, account, login, hedging, symbols)
        self.exchange, self.login, self.hedging, self.symbols = exchange, login, hedging, symbols
        self.audit = audit
        self.requote_prob = requote_prob
        """Chance that a market order is answered REQUOTE (nothing executed)."""
        self.rng = random.Random(11)

    @property
    def orders(self) -> dict[int, MtOrder]:
        return self.ledger.orders

    @property
    def deals(self) -> list[DealRow]:
        return self.ledger.deals

    @property
    def positions(self) -> dict[int, MtPosition]:
        return self.ledger.positions

    def now_ms(self) -> int:
        return self.ledger.now_ms()

    def detach(self) -> None:
        self.ledger.detach()

    def position_rows(self, symbol: str = "") -> list[PositionRow]:
        return self.ledger.position_rows(symbol)

    def pending_rows(self, symbol: str = "") -> list[OrderRow]:
        return self.ledger.pending_rows(symbol)

    def deals_after(self, after_ms: int, after_ticket: int, limit: int) -> tuple[list[DealRow], bool]:
        return self.ledger.deals_after(after_ms, after_ticket, limit)

    def found(self, comment: str, magic: int, since_ms: int) -> list[OrderRow]:
        return self.ledger.found(comment, magic, since_ms)

    def net_lots(self, symbol: str) -> float:
        return self.ledger.net_lots(symbol)

    # ------------------------------------------------------------ trade requests (OrderSend)
    def _record(self, action: str, coid: str | None, result: Result, request: dict[str, object]) -> Result:
        if self.audit is not None:
            outcome = "accepted" if result.ok else "refused"
            reason = "" if result.ok else retcodes.describe(result.retcode, result.message)
            self.audit.record(str(self.login), action, coid, outcome, reason, request)
        return result

    def _check_volume(self, sym: SimSymbol, volume: float) -> str | None:
        steps = volume / sym.volume_step
        units = volume / sym.lots_per_unit
        if volume < sym.volume_min - 1e-9 or volume > sym.volume_max + 1e-9:
            return f"{volume:g} is outside {sym.volume_min:g}..{sym.volume_max:g}"
        if abs(steps - round(steps)) > 1e-6 or abs(units - round(units)) > 1e-6:
            return f"{volume:g} is not a multiple of the volume step {sym.volume_step:g}"
        return None

    def place(
        self,
        symbol: str,
        side: SideName,
        kind: Kind,
        volume: float,
        *,
        price: float = 0.0,
        stop: float = 0.0,
        sl: float = 0.0,
        tp: float = 0.0,
        comment: str = "",
        magic: int = 0,
        reduce_first: bool = False,
    ) -> Result:
        request: dict[str, object] = dict(
            symbol=symbol,
            side=side,
            kind=kind,
            volume=volume,
            price=price,
            stop=stop,
            sl=sl,
            tp=tp,
            comment=comment,
            magic=magic,
            reduce_first=reduce_first,
        )
        sym = self.ledger.by_name.get(symbol)
        if sym is None:
            return self._record("place", comment or None, Result(retcodes.INVALID, f"unknown symbol {symbol}"), request)
        bad = self._check_volume(sym, volume)
        if bad is not None:
            return self._record("place", comment or None, Result(retcodes.INVALID_VOLUME, bad), request)
        if (kind in ("limit", "stop_limit") and price <= 0) or (kind in ("stop", "stop_limit") and stop <= 0):
            return self._record(
                "place", comment or None, Result(retcodes.INVALID_PRICE, f"{kind} needs its prices"), request
            )
        if kind == "market" and self.requote_prob and self.rng.random() < self.requote_prob:
            return self._record("place", comment or None, Result(retcodes.REQUOTE, "requote"), request)
        made: list[int] = []
        left = volume
        if reduce_first and self.hedging and kind == "market":
            opposite = sorted(
                (p for p in self.positions.values() if p.symbol is sym and p.side != side), key=lambda p: p.ticket
            )
            for pos in opposite:
                take = in_lots(min(left, pos.volume))
                leg = MtOrder(
                    self.ledger.next_ticket(),
                    sym,
                    side,
                    "market",
                    take,
                    magic=magic,
                    comment=comment,
                    position=pos.ticket,
                    time_ms=self.ledger.now_ms(),
                )
                result = self.ledger.send(leg)
                made.extend(result.orders)
                if not result.ok:
                    return self._record(
                        "place", comment or None, Result(result.retcode, result.message, tuple(made)), request
                    )
                left = in_lots(left - take)
                if left <= 0:
                    break
        if left > 0:
            order = MtOrder(
                self.ledger.next_ticket(),
                sym,
                side,
                kind,
                left,
                price=price,
                stop=stop,
                sl=sl,
                tp=tp,
                magic=magic,
                comment=comment,
                time_ms=self.ledger.now_ms(),
            )
            result = self.ledger.send(order)
            made.extend(result.orders)
            if not result.ok:
                return self._record(
                    "place", comment or None, Result(result.retcode, result.message, tuple(made)), request
                )
        code = retcodes.DONE if kind == "market" else retcodes.PLACED
        return self._record("place", comment or None, Result(code, "", tuple(made)), request)

    def modify(self, ticket: int, price: float, stop: float, sl: float, tp: float) -> Result:
        request: dict[str, object] = dict(ticket=ticket, price=price, stop=stop, sl=sl, tp=tp)
        order = self.orders.get(ticket)
        if order is None or order.state not in OPEN or order.kind == "market":
            return self._record("modify", None, Result(retcodes.INVALID_ORDER, f"no working order #{ticket}"), request)
        new_price = (price or order.price) if order.kind in ("limit", "stop_limit") else 0.0
        new_stop = (stop or order.stop) if order.kind in ("stop", "stop_limit") else 0.0
        if (new_price, new_stop, sl, tp) == (order.price, order.stop, order.sl, order.tp):
            return self._record("modify", order.comment or None, Result(retcodes.NO_CHANGES), request)
        order.sl, order.tp = sl, tp
        if (new_price, new_stop) != (order.price, order.stop):
            assert order.paper_id is not None
            try:
                self.exchange.modify(
                    self.ledger.account, order.paper_id, price=new_price or None, stop_price=new_stop or None
                )
            except OrderRejected as exc:
                return self._record("modify", order.comment or None, Result(retcodes.INVALID, str(exc)), request)
        else:
            self.ledger.on_order(order.row())  # only SL/TP moved: the order's update
        return self._record("modify", order.comment or None, Result(retcodes.DONE), request)

    def cancel(self, ticket: int) -> Result:
        order = self.orders.get(ticket)
        if order is None or order.state not in OPEN or order.paper_id is None:
            return self._record(
                "cancel", None, Result(retcodes.INVALID_ORDER, f"no working order #{ticket}"), {"ticket": ticket}
            )
        try:
            self.exchange.cancel(self.ledger.account, order.paper_id)
        except OrderRejected as exc:
            return self._record(
                "cancel", order.comment or None, Result(retcodes.INVALID_ORDER, str(exc)), {"ticket": ticket}
            )
        return self._record("cancel", order.comment or None, Result(retcodes.DONE), {"ticket": ticket})

    def close(self, position: int, volume: float, comment: str = "", magic: int = 0) -> Result:
        request: dict[str, object] = dict(position=position, volume=volume, comment=comment, magic=magic)
        pos = self.positions.get(position)
        if pos is None:
            return self._record(
                "close", comment or None, Result(retcodes.POSITION_CLOSED, f"no position #{position}"), request
            )
        volume = volume or pos.volume
        if volume > pos.volume + 1e-9 or self._check_volume(pos.symbol, volume):
            return self._record(
                "close",
                comment or None,
                Result(retcodes.INVALID_CLOSE_VOLUME, f"{volume:g} of {pos.volume:g}"),
                request,
            )
        side: SideName = "sell" if pos.side == "buy" else "buy"
        leg = MtOrder(
            self.ledger.next_ticket(),
            pos.symbol,
            side,
            "market",
            volume,
            magic=magic,
            comment=comment,
            position=pos.ticket if self.hedging else 0,
            time_ms=self.ledger.now_ms(),
        )
        return self._record("close", comment or None, self.ledger.send(leg), request)

    def sltp(self, position: int, sl: float, tp: float) -> Result:
        pos = self.positions.get(position)
        if pos is None:
            return self._record(
                "sltp", None, Result(retcodes.POSITION_CLOSED, f"no position #{position}"), {"position": position}
            )
        pos.sl, pos.tp = sl, tp
        return self._record("sltp", None, Result(retcodes.DONE), {"position": position, "sl": sl, "tp": tp})

    def flatten(self, symbol: str = "") -> Result:
        for order in list(self.orders.values()):
            if order.state in OPEN and order.kind != "market" and symbol in ("", order.symbol.name):
                self.cancel(order.ticket)
        for pos in sorted(self.positions.values(), key=lambda p: p.ticket):
            if symbol in ("", pos.symbol.name) and pos.ticket in self.positions:
                result = self.close(pos.ticket, 0.0, "copytui flatten")
                if not result.ok:
                    return result
        return Result(retcodes.DONE)
