"""Session upkeep every adapter needs: reconnect delays, token renewal, heartbeats.

The adapters differ in what a session is (a WebSocket, a SignalR hub, a FIX session run by
quickfix), so the kit gives the pieces rather than one loop: :class:`Backoff` for the delays
between attempts, :func:`renew_forever` for a token that must be renewed before it expires, and
:func:`repeat_forever` for heartbeats. Each failure is shown in ``Health.detail``, never only logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from adapters.base import BrokerError, Health, RateLimited

log = logging.getLogger("copytui.adapters")


@dataclass(slots=True)
class Backoff:
    """Delays between reconnect attempts: ``first``, doubling up to ``cap``; ``reset()`` after a
    session that worked, so a working connection that drops comes back at once."""

    first: float = 0.05
    cap: float = 5.0
    _next: float = -1.0

    def __post_init__(self) -> None:
        self._next = self.first

    def next(self) -> float:
        """The delay to wait now; the one after doubles."""
        delay = self._next
        self._next = min(max(delay, self.first) * 2, self.cap)
        return delay

    def reset(self) -> None:
        self._next = self.first

    def hold(self, delay: float) -> None:
        """The broker asked for a longer wait (maintenance, a refused login): the next delay."""
        self._next = delay


async def renew_forever(
    due_in: Callable[[], float],
    renew: Callable[[], Awaitable[object]],
    health: Health,
    what: str = "token renewal",
    retry_s: float = 1.0,
) -> None:
    """Renew a token each time ``due_in()`` says it is due, until cancelled. A rate-limit answer
    waits as long as the broker asks (at most 30 s); another failure is shown and retried."""
    while True:
        await asyncio.sleep(max(due_in(), 0.05))
        try:
            await renew()
        except RateLimited as exc:
            health.note(f"{what} rate limited: retrying in {min(exc.retry_after_s, 30.0):g}s")
            await asyncio.sleep(min(exc.retry_after_s, 30.0))
        except (BrokerError, OSError, TimeoutError) as exc:
            health.note(f"{what} failed: {exc}")
            log.warning("%s failed (%s); retrying in %gs", what, exc, retry_s)
            await asyncio.sleep(retry_s)


async def repeat_forever(interval_s: float, beat: Callable[[], Awaitable[object] | object]) -> None:
    """Call ``beat`` every ``interval_s`` until cancelled (a heartbeat); an awaitable is awaited."""
    while True:
        await asyncio.sleep(interval_s)
        result = beat()
        if isinstance(result, Awaitable):
            await result
