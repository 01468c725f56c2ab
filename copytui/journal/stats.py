"""The one percentile copytui reports with: the journal's summaries, the desk and the benchmark."""

from __future__ import annotations

from collections.abc import Collection


def percentile(values: Collection[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by the nearest rank, no interpolation: always a value
    that was measured. 0.0 when there are none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[idx]
