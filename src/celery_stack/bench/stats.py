"""Pure statistics of the benchmark: percentiles, summaries, ratios."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation between ranks.

    The same definition as numpy's default ("linear"): p0 is the minimum,
    p100 the maximum, p50 the median.
    """
    if not values:
        raise ValueError("percentile: no values (the measurement produced no samples)")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile: q={q} must be within 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(samples: Sequence[float]) -> dict:
    """Median and spread of repeated measurements (spread = max - min)."""
    if not samples:
        raise ValueError("summary: no samples (every repetition failed or none ran)")
    values = [float(v) for v in samples]
    return {"median": percentile(values, 50), "min": min(values), "max": max(values),
            "spread": max(values) - min(values), "n": len(values), "samples": values}


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator; None when the denominator is zero."""
    if denominator == 0:
        return None
    return numerator / denominator


def growth(samples: Sequence[float], baseline: float) -> float | None:
    """Peak of ``samples`` relative to ``baseline`` (1.0 = flat)."""
    if not samples:
        raise ValueError("growth: no samples")
    return ratio(max(samples), baseline)


def window_mean(windows: Sequence[tuple[float, float]]) -> dict:
    """Rate over consecutive windows as one long window: sum(rate x s) / sum(s).

    ``windows`` are (seconds, rate) pairs. A periodic burst (the watchdog's
    pass once a minute) counts in proportion to its share of the time, which
    a median of short windows drops whenever most windows miss it.
    """
    if not windows:
        raise ValueError("window_mean: no windows (the idle measurement produced none)")
    if any(seconds <= 0 for seconds, _ in windows):
        raise ValueError(f"window_mean: a window of no duration in {list(windows)}")
    total = sum(seconds for seconds, _ in windows)
    rates = [float(rate) for _, rate in windows]
    return {"mean": sum(seconds * rate for seconds, rate in windows) / total,
            "window_s": total, "min": min(rates), "max": max(rates),
            "spread": max(rates) - min(rates), "n": len(rates), "samples": rates}
