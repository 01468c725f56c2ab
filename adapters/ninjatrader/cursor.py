"""fills_since's cursor for an interface with no fill history.

``nt1|<epoch>|<fills seen>|ES=3@5001.25,NQ=-1@17500``: the adapter session (epoch) and how many of
its fills the caller has, plus the positions they add up to. A cursor from this session gets the
fills after it; one from an earlier copytui run gets, first, the difference between the positions
it remembers and the position files at this run's start, as fills whose ids come from the cursor
(asked twice, the same ids: the engine drops the repeat), then this run's fills.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from adapters.ninjatrader.book import position_fill_price
from copytui.instruments import INSTRUMENTS, instrument
from copytui.models import AccountEvent, EventKind, OrderType, Side

WHILE_AWAY = "made while copytui was not running (seen as a change of NinjaTrader's position file)"


@dataclass
class Cursor:
    """fills_since's cursor: ``nt1|<epoch>|<fills seen>|ES=3@5001.25,NQ=-1@17500``."""

    epoch: str
    seen: int
    positions: dict[str, tuple[int, float]] = field(default_factory=dict)

    def text(self) -> str:
        held = ",".join(f"{s}={q}@{a!r}" for s, (q, a) in sorted(self.positions.items()) if q)
        return f"nt1|{self.epoch}|{self.seen}|{held}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        parts = text.split("|")
        try:
            if len(parts) != 4 or parts[0] != "nt1":
                raise ValueError(text)
            positions = {}
            for item in filter(None, parts[3].split(",")):
                symbol, _, rest = item.partition("=")
                qty, _, avg = rest.partition("@")
                positions[symbol] = (int(qty), float(avg))
            return cls(parts[1], int(parts[2]), positions)
        except ValueError:
            raise ValueError(
                f"NinjaTrader fill cursor must look like 'nt1|<epoch>|<n>|ES=3@5001.25', got {text!r}"
            ) from None


def gap_fills(account: str, text: str, seen: Cursor, now: dict[str, tuple[int, float]]) -> list[AccountEvent]:
    """Fills taking the positions ``seen`` remembers to the positions ``now``, one per symbol."""
    tag = hashlib.blake2b(text.encode(), digest_size=6).hexdigest()
    out = []
    for symbol in sorted(set(seen.positions) | set(now)):
        before, after = seen.positions.get(symbol, (0, 0.0)), now.get(symbol, (0, 0.0))
        if before[0] == after[0] or symbol not in INSTRUMENTS:
            continue
        price, why = position_fill_price(before, after)
        delta = after[0] - before[0]
        oid = f"gap-{tag}-{symbol}"
        out.append(AccountEvent(
            account=account, kind=EventKind.FILL, order_id=oid, symbol=symbol, side=Side.for_delta(delta),
            order_type=OrderType.MARKET, qty=abs(delta), fill_id=oid, fill_qty=abs(delta), cum_qty=abs(delta),
            fill_price=instrument(symbol).round_price(price), reason=f"{WHILE_AWAY}; {why}" if why else WHILE_AWAY,
            wall_ns=time.time_ns(), recv_ns=time.perf_counter_ns(),
        ))  # fmt: skip
    return out
