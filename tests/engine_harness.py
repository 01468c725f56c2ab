"""A real engine over the real paper exchange and a real SQLite journal, driven by hand."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from adapters.paper import Faults, PaperAdapter, PaperExchange
from copytui.config import AccountConfig, FollowerConfig
from copytui.engine import Engine
from copytui.journal import Journal
from copytui.models import OrderType, Side

LEADER = "lead"


def follower(name: str, **kw: Any) -> FollowerConfig:
    return FollowerConfig(name=name, broker="paper", **kw)


class Harness:
    def __init__(self, engine: Engine, exchange: PaperExchange, journal: Journal) -> None:
        self.engine = engine
        self.x = exchange
        self.journal = journal

    def pos(self, account: str, symbol: str) -> int:
        p = self.x.accounts[account].positions.get(symbol)
        return p.qty if p else 0

    def buy(self, symbol: str, qty: int, *, by: str = LEADER, **kw: Any) -> str:
        return self.x.submit(by, symbol=symbol, side=Side.BUY, qty=qty, **kw).id

    def sell(self, symbol: str, qty: int, *, by: str = LEADER, **kw: Any) -> str:
        return self.x.submit(by, symbol=symbol, side=Side.SELL, qty=qty, **kw).id

    def limit(self, side: Side, symbol: str, qty: int, price: float) -> str:
        return self.x.submit(LEADER, symbol=symbol, side=side, qty=qty, order_type=OrderType.LIMIT, price=price).id

    async def settle(self) -> None:
        for _ in range(3):
            await asyncio.sleep(0.005)
            await self.engine.drain(timeout_s=5)
        self.journal.flush()

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        self.journal.flush()
        return list(self.journal.db.execute(sql, args))


@asynccontextmanager
async def running(tmp_path: Path, followers: list[FollowerConfig], *, seed: int = 3,
                  faults: dict[str, Faults] | None = None, leader_faults: Faults | None = None,
                  journal_name: str = "journal.sqlite3", exchange: PaperExchange | None = None,
                  order_timeout_s: float = 10.0,
                  adapter_types: dict[str, type[PaperAdapter]] | None = None,
                  leaders: tuple[str, ...] = (LEADER,)):  # type: ignore[no-untyped-def]
    x = exchange or PaperExchange(seed=seed)
    for name in leaders:
        x.account(name, faults=leader_faults)
    faults = faults or {}
    pairs = []
    for f in followers:
        x.account(f.name, faults=faults.get(f.name))
        pairs.append((f, (adapter_types or {}).get(f.name, PaperAdapter)(x, f.name)))
    journal = Journal(tmp_path / journal_name)
    engine = Engine(leaders=[(AccountConfig(name=n), PaperAdapter(x, n)) for n in leaders], followers=pairs,
                    journal=journal, reconcile_interval_s=3600, order_timeout_s=order_timeout_s)
    await engine.start()
    h = Harness(engine, x, journal)
    try:
        yield h
    finally:
        await engine.stop(settle=False)
        journal.close()


@asynccontextmanager
async def paper_leader_engine(tmp_path: Path, x: PaperExchange, follower: tuple[FollowerConfig, Any]):  # type: ignore[no-untyped-def]
    """The engine with the paper leader ``lead`` of exchange ``x`` and one follower (its config and
    adapter), on a journal in ``tmp_path``; yields the engine and ``rows(sql, *args)``, which reads
    the journal after a flush."""
    journal = Journal(tmp_path / "journal.sqlite3")
    engine = Engine(leader_cfg=AccountConfig(name="lead"), leader=PaperAdapter(x, "lead"), followers=[follower],
                    journal=journal, reconcile_interval_s=3600)  # fmt: skip

    def rows(sql: str, *args: Any) -> list[tuple[Any, ...]]:
        journal.flush()
        return list(journal.db.execute(sql, args))

    await engine.start()
    try:
        yield engine, rows
    finally:
        await engine.stop(settle=False)
        journal.close()
