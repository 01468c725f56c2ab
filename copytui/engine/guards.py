"""Per-follower protection: the circuit breaker and the risk guards' small pure checks."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as dtime


@dataclass
class Breaker:
    """Closed -> open after N consecutive failures (or one auth failure) -> half-open after the
    cooldown, when exactly one probe order may go -> closed on its success, open again on failure."""

    failures_to_open: int = 5
    cooldown_s: float = 30.0
    state: str = "closed"
    failures: int = 0
    opened_at: float = 0.0
    probe_out: bool = False
    reason: str = ""
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def _now(self) -> float:
        return self.clock()

    def allow(self) -> bool:
        """May an order go now? Moves open -> half-open when the cooldown has passed."""
        if self.state == "closed":
            return True
        if self.state == "open" and self._now() - self.opened_at >= self.cooldown_s:
            self.state = "half-open"
            self.probe_out = False
        if self.state == "half-open" and not self.probe_out:
            self.probe_out = True
            return True
        return False

    def success(self) -> bool:
        """Record a good answer; True when this closed the breaker."""
        self.failures = 0
        if self.state != "closed":
            self.state = "closed"
            self.probe_out = False
            return True
        return False

    def failure(self, reason: str, fatal: bool = False) -> bool:
        """Record a failure; True when this opened the breaker."""
        self.failures += 1
        if self.state == "half-open" or fatal or self.failures >= self.failures_to_open:
            was_open = self.state == "open"
            self.state = "open"
            self.opened_at = self._now()
            self.probe_out = False
            self.reason = reason
            return not was_open
        return False


def parse_window(text: str) -> tuple[dtime, dtime]:
    start, end = text.split("-")
    h1, m1 = (int(x) for x in start.split(":"))
    h2, m2 = (int(x) for x in end.split(":"))
    return dtime(h1, m1), dtime(h2, m2)


def in_window(text: str | None, now: datetime | None = None) -> bool:
    """Is local time inside "HH:MM-HH:MM"? A window may cross midnight (e.g. 17:00-16:00 for CME)."""
    if not text:
        return True
    start, end = parse_window(text)
    t = (now or datetime.now().astimezone()).time()
    if start <= end:
        return start <= t < end
    return t >= start or t < end
