"""Which Tradovate contract each copytui symbol trades, and the names of the contract ids the book meets.

An order names its contract (``ESZ5``): pinned in ``options.contracts``, else the front one that
``contract/suggest`` offers, looked up for every known symbol at connect so that no order waits for
it. Entities name their contract by id: an unknown id is looked up with ``contract/items``, which
releases the events held for want of it. A failed lookup is retried in the background, so a held
fill is late rather than lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from adapters.base import BrokerError, OrderRejected
from adapters.kit.tasks import TaskGroup
from adapters.tradovate.book import AccountBook
from adapters.tradovate.entities import is_contract_of
from copytui.instruments import INSTRUMENTS

log = logging.getLogger("copytui.adapters.tradovate")

RETRY_DELAYS_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class ContractSession(Protocol):
    """What the contract lookups need of the adapter's session."""

    book: AccountBook | None

    async def rest_get(self, path: str, query: dict[str, Any] | None = None) -> Any: ...

    def apply(self, entity_type: str, raw: Any, recv_ns: int) -> None:
        """Merge one entity into the book; the events it releases go to the stream."""
        ...


class Contracts:
    def __init__(self, account: str, pins: dict[str, str], session: ContractSession, tasks: TaskGroup) -> None:
        self.account = account
        self.session = session
        self.tasks = tasks
        self.names: dict[str, str] = dict(pins)
        """copytui symbol -> the contract its orders name."""

    async def learn(self, ids: set[int], *, retry: bool = True) -> None:
        """Contract names for ``ids`` into the book; events held for want of them are released."""
        book = self.session.book
        assert book is not None
        missing = sorted(i for i in ids if i not in book.contracts)
        if not missing:
            return
        try:
            raw = await self.session.rest_get("contract/items", {"ids": ",".join(map(str, missing))})
        except BrokerError as exc:
            log.warning("tradovate %s: cannot look up contracts %s: %s", self.account, missing, exc)
            if retry:
                self.tasks.spawn(self._learn_later(set(missing)), f"tradovate-contracts-{self.account}")
            return
        for item in raw if isinstance(raw, list) else []:
            self.session.apply("contract", item, time.perf_counter_ns())

    async def _learn_later(self, ids: set[int]) -> None:
        for delay in RETRY_DELAYS_S:
            await asyncio.sleep(delay)
            await self.learn(ids, retry=False)
            book = self.session.book
            if book is not None and ids <= set(book.contracts):
                return
        log.error("tradovate %s: contracts %s stay unknown: their orders and fills are held", self.account, ids)

    async def _suggest(self, root: str) -> str | None:
        try:
            raw = await self.session.rest_get("contract/suggest", {"t": root, "l": 10})
        except BrokerError as exc:
            log.debug("tradovate contract/suggest %s failed: %s", root, exc)
            return None
        for item in raw if isinstance(raw, list) else []:
            if isinstance(item, dict) and isinstance(item.get("name"), str) and is_contract_of(item["name"], root):
                book = self.session.book
                if book is not None and item.get("id") not in book.contracts:
                    self.session.apply("contract", item, time.perf_counter_ns())
                return str(item["name"])
        return None

    async def resolve_all(self) -> None:
        """Front contracts of every symbol copytui knows, up front, so that no order waits for a lookup."""
        roots = [r for r in INSTRUMENTS if r not in self.names]
        names = await asyncio.gather(*(self._suggest(r) for r in roots))
        for root, name in zip(roots, names, strict=True):
            if name:
                self.names[root] = name

    async def name_for(self, symbol: str) -> str:
        """The contract an order for ``symbol`` names (looked up once when connect could not)."""
        name = self.names.get(symbol)
        if name is None:
            name = await self._suggest(symbol)
            if name is None:
                raise OrderRejected(
                    f"no Tradovate contract found for {symbol}: pin one with options.contracts (e.g. {symbol}=...)"
                )
            self.names[symbol] = name
        return name
