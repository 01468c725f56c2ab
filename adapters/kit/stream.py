"""The account's event stream: what the adapter's wire side puts in, ``subscribe()`` reads out.

One per adapter. ``close()`` (on disconnect) ends every reader once what was queued before it has
been read, so no event put before a disconnect is lost to the engine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

from copytui.models import AccountEvent

_CLOSED = object()


class EventStream:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[object] = asyncio.Queue()

    def put(self, event: AccountEvent) -> None:
        """Queue one event (safe from any callback on the adapter's event loop)."""
        self._queue.put_nowait(event)

    def put_all(self, events: Iterable[AccountEvent]) -> None:
        for event in events:
            self._queue.put_nowait(event)

    def close(self) -> None:
        """The readers end after the events already queued."""
        self._queue.put_nowait(_CLOSED)

    def __len__(self) -> int:
        return self._queue.qsize()

    async def events(self) -> AsyncIterator[AccountEvent]:
        """What ``BrokerAdapter.subscribe`` returns: every event, in the order put, until closed."""
        while True:
            item = await self._queue.get()
            if item is _CLOSED:
                return
            assert isinstance(item, AccountEvent)
            yield item
