"""Percentiles of a list of durations, in milliseconds, the shape every latency figure takes in the JSON."""

from __future__ import annotations

import statistics


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile; `share` in [0, 1]."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def latency_figure(seconds: list[float]) -> dict[str, float]:
    """n, p50/p95/p99/max in ms from durations in seconds."""
    if not seconds:
        raise ValueError("no samples")
    return {
        "n": len(seconds),
        "p50_ms": round(statistics.median(seconds) * 1000, 2),
        "p95_ms": round(percentile(seconds, 0.95) * 1000, 2),
        "p99_ms": round(percentile(seconds, 0.99) * 1000, 2),
        "max_ms": round(max(seconds) * 1000, 2),
    }
