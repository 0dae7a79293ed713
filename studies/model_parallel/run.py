"""Runs the chosen model-parallel approaches, each where it must run, and reports their evidence.

Every approach needs a process where TensorFlow has not started yet (logical devices and cluster connections are
fixed once it does), so one approach runs in this process and several run in one fresh subprocess each.
"""
import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import tempfile
from typing import Optional, Tuple

from studies.model_parallel.devices import two_logical_cpus
from studies.model_parallel.dtensor_attempts import run_dtensor
from studies.model_parallel.manual_sharding import run_manual
from studies.model_parallel.ps_sharding import run_ps, run_ps_fixed_shards, run_ps_kernel_vocab_axis
from studies.model_parallel.report import format_result
from studies.model_parallel.task import setup

WORKING = ("ps", "manual")
FAILING = ("dtensor", "ps_fixed_shards", "ps_kernel_vocab_axis")
RUNNERS = {"ps": run_ps, "manual": run_manual, "dtensor": run_dtensor, "ps_fixed_shards": run_ps_fixed_shards,
           "ps_kernel_vocab_axis": run_ps_kernel_vocab_axis}
ROOT = pathlib.Path(__file__).resolve().parents[2]  # where ``python -m studies.model_parallel.main`` runs from


@dataclasses.dataclass(frozen=True)
class ModelParallelConfig:
    """One invocation of the experiment: which approaches, at what size, and where to write the results."""

    approaches: Tuple[str, ...] = ("ps",)
    quick: bool = False
    steps: Optional[int] = None
    batch_size: int = 64
    learning_rate: float = 8e-3
    compare: bool = True
    json_out: Optional[str] = None
    export_path: Optional[str] = None


def resolve_approaches(names):
    """``names`` checked against the known approaches ('all' means every one); ValueError names the unknown."""
    names = list(WORKING + FAILING) if list(names) == ["all"] else list(names)
    unknown = sorted(set(names) - set(RUNNERS))
    if unknown or not names:
        raise ValueError(f"unknown --approach {unknown}: choose from {sorted(RUNNERS)} or all")
    return tuple(names)


def run_one(name, quick, steps=None, batch_size=64, learning_rate=8e-3, export_path=None, compare=True):
    """One approach in this process (TensorFlow not yet started); its result dict."""
    if name in ("manual", "dtensor"):
        two_logical_cpus()  # before setup(): its masking starts the TensorFlow runtime
    config, train, eval_set, run, vocab = setup(quick, steps, batch_size, learning_rate, compare=compare)
    result = RUNNERS[name](config, train, eval_set, run, export_path=export_path)
    if export_path and result["status"] == "ok":  # keras-ssl-export --task=text reads vocab.txt beside the model
        vocab.save(os.path.join(os.path.dirname(os.path.abspath(export_path)), "vocab.txt"))
    return {"approach": name, **result, "config": dataclasses.asdict(config), "run": run}


def run_in_subprocess(name, passthrough):
    """One approach in a fresh Python (logical devices and cluster connections are per process)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        proc = subprocess.run([sys.executable, "-m", "studies.model_parallel.main", f"--approach={name}",
                               f"--json_out={out}", *passthrough], capture_output=True, text=True, cwd=ROOT)
        if proc.returncode or not os.path.exists(out):
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
            return {"approach": name, "status": "crashed", "error": tail[0], "returncode": proc.returncode}
        with open(out, encoding="utf-8") as f:
            return json.load(f)[0]


def _passthrough(config):
    """The flags every subprocess gets, so each approach runs at the size and settings asked for."""
    return [f"--quick={config.quick}", f"--compare={config.compare}", f"--batch_size={config.batch_size}",
            f"--learning_rate={config.learning_rate}"] + ([f"--steps={config.steps}"] if config.steps else [])


def run(config):
    """Runs ``config.approaches``, prints each result, writes them to ``config.json_out``; returns them."""
    names = config.approaches
    if len(names) == 1:
        results = [run_one(names[0], config.quick, config.steps, config.batch_size, config.learning_rate,
                           config.export_path, config.compare)]
    else:
        results = [run_in_subprocess(n, _passthrough(config) + ([f"--export_path={config.export_path}"]
                                                                if n == "ps" and config.export_path else []))
                   for n in names]
    for result in results:
        print(format_result(result), flush=True)
    if config.json_out:
        with open(config.json_out, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1, default=str)
    return results
