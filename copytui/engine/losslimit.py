"""The daily loss limit per follower, kept from copytui's own P&L (the same for every broker).

A limit that the P&L cannot keep (a position whose average price or mark is unknown) refuses the
follower for the session, never silently off; a reached limit flattens and stops it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from copytui.engine.blotter import AlertLevel, Blotter
from copytui.engine.follower import Follower
from copytui.engine.pnl import PnlBook
from copytui.journal import Journal


class LossLimits:
    def __init__(
        self, journal: Journal, blotter: Blotter, pnl: PnlBook, stop_for_risk: Callable[[str, str], Awaitable[None]]
    ) -> None:
        self.journal = journal
        self.blotter = blotter
        self.pnl = pnl
        self.stop_for_risk = stop_for_risk

    def start(self, f: Follower) -> None:
        """Our P&L starts from the broker's positions just read; a daily loss limit that P&L cannot
        keep refuses the follower (never silently off)."""
        unknown = self.pnl.seed(f.name, f.positions.values())
        f.state.loss_baseline = self.pnl.session_pnl(f.name)
        if unknown:
            self._refuse_unknown(f, unknown, "refused at start")

    async def check(self, f: Follower, settled: bool) -> bool:
        """After a reconcile read the follower's positions; True when the limit stopped it now."""
        book, name = self.pnl, f.name
        if f.state.loss_baseline is None and not book.unknown(name):  # positions unreadable at start
            self.start(f)
            return False
        for n in book.check(name, f.adapter.broker, f.positions, settled=settled):
            self.blotter.alert(n.level, name, n.kind, n.message)
        limit = f.state.cfg.risk.daily_loss_limit
        pnl = book.session_pnl(name)
        if pnl is None or f.state.loss_baseline is None:
            self._refuse_unknown(f, book.unknown(name), "stopped")
            return False
        loss = f.state.loss_baseline - pnl
        if limit is not None and loss >= limit and not f.state.stopped_by_risk:
            await self.stop_for_risk(name, f"daily loss {loss:,.2f} reached the limit {limit:,.2f}")
            return True
        return False

    def _refuse_unknown(self, f: Follower, unknown: list[str], what: str) -> None:
        limit = f.state.cfg.risk.daily_loss_limit
        if limit is None or f.state.stopped_by_risk:
            return
        name = f.name
        why = f"daily loss limit {limit:,.2f} cannot be computed: {'; '.join(unknown)}"
        f.state.stopped_by_risk = why
        f.state.paused = True  # its positions stay as they are: no syncs, no corrections
        self.journal.operator_action("risk_refused", name, why)
        self.blotter.alert(
            AlertLevel.ERROR,
            name,
            "loss limit unknown",
            f"follower {name} {what}: its {why}. Nothing is copied to it this session; "
            "flatten it at the broker or remove its limit, then restart",
        )
