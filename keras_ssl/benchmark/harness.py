"""The timing loop: warm up every graph, then run them interleaved in rounds so machine noise hits all alike.

Timing all of A then all of B lets a background job or CPU frequency change land on one graph only; a ratio from
such a run measures the machine.  Here each round runs a slice of every graph in turn, the per-round medians are
kept, and their spread is reported next to each ratio.
"""
import dataclasses
import os
import time

import numpy as np
from absl import logging

from keras_ssl.base.errors import UserError
from keras_ssl.base.metrics import file_sizes
from keras_ssl.benchmark.graphs import load_graph
from keras_ssl.benchmark.stats import latency_stats, round_spread


@dataclasses.dataclass
class BenchmarkConfig:
    """How graphs are timed; invalid values raise UserError.

    ``num_runs`` timed calls per graph are split evenly over ``rounds`` (clipped to ``num_runs``); ``max_secs`` caps
    the time spent per graph (0 = no cap); ``batch_size`` > 1 needs models with a dynamic batch.
    """
    num_runs: int = 100
    warmup_runs: int = 10
    rounds: int = 5
    max_secs: float = 0.0  # per graph; 0 = no limit
    num_threads: int = 1
    use_xnnpack: bool = True
    batch_size: int = 1

    def __post_init__(self):
        for field in ("num_runs", "rounds", "num_threads", "batch_size"):
            if getattr(self, field) < 1:
                raise UserError(f"{field}={getattr(self, field)} must be at least 1")
        if self.warmup_runs < 0 or self.max_secs < 0:
            raise UserError(f"warmup_runs ({self.warmup_runs}) and max_secs ({self.max_secs}) cannot be negative")
        self.rounds = min(self.rounds, self.num_runs)


def rss_kb():
    """(current RSS, peak RSS) of this process in kB, from /proc (Linux)."""
    values = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":")
                    values[key] = int(value.split()[0])
    except OSError:
        return None, None
    return values.get("VmRSS"), values.get("VmHWM")


def synthetic_batch(graph, batch_size, seed=0):
    """A valid input when no data is given: uniform [0, 1) floats, or small non-negative ids for integer inputs."""
    rng = np.random.default_rng(seed)
    shape = (batch_size,) + tuple(graph.input_shape)
    if np.issubdtype(graph.input_dtype, np.integer):
        return rng.integers(0, 4, size=shape).astype(graph.input_dtype)
    return rng.random(shape, dtype=np.float32)


def load_all(paths, config):
    """Loads each path in order, recording on each graph its load-time RSS growth (kB) and file sizes."""
    graphs = []
    for path in paths:
        before, _ = rss_kb()
        graph = load_graph(path, config.num_threads, config.use_xnnpack, config.batch_size)
        after, _ = rss_kb()
        graph.rss_delta_kb = None if before is None else after - before
        graph.size_bytes, graph.gzip_bytes = file_sizes(path)
        graphs.append(graph)
        logging.info("loaded %s (%s) in %.0f µs, input %s %s", graph.name, graph.format, graph.init_us,
                     graph.input_shape, graph.input_dtype.name)
    return graphs


def time_graphs(graphs, batches, config):
    """Interleaved timing; returns, per graph, (all timings in µs, per-round medians)."""
    per_round = max(1, config.num_runs // config.rounds)
    for graph, batch in zip(graphs, batches):
        graph.set_batch(batch)
        for _ in range(config.warmup_runs):
            graph.invoke()
    times = [[] for _ in graphs]
    medians = [[] for _ in graphs]
    spent = [0.0 for _ in graphs]
    for r in range(config.rounds):
        for i, (graph, batch) in enumerate(zip(graphs, batches)):
            if config.max_secs and spent[i] >= config.max_secs:
                continue
            graph.set_batch(batch)
            chunk = []
            for _ in range(per_round):
                start = time.perf_counter()
                graph.invoke()
                chunk.append((time.perf_counter() - start) * 1e6)
            spent[i] += sum(chunk) / 1e6
            times[i] += chunk
            medians[i].append(float(np.median(chunk)))
        logging.info("round %d/%d: %s", r + 1, config.rounds,
                     ", ".join(f"{g.name} p50 {m[-1]:.1f} µs" for g, m in zip(graphs, medians) if m))
    return times, medians


def _channels_for(graph, batch):
    """Gray images sent as R = G = B to a graph that takes RGB (a MediaPipe-ready classifier of a gray model), so
    one report times every artifact on the same image."""
    if batch.ndim == 4 and batch.shape[-1] == 1 and tuple(graph.input_shape)[-1:] == (3,):
        return np.repeat(batch, 3, axis=-1)
    return batch


def benchmark(paths, config, data=None, inputs=None):
    """Times every graph; ``data`` = (inputs, score_fn) adds accuracy measured by running each graph.

    ``data`` may also be a function of the first graph's input shape that returns that pair (data built to fit
    the model, e.g. images at its size).  Timing uses the first ``batch_size`` of ``inputs`` (or of the data's
    inputs), else synthetic inputs.

    Returns one result dict per graph, in the order given.
    """
    graphs = load_all(paths, config)
    if callable(data):
        data = data(graphs[0].input_shape)
    if inputs is None and data is not None:
        inputs = data[0]
    batches = []
    for graph in graphs:
        batch = synthetic_batch(graph, config.batch_size) if inputs is None else \
            _channels_for(graph, np.asarray(inputs[:config.batch_size]))
        graph.check_batch(batch)
        batches.append(batch)
    times, medians = time_graphs(graphs, batches, config)
    _, peak = rss_kb()
    results = []
    for graph, t, m in zip(graphs, times, medians):
        row = {"graph": graph.name, "path": os.path.abspath(graph.path), "format": graph.format,
               "num_threads": config.num_threads, "batch_size": config.batch_size,
               **latency_stats(t), **round_spread(m), "init_us": float(graph.init_us),
               "size_bytes": graph.size_bytes, "gzip_bytes": graph.gzip_bytes,
               "rss_delta_kb": graph.rss_delta_kb, "peak_rss_kb": peak, "accuracy": None}
        if data is not None:
            logging.info("accuracy of %s on %d examples ...", graph.name, len(data[0]))
            row["accuracy"] = float(data[1](graph.predict(data[0])))
        results.append(row)
    return results


def add_ratios(results, baseline_index=0):
    """Size, gzip and speed ratios against one graph: >1 means smaller or faster than the baseline."""
    base = results[baseline_index]
    for row in results:
        row["baseline"] = base["graph"]
        row["size_ratio"] = base["size_bytes"] / row["size_bytes"]
        row["gzip_ratio"] = base["gzip_bytes"] / row["gzip_bytes"]
        row["speed_ratio_p50"] = base["p50"] / row["p50"] if row["p50"] else None
        row["accuracy_change_points"] = None if row["accuracy"] is None or base["accuracy"] is None else \
            100 * (row["accuracy"] - base["accuracy"])
    return results
