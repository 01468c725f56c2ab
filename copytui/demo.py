"""The embedded demo: a leader on the paper exchange driven by a seeded random trader, and
followers with different rules, faults included. No broker account needed."""

from __future__ import annotations

import asyncio
import fcntl
import os
import random
from pathlib import Path

from adapters.base import OrderRejected
from adapters.paper.exchange import PaperExchange
from copytui.config import Config, data_dir, parse_config
from copytui.instruments import instrument
from copytui.models import OrderType, Side

DEMO_CONFIG = """
theme: copytui-dark
leader:
  name: leader
  broker: paper
followers:
  - name: alpha
    broker: tradovate
    host: embedded
    environment: sim
    mode: fills
    multiplier: 1
    groups: [apex]
  - name: bravo
    broker: paper
    mode: fills
    multiplier: 0.5
    rounding: nearest
    auto_correct: true
    faults: {reject_rate: 0.08, latency_ms: 2}
    groups: [apex]
  - name: charlie
    broker: paper
    mode: mirror
    multiplier: 1
    faults: {partial_fill_prob: 0.35}
    groups: [topstep]
  - name: delta
    broker: paper
    mode: fills
    multiplier: 2
    max_position: 6
    max_order_qty: 3
    risk: {daily_loss_limit: 2500}
    groups: [topstep]
  - name: echo
    broker: paper
    mode: fills
    symbol_map: {NQ: {symbol: MNQ, factor: 10}, ES: {symbol: MES, factor: 10}}
  - name: foxtrot
    broker: paper
    mode: fills
    fixed_qty: 1
    reverse: true
reconcile:
  interval_s: 2
"""


def demo_dir() -> Path:
    """The demo's own data folder: its journals, reports, screenshots and adapter state. The demo
    never writes into the trader's own journal, reports or leases."""
    return data_dir() / "demo"


def _journal_in_use(path: Path) -> bool:
    """True while another copytui process holds this journal's lease (see engine/lease.py)."""
    lock = Path(str(path) + ".lock")
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock we may have taken
    return False


def free_demo_journal() -> Path:
    """``demo/journal.sqlite3``, or ``journal-2``, ``-3``... when demos already run side by side.

    A demo's accounts live in memory and start flat, so each demo starts on a fresh journal: an
    earlier demo's journal on the free name (kept until now for ``copytui journal summary --demo``)
    is removed. Restoring from it would describe positions that no longer exist (an earlier demo
    killed mid-trade would leave the new one a "leader gap" and drift on every follower)."""
    folder = demo_dir()
    for n in range(1, 100):
        path = folder / ("journal.sqlite3" if n == 1 else f"journal-{n}.sqlite3")
        if not _journal_in_use(path):
            for old in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                old.unlink(missing_ok=True)
            return path
    raise RuntimeError(f"99 demos already run on journals in {folder}; stop some first")


def latest_demo_journal() -> Path | None:
    """The demo journal written last, if any."""
    found = [p for p in demo_dir().glob("journal*.sqlite3") if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def demo_config(journal: Path | None = None) -> Config:
    """The embedded demo config, on ``journal`` (default: a free journal in the demo's folder)."""
    cfg = parse_config(DEMO_CONFIG, "<embedded demo config>")
    return cfg.model_copy(update={"journal": str(journal or free_demo_journal())})


class DemoTrader:
    """A seeded random leader: entries, scale-ins, partial exits, limit and stop orders, changes, cancels."""

    def __init__(
        self,
        exchange: PaperExchange,
        account: str,
        seed: int = 7,
        symbols: tuple[str, ...] = ("ES", "NQ"),
        pace_s: tuple[float, float] = (0.3, 1.2),
    ) -> None:
        self.x = exchange
        self.account = account
        self.rng = random.Random(seed)
        self.symbols = symbols
        self.pace_s = pace_s
        self.actions = 0

    def position(self, symbol: str) -> int:
        pos = self.x.accounts[self.account].positions.get(symbol)
        return pos.qty if pos else 0

    def working(self, symbol: str | None = None) -> list[str]:
        return [
            o.id
            for o in self.x.accounts[self.account].orders.values()
            if not o.status.final and (symbol is None or o.symbol == symbol)
        ]

    def act(self) -> str:
        """One random trading decision; returns what it did."""
        r = self.rng
        sym = r.choice(self.symbols)
        pos = self.position(sym)
        inst = instrument(sym)
        bid, ask = self.x.quote(sym)
        working = self.working(sym)
        roll = r.random()
        self.actions += 1
        try:
            if working and roll < 0.15:
                self.x.cancel(self.account, r.choice(working))
                return "cancel"
            if working and roll < 0.3:
                oid = r.choice(working)
                o = self.x.accounts[self.account].orders[oid]
                shift = r.choice((-2, -1, 1, 2)) * inst.tick_size
                if o.order_type is OrderType.LIMIT and o.price is not None:
                    self.x.modify(self.account, oid, price=o.price + shift)
                elif o.order_type is OrderType.STOP and o.stop_price is not None:  # a trailing stop moves itself
                    self.x.modify(self.account, oid, stop_price=o.stop_price + shift)
                return "modify"
            if pos == 0:
                side = r.choice((Side.BUY, Side.SELL))
                qty = r.randint(1, 3)
                if roll < 0.55:
                    self.x.submit(self.account, symbol=sym, side=side, qty=qty)
                    return "entry"
                if len(self.working()) < 4:
                    off = r.randint(1, 4) * inst.tick_size
                    px = bid - off if side is Side.BUY else ask + off
                    self.x.submit(self.account, symbol=sym, side=side, qty=qty, order_type=OrderType.LIMIT, price=px)
                    return "limit entry"
                return "wait"
            side = Side.for_delta(pos)
            if roll < 0.35 and abs(pos) < 6:
                self.x.submit(self.account, symbol=sym, side=side, qty=r.randint(1, 2))
                return "scale in"
            if roll < 0.6:
                qty = r.randint(1, abs(pos))
                self.x.submit(self.account, symbol=sym, side=side.opposite, qty=qty)
                return "partial exit" if qty < abs(pos) else "exit"
            if roll < 0.8 and len(self.working()) < 4:
                off = r.randint(2, 6) * inst.tick_size
                stop = bid - off if side is Side.BUY else ask + off
                trailing = roll < 0.7
                self.x.submit(
                    self.account,
                    symbol=sym,
                    side=side.opposite,
                    qty=abs(pos),
                    order_type=OrderType.TRAILING_STOP if trailing else OrderType.STOP,
                    stop_price=stop,
                    trail=off if trailing else None,
                )
                return "trailing stop" if trailing else "stop loss"
            if len(self.working()) < 4:
                off = r.randint(2, 6) * inst.tick_size
                px = ask + off if side is Side.BUY else bid - off
                self.x.submit(
                    self.account,
                    symbol=sym,
                    side=side.opposite,
                    qty=r.randint(1, abs(pos)),
                    order_type=OrderType.LIMIT,
                    price=px,
                )
                return "take profit"
            return "wait"
        except OrderRejected:
            return "rejected"

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.rng.uniform(*self.pace_s))
            self.act()

    def go_flat(self) -> None:
        self.x.flatten(self.account)


async def price_walk(exchange: PaperExchange, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        exchange.step()
