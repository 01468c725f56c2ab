"""Defence in depth against a feedback loop (DESIGN.md invariant 10).

The identity check at start refuses a follower on the leader's own account when the brokers say
so; this guard catches what it cannot see (an account reached through a bridge, a broker that
reports no canonical id). A follower whose orders outgrow what its rule applied to the leader's
activity can explain, or that is sent orders faster than any trader trades, is stopped for the
session: its breaker opens, it is flattened, and an alert says why.
"""

from __future__ import annotations

import time
from collections import deque

from copytui.config import FollowerConfig
from copytui.models import FollowerOrder, Signal, SignalKind

LEADER_KINDS = (SignalKind.FILL, SignalKind.NEW, SignalKind.MODIFY, SignalKind.CANCEL)
"""Signals that are the leader's own doing (not copytui's corrections or an operator's): the fill
first, the usual case, which ``in`` then finds by identity at once."""
_FILL = SignalKind.FILL  # a module name: an enum member read through its class costs ~70 ns on 3.11

SLACK_CONTRACTS = 10
"""Contracts a follower may be sent beyond its rule's share, for rounding carried between fills."""
WINDOW_S = 60.0


def contracts_per_leader_contract(cfg: FollowerConfig) -> float:
    """The most follower contracts one leader contract can cause under ``cfg``'s rule (under the
    largest of its leaders' own rules, following several)."""
    factor = max([1.0, *(m.factor for m in cfg.symbol_map.values())])
    sizes = [(cfg.multiplier, cfg.fixed_qty), *((f.multiplier or cfg.multiplier, f.fixed_qty) for f in cfg.follows)]
    # a fixed size: a 1-lot entry opens fixed_qty; a flip of 2 closes and reopens
    return max(float(fixed) if fixed else multiplier * factor for multiplier, fixed in sizes)


class FeedbackGuard:
    """One follower's budget: contracts sent against the leader's activity, orders per minute."""

    def __init__(self, cfg: FollowerConfig) -> None:
        self.ratio = contracts_per_leader_contract(cfg)
        self.max_per_minute = cfg.risk.max_orders_per_minute
        self.leader_contracts = 0
        self.leader_signals = 0
        self.sent_contracts = 0
        self._sent_at: deque[float] = deque()

    @staticmethod
    def from_leader(sig: Signal) -> bool:
        return sig.kind in LEADER_KINDS

    def leader_activity(self, sig: Signal) -> None:
        """Count what the leader did: an order's quantity and each fill's (both, generously)."""
        self.leader_signals += 1
        self.leader_contracts += sig.fill_qty if sig.kind is _FILL else sig.qty

    def refuse(self, live: list[FollowerOrder], now: float | None = None) -> str:
        """Why these orders may not go ("" when they may), before they are sent."""
        return self._refusal(_contracts(live), len(live), now)

    def sent(self, live: list[FollowerOrder], now: float | None = None) -> None:
        """Count these orders as sent (``refuse`` said they may go)."""
        self._count(_contracts(live), len(live), now)

    def admit(self, live: list[FollowerOrder]) -> str:
        """``refuse``, then ``sent`` when nothing refuses: one call for the router's hot path."""
        contracts, orders = _contracts(live), len(live)
        now = time.monotonic() if self.max_per_minute is not None else None
        why = self._refusal(contracts, orders, now)
        if not why:
            self._count(contracts, orders, now)
        return why

    def _refusal(self, contracts: int, orders: int, now: float | None) -> str:
        allowed = self.ratio * self.leader_contracts + self.leader_signals + SLACK_CONTRACTS
        if self.sent_contracts + contracts > allowed:
            return (
                f"feedback loop suspected: {self.sent_contracts + contracts} contracts sent for "
                f"{self.leader_contracts} leader contracts, more than the rule can explain ({allowed:g})"
            )
        if self.max_per_minute is not None:
            now = time.monotonic() if now is None else now
            while self._sent_at and self._sent_at[0] < now - WINDOW_S:
                self._sent_at.popleft()
            if len(self._sent_at) + orders > self.max_per_minute:
                return (
                    f"feedback loop suspected: more than {self.max_per_minute} orders in a minute "
                    "(risk.max_orders_per_minute)"
                )
        return ""

    def _count(self, contracts: int, orders: int, now: float | None) -> None:
        self.sent_contracts += contracts
        if self.max_per_minute is not None:
            now = time.monotonic() if now is None else now
            self._sent_at.extend([now] * orders)


def _contracts(orders: list[FollowerOrder]) -> int:
    # a plain loop: a generator costs more than the one or two orders it sums (every follower, every fill)
    total = 0
    for o in orders:
        total += o.qty
    return total
