"""Latency statistics in the shape TFLite's benchmark_model reports, plus the spread across interleaved rounds."""
import numpy as np

FIELDS = ("count", "min", "max", "mean", "std", "p50", "p90", "p95", "p99")


def latency_stats(times_us):
    """count, min, max, mean, std (population) and percentiles (linear interpolation) of timings in µs."""
    t = np.asarray(times_us, dtype=np.float64)
    if t.size == 0:
        raise ValueError("no timings to summarise")
    p50, p90, p95, p99 = np.percentile(t, [50, 90, 95, 99])
    return {"count": int(t.size), "min": float(t.min()), "max": float(t.max()), "mean": float(t.mean()),
            "std": float(t.std()), "p50": float(p50), "p90": float(p90), "p95": float(p95), "p99": float(p99)}


def round_spread(round_medians):
    """How much the median moved between rounds, relative to the overall median of those medians.

    A ratio between two graphs is only meaningful when it is larger than this spread.
    """
    m = np.asarray(round_medians, dtype=np.float64)
    centre = float(np.median(m))
    return {"round_p50s": [float(x) for x in m], "p50_spread_pct": float(100 * (m.max() - m.min()) / centre)
            if centre else 0.0}
