"""A tiny training job under any strategy, to check a cluster and measure throughput: one JSON line per model.

    python -m studies.scaling.distribute_smoke --strategy=multi_worker --model=classifier --steps=5 --prune --qat

It trains the pipeline's own models (the digits classifier, the BiLSTM MLM) with the pipeline's own datasets and
helpers, optionally prunes (tfmot's ``UpdatePruningStep`` under the strategy) and runs QAT, and prints
``DISTRIBUTE_SMOKE {...}``: replicas, global/per-replica batch, measured step time and examples/s, trainable bytes
(the all-reduce payload), and a checksum of the weights.  Workers of one cluster must print the same checksums:
the tests launch two on 127.0.0.1 and compare them; ``studies/scaling/main.py`` reads the timings.
"""
import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf, tf_keras
from keras_ssl.training import distribute

RESULT_PREFIX = "DISTRIBUTE_SMOKE "
MODELS = ("classifier", "mlm")


def parse_args(argv):
    """The command line (argparse: this module is also imported by tests, which must not define absl flags)."""
    parser = argparse.ArgumentParser(prog="python -m studies.scaling.distribute_smoke",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", default="default", choices=distribute.STRATEGIES)
    parser.add_argument("--model", default="classifier", help="classifier, mlm, or both: classifier,mlm")
    parser.add_argument("--mlm_size", default="tiny", choices=("tiny", "demo"), help="demo = the demo's 452k MLM")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps (after the warm-up ones)")
    parser.add_argument("--warmup_steps", type=int, default=2, help="untimed first steps (tracing, first all-reduce)")
    parser.add_argument("--batch_size", type=int, default=0, help="global batch size (0: --per_replica_batch x "
                        "replicas)")
    parser.add_argument("--per_replica_batch", type=int, default=32)
    parser.add_argument("--prune", action="store_true", help="then prune to 50%% for --steps steps")
    parser.add_argument("--qat", action="store_true", help="then quantization-aware training for --steps steps")
    parser.add_argument("--cpu_replicas", type=int, default=0, help="split the CPU into N devices (mirrored, tests)")
    parser.add_argument("--threads", type=int, default=0, help="intra/inter-op threads (0: TensorFlow's default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.model = [m for m in args.model.split(",") if m]
    if not args.model or set(args.model) - set(MODELS):
        parser.error(f"--model must name one or more of {MODELS}")
    if args.steps < 1 or args.warmup_steps < 1:
        parser.error("--steps and --warmup_steps must be at least 1")
    return args


def start(strategy_name, cpu_replicas=0, threads=0):
    """Process-wide settings TensorFlow accepts only before it starts, then the strategy."""
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    if cpu_replicas > 1:
        distribute.split_cpu(cpu_replicas)
    return distribute.make_strategy(strategy_name)


class StepTimes(tf_keras.callbacks.Callback):
    """Wall time at the end of every training step (``fit`` runs one step per batch here)."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_end(self, batch, logs=None):
        """Records the time; the step's outputs are ready when Keras calls this on CPU (eager, synchronous)."""
        self.times.append(time.perf_counter())


def _task(name, mlm_size, global_batch, seed):
    """(build function, sparse_weighted, finite dataset) for one model, with the pipeline's data helpers."""
    if name == "classifier":
        from keras_ssl.data.images import load_digits
        from keras_ssl.models.classifier import ClassifierConfig, build_classifier
        from keras_ssl.models.conv_autoencoder import AutoencoderConfig
        from keras_ssl.training.fit import classification_dataset

        data = load_digits(image_size=8, seed=seed)
        config = ClassifierConfig(encoder=AutoencoderConfig(image_size=8, widths=(8, 32)), dropout=0.0)
        return (lambda: build_classifier(config)), False, \
            classification_dataset(data.x_train, data.y_train, global_batch, seed=seed)
    from keras_ssl.data.masking import mlm_dataset
    from keras_ssl.models.bilstm_mlm import MLMConfig, build_mlm

    config = MLMConfig(vocab_size=2000, seq_len=32, embedding_dim=64, lstm_units=64, dropout=0.1) \
        if mlm_size == "demo" else MLMConfig(vocab_size=50, seq_len=8, embedding_dim=8, lstm_units=8, dropout=0.0)
    # Token values do not change the step's cost; random ids keep the job free of corpus loading.
    sequences = np.random.default_rng(seed).integers(3, config.vocab_size, size=(4096, config.seq_len))
    return (lambda: build_mlm(config)), True, mlm_dataset(sequences, config.vocab_size, global_batch, seed=seed)


def weights_checksum(model):
    """sha256 (16 hex digits) of every weight's bytes, in model order: equal only for bit-identical weights."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()[:16]


def replicas_agree(model):
    """True when every distributed variable holds the same value on each local replica (plain ones trivially)."""
    for weight in model.weights:
        values = [v.numpy() for v in getattr(weight, "values", [weight])]
        if not all(np.array_equal(values[0], other) for other in values[1:]):
            return False
    return True


def run_model(name, strategy, args):
    """Trains (and optionally prunes and QATs) one model under ``strategy``; returns the result dict."""
    from keras_ssl.training.fit import compile_for_logits

    global_batch = args.batch_size or distribute.global_batch_size(args.per_replica_batch, strategy)
    per_replica = distribute.per_replica_batch_size(global_batch, strategy)
    tf_keras.utils.set_random_seed(args.seed)
    build, sparse, dataset = _task(name, args.mlm_size, global_batch, args.seed)

    def compile_fn(model):
        return compile_for_logits(model, 1e-3, sparse_weighted=sparse)

    started = time.perf_counter()
    with distribute.strategy_scope(strategy):
        model = compile_fn(build())
    timer = StepTimes()
    history = model.fit(dataset.repeat(), steps_per_epoch=args.warmup_steps + args.steps, epochs=1, verbose=0,
                        callbacks=[timer])
    # The median step, not the mean: on a shared machine one descheduled step should not move the number.
    step_s = float(np.median(np.diff(timer.times[args.warmup_steps - 1:])))
    result = {"model": name, "strategy": args.strategy, "replicas": distribute.num_replicas(strategy),
              "task_index": _task_index(), "global_batch": global_batch, "per_replica_batch": per_replica,
              "steps": args.steps, "step_ms": round(1000 * step_s, 3), "load_avg_1min": os.getloadavg()[0],
              "examples_per_s": round(global_batch / step_s, 1),
              "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
              "trainable_bytes": int(sum(np.prod(w.shape) * w.dtype.size for w in model.trainable_weights)),
              "loss": float(history.history["loss"][-1]), "checksum": weights_checksum(model),
              "replicas_agree": replicas_agree(model)}
    finite = dataset.take(args.steps)
    result["seconds"] = {"train": round(time.perf_counter() - started, 2)}
    if args.prune:
        from keras_ssl.base.metrics import sparsity
        from keras_ssl.compress.prune import PruneConfig, prune_magnitude

        with distribute.strategy_scope(strategy):
            pruned = prune_magnitude(model, finite, PruneConfig(target_sparsity=0.5, epochs=1), compile_fn)
        result["seconds"]["prune"] = round(time.perf_counter() - started - sum(result["seconds"].values()), 2)
        result["pruned"] = {"sparsity": round(sparsity(pruned), 4), "checksum": weights_checksum(pruned),
                            "replicas_agree": replicas_agree(pruned)}
    if args.qat:
        from keras_ssl.compress.quantize import QATConfig, quantize_aware

        with distribute.strategy_scope(strategy):
            qat = quantize_aware(model, finite, QATConfig(epochs=1), compile_fn)
        result["seconds"]["qat"] = round(time.perf_counter() - started - sum(result["seconds"].values()), 2)
        result["qat"] = {"quantized_layers": sum("quant" in layer.name for layer in qat.layers),
                         "checksum": weights_checksum(qat), "replicas_agree": replicas_agree(qat),
                         "loss": float(qat.history.history["loss"][-1])}
    return result


def _task_index():
    try:
        return int(json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {}).get("index", 0))
    except (ValueError, AttributeError):
        return 0


def main(argv=None):
    """Runs every ``--model`` and prints one ``DISTRIBUTE_SMOKE`` JSON line each; exit 2 with one line on bad input."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        strategy = start(args.strategy, args.cpu_replicas, args.threads)
        for name in args.model:
            print(RESULT_PREFIX + json.dumps(run_model(name, strategy, args)), flush=True)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def parse_results(lines):
    """The result dicts in a worker's output lines (other lines are ignored)."""
    return [json.loads(line[line.index(RESULT_PREFIX) + len(RESULT_PREFIX):]) for line in lines
            if RESULT_PREFIX in line]


if __name__ == "__main__":
    sys.exit(main())
