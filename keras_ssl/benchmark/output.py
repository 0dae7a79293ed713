"""Benchmark results as side-by-side tables (stdout) and CSV, written atomically."""
import csv
import io

from keras_ssl.base.io_utils import atomic_write_text
from keras_ssl.benchmark.stats import FIELDS

CSV_COLUMNS = ("graph", "format", "num_threads", "batch_size") + FIELDS + (
    "p50_spread_pct", "init_us", "size_bytes", "gzip_bytes", "rss_delta_kb", "peak_rss_kb", "accuracy",
    "baseline", "size_ratio", "gzip_ratio", "speed_ratio_p50", "accuracy_change_points")


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def table(results):
    """Markdown table of ``benchmark`` + ``add_ratios`` results; missing accuracy or ratios show as "-"."""
    lines = ["| graph | format | p50 µs | mean ± std µs | p90 µs | p99 µs | spread % | init ms | size B | gzip B | "
             "gzip ratio | speed ratio | accuracy | Δ acc pt |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(
            f"| {r['graph']} | {r['format']} | {r['p50']:.1f} | {r['mean']:.1f} ± {r['std']:.1f} | {r['p90']:.1f} | "
            f"{r['p99']:.1f} | {r['p50_spread_pct']:.1f} | {r['init_us'] / 1000:.1f} | {r['size_bytes']:,} | "
            f"{r['gzip_bytes']:,} | {r['gzip_ratio']:.2f}x | {_fmt(r['speed_ratio_p50'], '.2f')}x | "
            f"{_fmt(r['accuracy'], '.4f')} | {_fmt(r['accuracy_change_points'], '+.2f')} |")
    return "\n".join(lines)


def sweep_table(rows):
    """Markdown table of thread/batch sweep rows, with latency per batch and per example."""
    lines = ["| graph | threads | batch | p50 µs/batch | µs/example | std µs |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['graph']} | {r['num_threads']} | {r['batch_size']} | {r['p50']:.1f} | "
              f"{r['p50'] / r['batch_size']:.1f} | {r['std']:.1f} |" for r in rows]
    return "\n".join(lines)


def write_csv(path, results):
    """Writes one ``CSV_COLUMNS`` row per result (other keys are dropped), atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for r in results:
        writer.writerow(r)
    atomic_write_text(path, buf.getvalue())
