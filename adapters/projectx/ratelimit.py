"""A token bucket for the gateway's request budget (200 requests / 60 s), shared by one session."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from adapters.base import RateLimited


class TokenBucket:
    def __init__(self, capacity: int = 200, per_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        if capacity < 1 or per_s <= 0:
            raise ValueError(f"rate budget must be at least 1 request per positive period, got {capacity}/{per_s}s")
        self.capacity = float(capacity)
        self.rate = capacity / per_s  # tokens per second
        self.clock = clock
        self.tokens = float(capacity)
        self.stamp = clock()
        self.blocked_until = 0.0

    def _refill(self) -> float:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return now

    def wait_time(self) -> float:
        """Seconds until one request may be sent (0 when one may go now)."""
        now = self._refill()
        blocked = max(0.0, self.blocked_until - now)
        short = 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate
        return max(blocked, short)

    async def acquire(self, max_wait_s: float, what: str) -> None:
        """Take one token, waiting at most ``max_wait_s``; past that raise RateLimited (nothing was sent)."""
        while True:
            wait = self.wait_time()
            if wait <= 0:
                self.tokens -= 1
                return
            if wait > max_wait_s:
                raise RateLimited(
                    f"ProjectX request budget spent: {what} not sent, next slot in {wait:.2f}s", retry_after_s=wait
                )
            await asyncio.sleep(wait)
            max_wait_s -= wait

    def penalise(self, retry_after_s: float) -> None:
        """The gateway answered 429: send nothing until it says so, and start from an empty bucket."""
        self._refill()
        self.tokens = 0.0
        self.blocked_until = max(self.blocked_until, self.clock() + retry_after_s)
