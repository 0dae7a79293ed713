"""Peak-memory measurement per phase of one process, from /proc (Linux).

VmHWM (peak RSS) only ever grows, so a later phase would inherit an earlier phase's peak.  Writing "5" to
/proc/self/clear_refs resets it to the current RSS (Linux >= 4.0); where that is refused, peaks are cumulative and
the result says so.
"""
import contextlib
import time

from keras_ssl.benchmark.harness import rss_kb


def reset_peak_rss():
    """Resets this process's VmHWM to its current RSS; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


@contextlib.contextmanager
def measured():
    """Yields a dict filled on exit with seconds, RSS before, peak RSS during, and peak growth (all kB).

    Also ``cpu_seconds`` (this process, all threads): on a shared machine wall time also measures the neighbours.
    """
    stats = {"peak_reset": reset_peak_rss()}
    stats["rss_before_kb"], _ = rss_kb()
    start, cpu = time.perf_counter(), time.process_time()
    yield stats
    stats["seconds"], stats["cpu_seconds"] = time.perf_counter() - start, time.process_time() - cpu
    stats["rss_after_kb"], stats["peak_rss_kb"] = rss_kb()
    if stats["rss_before_kb"] is not None:
        stats["peak_growth_kb"] = stats["peak_rss_kb"] - stats["rss_before_kb"]
