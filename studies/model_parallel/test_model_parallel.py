"""The sharded BiLSTM MLM really spans two devices and computes what the plain MLM computes.

Each approach runs in a fresh Python (both at once, one per core): two logical CPUs and an in-process cluster
can only be set up before TensorFlow starts, and the rest of the suite has long started it in this process.
The code under test is ``studies.model_parallel``; ``studies.model_parallel.main`` is its thin flags binary.
"""
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
APPROACHES = ("ps", "manual")  # ParameterServerStrategy partitioning; hand-placed shards on /CPU:0 and /CPU:1


def _run_all(tmp_path):
    """Starts every approach's quick run, then waits for all; {approach: its result dict}."""
    procs = {}
    for approach in APPROACHES:
        cmd = [sys.executable, "-m", "studies.model_parallel.main", "--quick", f"--approach={approach}",
               "--steps=5", "--batch_size=32", "--nocompare", f"--json_out={tmp_path / approach}.json"]
        procs[approach] = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    results = {}
    for approach, proc in procs.items():
        output, _ = proc.communicate(timeout=180)
        assert proc.returncode == 0, f"{approach} failed:\n{output[-3000:]}"
        results[approach] = json.loads((tmp_path / f"{approach}.json").read_text())[0]
    return results


def test_sharded_mlm_spans_two_devices_and_matches_the_plain_mlm(tmp_path):
    results = _run_all(tmp_path)
    for approach, result in results.items():
        assert result["status"] == "ok", (approach, result)
        vocab = result["config"]["vocab_size"]
        for layer in ("embedding", "token_logits"):
            shards = [s for s in result["shards"] if s["variable"].startswith(layer + "/")]
            assert len({s["device"] for s in shards}) == 2, (approach, shards)
        table = [s["shape"] for s in result["shards"] if s["variable"].startswith("embedding/")]
        assert len(table) == 2 and sum(shape[0] for shape in table) == vocab, (approach, table)
        assert result["max_abs_diff_vs_unsharded"] < 1e-5, approach
        assert result["loss"]["after"] < result["loss"]["before"], (approach, result["loss"])
    for layer, devices in results["manual"]["compute_devices"].items():
        assert len(set(devices)) == 2, f"manual: {layer}'s partial results were computed on {devices}"
    pinned = set(results["manual"]["graph_ops_pinned"])  # what training runs: the traced graph
    assert {"MatMul@/device:CPU:0", "MatMul@/device:CPU:1", "ResourceGather@/device:CPU:1"} <= pinned, pinned
