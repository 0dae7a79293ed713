"""Data-parallel training: strategies, global batch sizes, dataset sharding, a real 2-worker cluster on 127.0.0.1,
and workers whose peer dies or never starts (the launcher must kill them and say so, never hang).

Two mirrored replicas need the CPU split into logical devices before TensorFlow starts, which pytest's process is
past, so that run and every multi-worker run are subprocesses, each with a hard timeout.
"""
import contextlib
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.training import distribute
from keras_ssl.training.launch import launch
from studies.scaling.distribute_smoke import parse_args, parse_results, run_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = [sys.executable, "-m", "studies.scaling.distribute_smoke"]
MULTI_WORKER = SMOKE + ["--strategy=multi_worker", "--model=classifier", "--steps=3", "--warmup_steps=1"]
HANG_S = 600  # long enough for TensorFlow to start on a loaded machine; a hang still fails


class FourReplicas:
    """Stands in for a 4-replica strategy in the batch-size arithmetic."""
    num_replicas_in_sync = 4


def _assert_all_gone(result):
    for pid in result.pids:  # the worker and anything left in its process group
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)


def test_default_strategy_is_a_no_op():
    default = distribute.make_strategy("default")
    assert distribute.is_default(default) and distribute.is_chief(default) and distribute.num_replicas(default) == 1
    assert isinstance(distribute.strategy_scope(default), contextlib.nullcontext)
    with pytest.raises(UserError, match="unknown strategy 'tpu'"):
        distribute.make_strategy("tpu")


@pytest.mark.parametrize("value, message", [
    (None, "needs the TF_CONFIG environment variable"),
    ("{not json", "TF_CONFIG is invalid"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}}', "TF_CONFIG is invalid"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 1}}', "task index 1 is not in"),
    ('{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}}', "only 'chief' and 'worker'"),
])
def test_multi_worker_needs_a_valid_tf_config(monkeypatch, value, message):
    if value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", value)
    with pytest.raises(UserError, match=message) as error:
        distribute.make_strategy("multi_worker")
    assert "launch_workers" in str(error.value) or "only 'chief'" in str(error.value)
    assert "\n" not in str(error.value)


def test_batch_sizes_are_global():
    assert distribute.per_replica_batch_size(64, FourReplicas()) == 16
    assert distribute.global_batch_size(16, FourReplicas()) == 64
    assert distribute.per_replica_batch_size(63, None) == 63
    with pytest.raises(UserError, match="multiple of 4"):
        distribute.per_replica_batch_size(66, FourReplicas())
    with pytest.raises(UserError, match="multiple of 4"):
        distribute.check_batch_sizes(FourReplicas(), pretrain=64, finetune=30)


def test_pipeline_config_checks_the_strategy():
    from keras_ssl.pipeline.config import PipelineConfig
    from keras_ssl.pipeline.workers import for_this_worker

    with pytest.raises(UserError, match="unknown strategy"):
        PipelineConfig(strategy="tpu")
    config = PipelineConfig(strategy="default")
    assert for_this_worker(config) is config


def test_datasets_are_sharded_by_element(digits8, token_sequences):
    from keras_ssl.base.keras import tf
    from keras_ssl.data.masking import mlm_dataset
    from keras_ssl.training.fit import classification_dataset

    for ds in (classification_dataset(digits8.x_train, digits8.y_train, 32),
               mlm_dataset(token_sequences, 50, 32)):
        assert ds.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.DATA
        assert getattr(ds, "keras_ssl_epoch", None) is not None  # still a keyed (resumable) dataset


@pytest.mark.parametrize("model", ["classifier", "mlm"])
def test_default_strategy_training_step(model):
    args = parse_args([f"--model={model}", "--steps=2", "--warmup_steps=1"])
    result = run_model(model, distribute.make_strategy("default"), args)
    assert result["replicas"] == 1 and result["global_batch"] == result["per_replica_batch"] == 32
    assert np.isfinite(result["loss"]) and result["step_ms"] > 0


def test_mirrored_two_replicas_train_prune_and_qat():
    # One process per model, side by side: most of each is single-threaded tracing.
    procs = [subprocess.Popen(SMOKE + ["--strategy=mirrored", "--cpu_replicas=2", "--steps=2", "--warmup_steps=1",
                                       f"--model={model}", "--prune", "--qat"],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for model in ("classifier", "mlm")]
    # A deadline catches a hang, not a slow machine: TensorFlow's start-up alone takes minutes on a loaded one.
    results, deadline = [], time.monotonic() + HANG_S
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=max(1, deadline - time.monotonic()))
            assert proc.returncode == 0, stderr[-3000:]
            results += parse_results(stdout.splitlines())
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    assert [r["model"] for r in results] == ["classifier", "mlm"]
    for r in results:
        assert r["replicas"] == 2 and r["global_batch"] == 64 and r["per_replica_batch"] == 32, r
        assert r["replicas_agree"] and np.isfinite(r["loss"]), r
    # UpdatePruningStep under the strategy: the schedule reached its target (prune_magnitude checks every weight)
    # and both replicas hold the same masked weights.
    for r in results:
        assert r["pruned"]["sparsity"] >= 0.49 and r["pruned"]["replicas_agree"], r
        assert r["qat"]["quantized_layers"] >= 1 and r["qat"]["replicas_agree"] and np.isfinite(r["qat"]["loss"]), r


def test_two_workers_end_with_identical_weights():
    result = launch([MULTI_WORKER + ["--prune"]] * 2, timeout=HANG_S, cwd=ROOT, stream=None)
    assert result.ok, f"{result.message}: {result.outputs[0][-20:]}"
    first, second = (parse_results(lines)[0] for lines in result.outputs)
    assert (first["task_index"], second["task_index"]) == (0, 1)
    assert first["replicas"] == second["replicas"] == 2 and first["global_batch"] == 64
    assert first["checksum"] == second["checksum"] and first["loss"] == second["loss"]
    assert first["pruned"]["checksum"] == second["pruned"]["checksum"]
    assert first["pruned"]["sparsity"] >= 0.49
    _assert_all_gone(result)


def test_worker_whose_peer_dies_is_killed_and_reported():
    dies = [sys.executable, "-c", "import sys, time; time.sleep(8); sys.exit(3)"]  # worker 0 is waiting by then
    result = launch([MULTI_WORKER, dies], timeout=60, cwd=ROOT, stream=None)
    assert not result.ok and result.seconds < 30
    assert result.message == "worker 1 of 2 exited with code 3; killed worker(s) 0 (SIGKILL)"
    assert result.returncodes == [-9, 3]
    _assert_all_gone(result)


def test_worker_whose_peer_never_starts_times_out():
    never = [sys.executable, "-c", "import time; time.sleep(600)"]  # holds its slot but never joins the cluster
    result = launch([MULTI_WORKER, never], timeout=15, cwd=ROOT, stream=None)
    assert not result.ok and 15 <= result.seconds < 25
    assert result.message.startswith("timed out after 15 s with worker(s) 0, 1 still running")
    assert result.returncodes == [-9, -9]
    assert not parse_results(result.outputs[0])  # it never got past the strategy
    _assert_all_gone(result)


def test_launcher_binary_sets_tf_config_and_reports_one_line():
    script = ("import json, os, sys; c = json.loads(os.environ['TF_CONFIG']); print(json.dumps(c)); "
              "sys.exit(3 * c['task']['index'])")
    out = subprocess.run([sys.executable, "-m", "experiments.launch_workers", "--num_workers=2", "--timeout=30", "--",
                          sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("error: worker 1 of 2 exited with code 3")
    configs = {}
    for line in out.stdout.splitlines():
        prefix, _, payload = line.partition("] ")
        configs[prefix] = json.loads(payload)
    assert set(configs) == {"[worker 0", "[worker 1"}
    workers = configs["[worker 0"]["cluster"]["worker"]
    assert len(set(workers)) == 2 and all(w.startswith("127.0.0.1:") for w in workers)
    assert [configs[f"[worker {i}"]["task"] for i in (0, 1)] == [{"type": "worker", "index": i} for i in (0, 1)]
