"""Turns a model into a report row: write the artifact, run it, measure size, accuracy and latency.

Latency comes from the benchmark harness, timing all rows interleaved, so ratios within a report are fair.

Accuracy is always measured by running the artifact itself (Keras for .keras, LiteRT for .tflite) on the task's
test inputs, and top-1 agreement with the source Keras model shows whether conversion changed predictions.
"""
import dataclasses
import os
import time
from typing import Callable

import numpy as np
from absl import logging

from keras_ssl.benchmark.harness import BenchmarkConfig, benchmark
from keras_ssl.benchmark.stats import FIELDS
from keras_ssl.io_utils import atomic_write_bytes
from keras_ssl.metrics import count_params, file_sizes, layer_sparsity, sparsity
from tflite_export.convert import to_tflite
from tflite_export.runner import TFLiteModel


@dataclasses.dataclass
class Evaluation:
    """How a task scores outputs: ``inputs`` to run, ``score(outputs)`` → accuracy, ``top1(outputs)`` → the
    predictions that must agree across formats (per image, or per masked position)."""
    inputs: np.ndarray
    score: Callable[[np.ndarray], float]
    top1: Callable[[np.ndarray], np.ndarray]
    calibration: np.ndarray
    latency_runs: int = 200
    latency_warmup: int = 20


def _row(name, fmt, path, model, accuracy, agreement, recipe, **extra):
    size, gz = file_sizes(path)
    row = {"name": name, "format": fmt, "size_bytes": size, "gzip_bytes": gz, "params": count_params(model),
           "sparsity": round(sparsity(model), 4), "accuracy": accuracy, "latency_us_p50": None,
           "latency_us": None, "recipe": recipe, "path": os.path.basename(path), "agreement_with_keras": agreement}
    row.update(extra)
    logging.info("variant %-22s %-7s %9d B  gzip %9d B  acc %.4f", name, fmt, size, gz, accuracy)
    return row


def keras_variant(name, model, artifacts_dir, evaluation, recipe):
    path = os.path.join(artifacts_dir, f"{name}.keras")
    model.save(path)
    outputs = model.predict(evaluation.inputs, batch_size=256, verbose=0)
    return _row(name, "keras", path, model, evaluation.score(outputs), 1.0, recipe)


def tflite_variant(name, model, mode, artifacts_dir, evaluation, recipe, reference, **extra):
    """Converts ``model`` in ``mode``, saves it, runs it in LiteRT and returns its report row."""
    start = time.perf_counter()
    flatbuffer = to_tflite(model, mode, representative_data=evaluation.calibration)
    convert_s = time.perf_counter() - start
    path = os.path.join(artifacts_dir, f"{name}.tflite")
    atomic_write_bytes(path, flatbuffer)
    runner = TFLiteModel(model_path=path, num_threads=1)
    outputs = runner.predict(evaluation.inputs)
    agreement = float(np.mean(evaluation.top1(outputs) == evaluation.top1(reference)))
    return _row(name, "tflite", path, model, evaluation.score(outputs), agreement, recipe,
                quantization=mode, max_abs_diff_vs_keras=float(np.abs(outputs - reference).max()),
                ops=runner.op_names(), tensor_dtypes=runner.tensor_dtypes(),
                convert_seconds=round(convert_s, 2), **extra)


def standard_variants(float_model, pruned_model, prune_recipe, artifacts_dir, evaluation):
    """The foundation's rows: the float Keras model, its TFLite float32 baseline, post-training quantisation,
    and the pruned model quantised to int8.  Returns (rows, baseline_name).

    Agreement and max |difference| are against the uncompressed Keras model, so they show what conversion and
    compression together changed."""
    reference = float_model.predict(evaluation.inputs, batch_size=256, verbose=0)
    rows = [
        keras_variant("keras_float32", float_model, artifacts_dir, evaluation, "none"),
        tflite_variant("tflite_float32", float_model, "float32", artifacts_dir, evaluation, "none", reference),
        tflite_variant("tflite_dynamic", float_model, "dynamic", artifacts_dir, evaluation, "ptq-dynamic", reference),
        tflite_variant("tflite_int8", float_model, "int8", artifacts_dir, evaluation, "ptq-int8", reference),
        tflite_variant("pruned_int8", pruned_model, "int8", artifacts_dir, evaluation, prune_recipe + "+ptq-int8",
                       reference, layer_sparsity=layer_sparsity(pruned_model)),
    ]
    add_latency(rows, artifacts_dir, evaluation)
    return rows, "tflite_float32"


def add_latency(rows, artifacts_dir, evaluation):
    """Times every artifact with the benchmark harness (batch 1, 1 thread, interleaved rounds on a real input)."""
    config = BenchmarkConfig(num_runs=evaluation.latency_runs, warmup_runs=evaluation.latency_warmup)
    paths = [os.path.join(artifacts_dir, row["path"]) for row in rows]
    for row, timing in zip(rows, benchmark(paths, config, inputs=evaluation.inputs[:1])):
        row["latency_us"] = {field: timing[field] for field in FIELDS}
        row["latency_us_p50"] = timing["p50"]
        row["latency_spread_pct"] = timing["p50_spread_pct"]
