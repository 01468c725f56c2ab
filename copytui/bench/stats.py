"""Numbers the benchmark reports: latency percentiles and the process's peak memory."""

from __future__ import annotations

import resource
import sys
from pathlib import Path

from copytui.journal import percentile


def summarize_ms(values_ns: list[int]) -> dict[str, float] | None:
    """p50 / p90 / p99 / max in milliseconds (nearest rank, as the desk computes them)."""
    if not values_ns:
        return None
    ms = [v / 1e6 for v in values_ns]
    return {
        "p50": round(percentile(ms, 0.50), 3),
        "p90": round(percentile(ms, 0.90), 3),
        "p99": round(percentile(ms, 0.99), 3),
        "max": round(max(ms), 3),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or not b:
        return None
    return round(a / b, 3)


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def peak_rss_mb() -> float:
    """The process's peak resident set so far (VmHWM; ru_maxrss where /proc is missing)."""
    kb = _status_kb("VmHWM")
    if kb is None:
        raw = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        kb = raw // 1024 if sys.platform == "darwin" else raw  # macOS reports bytes, Linux kB
    return round(kb / 1024, 1)


def current_rss_mb() -> float | None:
    kb = _status_kb("VmRSS")
    return round(kb / 1024, 1) if kb is not None else None
