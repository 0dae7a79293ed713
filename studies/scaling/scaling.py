"""Data-parallel scaling: measured throughput of local worker layouts, and an all-reduce estimate for N hosts.

Measurement: each layout (strategy, workers, threads per worker) runs ``studies.scaling.distribute_smoke`` under the
launcher and reports examples/s at a fixed per-replica batch (weak scaling: the global batch grows with the
workers, as it would when adding hosts).  On one machine the workers share its cores, so this measures the cost
of the multi-worker machinery (collectives over gRPC, lockstep), not a speed-up.

Estimate: a ring all-reduce moves ``2 (N-1)/N x B`` bytes in and out of every worker per step for ``B`` bytes of
gradients (about ``2 B`` for large N), in ``2 (N-1)`` latency-bound hops.  With no overlap of communication and
compute (Keras all-reduces after the backward pass), a step takes ``compute + allreduce``; the table gives the
all-reduce share of that step at 1/10/25 Gbit/s.
"""
import dataclasses
import sys

from keras_ssl.training.launch import launch
from studies.scaling.distribute_smoke import parse_results

BANDWIDTHS_GBIT = (1, 10, 25)
HOSTS = (2, 4, 8, 16)
HOP_LATENCY_S = 50e-6  # assumed per-hop latency of a TCP ring on a LAN (an assumption, not measured here)


@dataclasses.dataclass(frozen=True)
class Layout:
    """One measured configuration: ``workers`` processes, each with ``threads`` TensorFlow threads (0 = default)."""
    name: str
    strategy: str
    workers: int
    threads: int = 0


LAYOUTS = (Layout("default, 1 process, all cores", "default", 1),
           Layout("multi_worker, 1 worker, all cores", "multi_worker", 1),
           Layout("multi_worker, 1 worker, 1 thread", "multi_worker", 1, 1),
           Layout("multi_worker, 2 workers, 1 thread each", "multi_worker", 2, 1))


def measure(layout, smoke_args, timeout, python=sys.executable, stream=None):
    """Runs one layout; returns the chief's result dict plus the layout, or raises RuntimeError with the reason."""
    command = [python, "-m", "studies.scaling.distribute_smoke", f"--strategy={layout.strategy}",
               f"--threads={layout.threads}", *smoke_args]
    result = launch([command] * layout.workers, timeout=timeout, stream=stream)
    if not result.ok:
        tail = " | ".join(line for lines in result.outputs for line in lines[-3:])
        raise RuntimeError(f"{layout.name}: {result.message}: {tail}")
    rows = [parse_results(lines)[0] for lines in result.outputs]
    slowest = max(rows, key=lambda row: row["step_ms"])  # workers are in lockstep: the slowest sets the pace
    return dict(slowest, layout=layout.name, workers=layout.workers, threads=layout.threads,
                seconds=result.seconds)


def measure_all(layouts, smoke_args, timeout, repeats=1, report=print):
    """Each layout's fastest of ``repeats`` runs, the layouts interleaved (A B C, A B C) so that load from other
    processes on a shared machine hits all of them alike; ``report`` gets one line per run."""
    best = {}
    for _ in range(repeats):
        for layout in layouts:
            row = measure(layout, smoke_args, timeout)
            report(f"{layout.name}: {row['step_ms']:.1f} ms/step, {row['examples_per_s']:,.0f} examples/s "
                   f"(load average {row['load_avg_1min']:.1f})")
            if layout not in best or row["step_ms"] < best[layout]["step_ms"]:
                best[layout] = row
    return [best[layout] for layout in layouts]


def ring_allreduce_bytes(gradient_bytes, hosts):
    """Bytes each worker sends (and receives) per step in a ring all-reduce of ``gradient_bytes``."""
    return 2.0 * (hosts - 1) / hosts * gradient_bytes


def allreduce_seconds(gradient_bytes, hosts, gbit_per_s, hop_latency_s=HOP_LATENCY_S):
    """Time of one ring all-reduce: bandwidth term plus ``2 (N-1)`` hop latencies."""
    return ring_allreduce_bytes(gradient_bytes, hosts) * 8 / (gbit_per_s * 1e9) + 2 * (hosts - 1) * hop_latency_s


def estimate(gradient_bytes, step_seconds, hosts=HOSTS, bandwidths=BANDWIDTHS_GBIT):
    """Rows of (hosts, Gbit/s, all-reduce ms, share of the step, speed-up over one host) at a fixed per-host batch."""
    rows = []
    for n in hosts:
        for gbit in bandwidths:
            comm = allreduce_seconds(gradient_bytes, n, gbit)
            rows.append({"hosts": n, "gbit_per_s": gbit, "allreduce_ms": round(1000 * comm, 3),
                         "allreduce_share": round(comm / (step_seconds + comm), 4),
                         "speedup": round(n * step_seconds / (step_seconds + comm), 2)})
    return rows


def markdown(measured, estimates):
    """Both tables as markdown."""
    lines = ["| layout | workers | global batch | step ms | examples/s |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {m['layout']} | {m['workers']} | {m['global_batch']} | {m['step_ms']:.1f} | "
              f"{m['examples_per_s']:,.0f} |" for m in measured]
    lines += ["", "| hosts | Gbit/s | all-reduce ms | share of step | speed-up |", "|---:|---:|---:|---:|---:|"]
    lines += [f"| {e['hosts']} | {e['gbit_per_s']} | {e['allreduce_ms']:.2f} | {100 * e['allreduce_share']:.1f}% | "
              f"{e['speedup']:.2f}x |" for e in estimates]
    return "\n".join(lines)
