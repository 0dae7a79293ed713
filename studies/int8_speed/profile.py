"""Where a TFLite model's time goes, layer by layer, per mode and kernel set (XNNPACK or builtin).

LiteRT's Python API has no op profiler, so this measures by prefixes: the model cut after layer k is converted
and timed; layer k's cost is the difference from the prefix before it.  It answers the question a per-op profile
answers ("which layer makes int8 slower than float32?") with the same converter, kernels and harness as the
shipped artifact.  Prefix timings are medians of interleaved rounds, and differences smaller than their run-to-run
noise mean nothing (its size: README.md beside this file, "Measurements behind the code").
"""
import os
import tempfile

import numpy as np

from keras_ssl.base.keras import tf_keras
from keras_ssl.benchmark.harness import BenchmarkConfig, benchmark
from tflite_export.convert import to_tflite
from tflite_export.inspect import xnnpack_coverage


def prefix_models(model):
    """(layer name, model cut after that layer) for each computing layer of a flat functional model."""
    prefixes = []
    for layer in model.layers:
        if isinstance(layer, tf_keras.layers.InputLayer):
            continue
        prefixes.append((layer.name, tf_keras.Model(model.inputs, layer.output, name=f"upto_{layer.name}")))
    return prefixes


def time_artifacts(flatbuffers, example, use_xnnpack=True, runs=2000, warmup=200):
    """Batch-1, 1-thread p50 (µs) of each flatbuffer, timed interleaved by the benchmark harness."""
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, flatbuffer in enumerate(flatbuffers):
            paths.append(os.path.join(folder, f"{i}.tflite"))
            with open(paths[-1], "wb") as f:
                f.write(flatbuffer)
        config = BenchmarkConfig(num_runs=runs, warmup_runs=warmup, use_xnnpack=use_xnnpack)
        return [r["p50"] for r in benchmark(paths, config, inputs=np.asarray(example)[None])]


def mode_table(model, modes, calibration, example, runs=2000):
    """p50 per mode with XNNPACK and with builtin kernels only, plus XNNPACK coverage of each artifact."""
    flatbuffers = [to_tflite(model, mode, representative_data=calibration) for mode in modes]
    with_xnnpack = time_artifacts(flatbuffers, example, True, runs)
    builtin = time_artifacts(flatbuffers, example, False, runs)
    return [{"mode": mode, "p50_us_xnnpack": a, "p50_us_builtin": b, "bytes": len(fb),
             "xnnpack": xnnpack_coverage(content=fb)}
            for mode, fb, a, b in zip(modes, flatbuffers, with_xnnpack, builtin)]


def layer_profile(model, modes, calibration, example, use_xnnpack, runs=1000):
    """Per layer and mode: µs added by that layer (prefix k minus prefix k-1), for the given kernel set."""
    rows = []
    prefixes = prefix_models(model)
    timings = {}
    for mode in modes:
        flatbuffers = [to_tflite(prefix, mode, representative_data=calibration) for _, prefix in prefixes]
        timings[mode] = time_artifacts(flatbuffers, example, use_xnnpack, runs)
    for i, (name, _) in enumerate(prefixes):
        row = {"layer": name, "type": model.get_layer(name).__class__.__name__}
        for mode in modes:
            previous = timings[mode][i - 1] if i else 0.0
            row[f"{mode}_us"] = round(timings[mode][i] - previous, 3)
        rows.append(row)
    return rows
