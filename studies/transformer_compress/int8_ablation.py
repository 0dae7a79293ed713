"""Which ops make the transformer's int8 artifact slower than float32: the same model converted with each group of
op kinds kept float32 (the converter's selective quantisation), every artifact timed interleaved at batch 1.

Latency does not depend on training, so the default model is the demo-size transformer MLM untrained (random
weights, random token ids for calibration); ``model_path`` times a trained one instead.
"""
import dataclasses
import os
import tempfile

import numpy as np

from keras_ssl.base.io_utils import atomic_write_json, atomic_write_text
from keras_ssl.base.keras import tf_keras
from keras_ssl.benchmark.harness import BenchmarkConfig, benchmark
from keras_ssl.models.transformer import TransformerConfig, build_transformer_mlm
from tflite_export.convert import int8_keeping_float, int8_lost_ops, to_tflite
from tflite_export.inspect import xnnpack_coverage

# Op kinds kept float32, by the part of the model they compute.
GROUPS = (("attention", ("BATCH_MATMUL", "SOFTMAX")), ("GELU", ("GELU",)),
          ("LayerNorm", ("RSQRT", "SQUARED_DIFFERENCE", "SUB", "ADD")))


@dataclasses.dataclass
class AblationConfig:
    output_dir: str
    model_path: str = None  # a .keras transformer MLM; default: the demo-size one, untrained
    runs: int = 300


def _model(config):
    if config.model_path:
        from keras_ssl.jobs.export_job import load_keras_model
        return load_keras_model(config.model_path)
    tf_keras.utils.set_random_seed(0)
    return build_transformer_mlm(TransformerConfig())


def artifacts(model, calibration):
    """[(name, op kinds kept float32, flatbuffer)]: float32, dynamic, int8, int8 with each group kept float32,
    all groups, and ``int8_mixed`` (the kinds that leave XNNPACK, found by comparing the two graphs)."""
    lost, full = int8_lost_ops(model, calibration)
    rows = [("float32", (), to_tflite(model, "float32")), ("dynamic", (), to_tflite(model, "dynamic")),
            ("int8", (), full)]
    for name, ops in GROUPS:
        rows.append((f"int8, {name} float32", ops, int8_keeping_float(model, ops, calibration)))
    every = tuple(op for _, ops in GROUPS for op in ops)
    rows.append(("int8, all three float32", every, int8_keeping_float(model, every, calibration)))
    rows.append(("int8_mixed", tuple(lost), to_tflite(model, "int8_mixed", calibration)))
    return rows


def run_ablation(config):
    """Converts, inspects and times every artifact; writes int8_ablation.{json,md}; returns (rows, markdown)."""
    model = _model(config)
    seq_len, vocab = int(model.inputs[0].shape[1]), int(model.outputs[0].shape[-1])
    calibration = np.random.default_rng(0).integers(3, vocab, size=(100, seq_len)).astype(np.int32)
    built = artifacts(model, calibration)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for index, (name, kept, flatbuffer) in enumerate(built):
            paths.append(os.path.join(folder, f"{index}.tflite"))
            with open(paths[-1], "wb") as f:
                f.write(flatbuffer)
            coverage = xnnpack_coverage(content=flatbuffer)
            rows.append({"artifact": name, "kept_float32": list(kept), "bytes": len(flatbuffer),
                         "xnnpack_nodes": f"{coverage['delegated_nodes']}/{coverage['nodes']}",
                         "partitions": coverage["partitions"], "left_on_builtin": coverage["not_delegated_ops"]})
        timings = benchmark(paths, BenchmarkConfig(num_runs=config.runs, warmup_runs=config.runs // 10),
                            inputs=calibration[:1])
    for row, timing in zip(rows, timings):
        row["p50_us"] = timing["p50"]
        row["vs_float32"] = round(timings[0]["p50"] / timing["p50"], 2)
    markdown = "\n".join(
        ["| artifact | kept float32 | XNNPACK nodes | partitions | left on builtin | p50 µs | speed vs float32 |",
         "|---|---|---|---:|---|---:|---:|"] +
        [f"| {r['artifact']} | {', '.join(r['kept_float32']) or '-'} | {r['xnnpack_nodes']} | {r['partitions']} | "
         f"{', '.join(f'{op} ×{n}' for op, n in r['left_on_builtin'].items()) or '-'} | {r['p50_us']:.1f} | "
         f"{r['vs_float32']:.2f}x |" for r in rows])
    os.makedirs(config.output_dir, exist_ok=True)
    atomic_write_json(os.path.join(config.output_dir, "int8_ablation.json"), rows)
    atomic_write_text(os.path.join(config.output_dir, "int8_ablation.md"), markdown + "\n")
    return rows, markdown
