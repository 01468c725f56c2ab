"""How long the file round trip takes, kept per adapter for the desk, the bench and the tests:

- ``notice``: NinjaTrader's write of an outgoing file -> copytui's read of it (the watch's lag);
- ``answer``: an order file moved into incoming/ -> its ``<orderId>.txt`` read (pickup included);
- ``pickup``: a CHANGE / CANCEL / flatten file moved in -> NinjaTrader took it or answered.
"""

from __future__ import annotations

from collections import deque

KEPT = 2000


class Latency:
    def __init__(self) -> None:
        self.samples: dict[str, deque[int]] = {k: deque(maxlen=KEPT) for k in ("notice", "answer", "pickup")}

    def add(self, kind: str, ns: int) -> None:
        if ns >= 0:
            self.samples[kind].append(ns)

    def summary(self) -> dict[str, dict[str, float]]:
        """Per kind with samples: count, p50, p99 and max in milliseconds."""
        out = {}
        for kind, values in self.samples.items():
            if values:
                ordered = sorted(values)
                n = len(ordered)
                out[kind] = {
                    "n": float(n),
                    "p50_ms": ordered[(n - 1) // 2] / 1e6,
                    "p99_ms": ordered[min(n - 1, round(0.99 * (n - 1)))] / 1e6,
                    "max_ms": ordered[-1] / 1e6,
                }
        return out
