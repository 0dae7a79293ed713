"""Turns a model into a report row: write the artifact, run it, measure size, accuracy and latency.

Latency comes from the benchmark harness, timing all rows interleaved, so ratios within a report are fair.

Accuracy is always measured by running the artifact itself (Keras for .keras, LiteRT for .tflite) on the task's
test inputs, and top-1 agreement with the source Keras model shows whether conversion changed predictions.
"""
import dataclasses
import os
from typing import Callable

import numpy as np
from absl import logging

from keras_ssl.base.errors import UserError
from keras_ssl.base.metrics import count_params, file_sizes, layer_sparsity, sparsity
from keras_ssl.benchmark.harness import BenchmarkConfig, benchmark
from keras_ssl.benchmark.stats import FIELDS
from keras_ssl.models.introspect import has_recurrent_layers
from keras_ssl.pipeline.checked import checked_mediapipe, checked_onnx, checked_tflite, checked_xla
from tflite_export.artifacts import manifest_path
from tflite_export.mediapipe import MEDIAPIPE_ARTIFACTS
from tflite_export.xla import inference_latency, is_xla_compiled


@dataclasses.dataclass
class Evaluation:
    """How a task scores outputs: ``inputs`` to run, ``score(outputs)`` → accuracy, ``top1(outputs)`` → the
    predictions that must agree across formats (per image, or per masked position)."""
    inputs: np.ndarray
    score: Callable[[np.ndarray], float]
    top1: Callable[[np.ndarray], np.ndarray]
    calibration: np.ndarray
    associated_files: dict = dataclasses.field(default_factory=dict)  # shipped next to every artifact
    latency_runs: int = 200
    latency_warmup: int = 20
    class_names: tuple = ()  # an image classifier's labels: its MediaPipe-ready artifacts are exported too
    artifacts: str = "all"  # ARTIFACT_SETS: "core" exports only what the demo's story needs


def _row(name, fmt, path, model, accuracy, agreement, recipe, **extra):
    size, gz = file_sizes(path)
    row = {"name": name, "format": fmt, "size_bytes": size, "gzip_bytes": gz, "params": count_params(model),
           "sparsity": round(sparsity(model), 4), "accuracy": accuracy, "latency_us_p50": None,
           "latency_us": None, "recipe": recipe, "path": os.path.basename(path), "agreement_with_keras": agreement}
    row.update(extra)
    logging.info("variant %-22s %-7s %9d B  gzip %9d B  acc %.4f", name, fmt, size, gz, accuracy)
    return row


def keras_variant(name, model, artifacts_dir, evaluation, recipe):
    """Saves ``model`` as ``<name>.keras`` and scores the in-memory model; its agreement is 1 by definition."""
    path = os.path.join(artifacts_dir, f"{name}.keras")
    model.save(path)
    outputs = model.predict(evaluation.inputs, batch_size=256, verbose=0)
    return _row(name, "keras", path, model, evaluation.score(outputs), 1.0, recipe)


def tflite_variant(name, model, mode, artifacts_dir, evaluation, recipe, reference, unroll_rnn=False,
                   size_first=False, **extra):
    """Exports ``model`` in ``mode`` (artifact + manifest), validates it in LiteRT and returns its report row."""
    path = os.path.join(artifacts_dir, f"{name}.tflite")
    checked = checked_tflite(model, path, mode, reference, evaluation.inputs, evaluation.top1, evaluation.score,
                             representative_data=evaluation.calibration,
                             associated_files=evaluation.associated_files, unroll_rnn=unroll_rnn,
                             size_first=size_first)
    return _tflite_row(name, path, model, mode, recipe, *checked, **extra)


def _tflite_row(name, path, model, mode, recipe, manifest, validation, convert_s, **extra):
    return _row(name, "tflite", path, model, validation["accuracy"], validation["top1_agreement"], recipe,
                quantization=mode, max_abs_diff_vs_keras=validation["max_abs_diff"], ops=sorted(manifest["ops"]),
                tensor_dtypes=manifest["tensor_dtypes"], io_dtypes=_io_dtypes(manifest),
                xnnpack=manifest["xnnpack"], gpu_delegate=manifest["gpu_delegate"]["compatible"],
                manifest=os.path.basename(manifest_path(path)), convert_seconds=round(convert_s, 2), **extra)


def mediapipe_variant(name, model, mode, artifacts_dir, evaluation):
    """``model`` as MediaPipe takes it, in ``mode``; its accuracy and agreement are on the test images sent as RGB,
    and its row records MediaPipe's own run (``mediapipe``)."""
    path = os.path.join(artifacts_dir, f"{name}.tflite")
    manifest, validation, convert_s = checked_mediapipe(
        model, path, mode, evaluation.inputs, evaluation.top1, evaluation.score, evaluation.calibration,
        evaluation.class_names, associated_files=evaluation.associated_files)
    return _tflite_row(name, path, model, mode, f"mediapipe-{mode}", manifest, validation, convert_s,
                       mediapipe=manifest["mediapipe"])


def onnx_variant(name, model, artifacts_dir, evaluation, reference, quantize=False):
    """tf2onnx export (optionally onnxruntime dynamic int8), scored by running it in onnxruntime at batch 1."""
    path = os.path.join(artifacts_dir, f"{name}.onnx")
    check, convert_s = checked_onnx(model, path, reference, evaluation.inputs, evaluation.top1, evaluation.score,
                                    quantize)
    return _row(name, "onnx", path, model, check["accuracy"], check["top1_agreement"],
                "onnx-dynamic-int8" if quantize else "none", quantization="dynamic" if quantize else "float32",
                max_abs_diff_vs_keras=check["max_abs_diff"], convert_seconds=round(convert_s, 2))


def xla_variant(name, model, artifacts_dir, evaluation, reference):
    """A SavedModel whose serving function is XLA-compiled (for TF Serving / TF runtimes), scored by running it."""
    path = os.path.join(artifacts_dir, name)
    check, convert_s = checked_xla(model, path, reference, evaluation.inputs, evaluation.top1, evaluation.score)
    return _row(name, "saved_model", path, model, check["accuracy"], check["top1_agreement"], "xla",
                quantization="float32", xla_compiled=is_xla_compiled(path),
                max_abs_diff_vs_keras=check["max_abs_diff"], convert_seconds=round(convert_s, 2))


def _io_dtypes(manifest):
    return {"inputs": [t["dtype"] for t in manifest["inputs"]], "outputs": [t["dtype"] for t in manifest["outputs"]]}


# "all": every artifact keras-ssl makes; "core": the float32 baseline, dynamic-range, int8 (and its fast forms:
# int8_mixed, int8 unrolled), the compressed rows and MediaPipe's, i.e. what ships.  "core" leaves out float16, int8
# with int8 I/O, int16x8, the unpruned int4 row beside ai-edge-quantizer's own, ONNX, XLA and TensorFlow's latency:
# about half of the text demo's export stage (docs/results.md, "Demo stages").
ARTIFACT_SETS = ("all", "core")
CORE_PTQ_MODES = ("dynamic", "int8")

# (row name, TFLite mode, recipe): post-training conversions of the uncompressed model, one row each.
PTQ_ROWS = (("tflite_float16", "float16", "ptq-float16"), ("tflite_dynamic", "dynamic", "ptq-dynamic"),
            ("tflite_int8", "int8", "ptq-int8"), ("tflite_int8_io", "int8_io", "ptq-int8-integer-io"),
            ("tflite_int16x8", "int16x8", "ptq-int16x8"))


def int4_mode(model):
    """The int4 mode that keeps ``model`` in XNNPACK: RNNs unrolled, so their matrices are int4 too."""
    return "int4_unrolled" if has_recurrent_layers(model) else "int4"


def int4_rows(model):
    """(row name, mode, recipe, export options): keras-ssl's int4 beside ai-edge-quantizer's own int4 recipe on the
    same graph, the latter kept whatever kernels it needs (it is the reference, not a candidate)."""
    mode = int4_mode(model)
    unroll = mode == "int4_unrolled"
    return ((f"tflite_{mode}", mode, f"ptq-{mode}", {}),
            ("aeq_dynamic_wi4", "aeq_wi4", "aeq-dynamic_wi4_afp32" + ("-unrolled-rnn" if unroll else ""),
             {"unroll_rnn": unroll, "size_first": True}))


def _int8_leaves_xnnpack(rows):
    """Whether the int8 row has op kinds on builtin kernels that XNNPACK took in float32."""
    left = {row["name"]: set(row["xnnpack"]["not_delegated_ops"]) for row in rows if row.get("xnnpack")}
    return "tflite_int8" in left and bool(left["tflite_int8"] - left["tflite_float32"])


def standard_variants(float_model, compressed, artifacts_dir, evaluation):
    """The float Keras model, its TFLite float32 baseline, every post-training conversion, each ``compressed``
    (row name, model, recipe, TFLite mode) exported in its mode (int8 or int8_per_tensor); ONNX (float32 and
    dynamic int8) and an XLA SavedModel.
    Returns (rows, baseline_name, export) where ``export["skipped"]`` lists conversions the model's ops do not
    allow, with the reason (e.g. no 16x8 LSTM kernel), ``export["artifacts"]`` names the set made (``"core"``:
    see ARTIFACT_SETS) and, for ``"all"``, ``export["tensorflow_latency_us"]`` compares eager, tf.function and XLA
    calls.

    Agreement and max |difference| are against the uncompressed Keras model, so they show what conversion and
    compression together changed."""
    reference = float_model.predict(evaluation.inputs, batch_size=256, verbose=0)
    rows = [keras_variant("keras_float32", float_model, artifacts_dir, evaluation, "none"),
            tflite_variant("tflite_float32", float_model, "float32", artifacts_dir, evaluation, "none", reference)]
    skipped = []
    recurrent = has_recurrent_layers(float_model)
    full = evaluation.artifacts == "all"
    ptq = [row + ({},) for row in PTQ_ROWS if full or row[1] in CORE_PTQ_MODES]
    for name, mode, recipe, options in ptq + (list(int4_rows(float_model)) if full else []):
        try:
            rows.append(tflite_variant(name, float_model, mode, artifacts_dir, evaluation, recipe, reference,
                                       **options))
        except UserError as e:
            logging.warning("skipping %s: %s", name, e)
            skipped.append({"name": name, "quantization": mode, "reason": str(e)})
    if _int8_leaves_xnnpack(rows):
        # e.g. the transformer's attention and LayerNorm: int8_mixed keeps those op kinds in float32 (convert.py).
        rows.append(tflite_variant("tflite_int8_mixed", float_model, "int8_mixed", artifacts_dir, evaluation,
                                   "ptq-int8-mixed", reference))
    if recurrent:
        # The fused int8 LSTM kernel is the slow part of the int8 MLM; unrolled, XNNPACK runs it (convert.py).
        rows.append(tflite_variant("tflite_int8_unrolled", float_model, "int8", artifacts_dir, evaluation,
                                   "ptq-int8-unrolled-rnn", reference, unroll_rnn=True))
    for name, model, recipe, mode in compressed:
        # The compressed Keras model's own accuracy separates what compression cost from what export cost.
        source_accuracy = evaluation.score(model.predict(evaluation.inputs, batch_size=256, verbose=0))
        try:
            rows.append(tflite_variant(name, model, mode, artifacts_dir, evaluation, recipe, reference,
                                       layer_sparsity=layer_sparsity(model), source_accuracy=source_accuracy))
        except UserError as e:  # e.g. an int4 artifact that would leave XNNPACK
            logging.warning("skipping %s: %s", name, e)
            skipped.append({"name": name, "quantization": mode, "reason": str(e)})
    for name, mode in MEDIAPIPE_ARTIFACTS.items() if evaluation.class_names else ():
        try:
            rows.append(mediapipe_variant(name, float_model, mode, artifacts_dir, evaluation))
        except UserError as e:  # e.g. MediaPipe not installed
            logging.warning("skipping %s: %s", name, e)
            skipped.append({"name": name, "quantization": mode, "reason": str(e)})
    if full:
        rows += other_runtime_variants(float_model, artifacts_dir, evaluation, reference, skipped)
    add_latency(rows, artifacts_dir, evaluation)
    export = {"skipped": skipped, "artifacts": evaluation.artifacts}
    if full:
        # Context, not an artifact: eager calls of the BiLSTM take tens of ms each, and 50 runs settle the p50 of a
        # comparison that is orders of magnitude apart (at 200 runs this took a third of the text demo's export).
        export["tensorflow_latency_us"] = inference_latency(
            float_model, evaluation.inputs[0], runs=min(50, evaluation.latency_runs),
            warmup=min(5, evaluation.latency_warmup))
    return rows, "tflite_float32", export


def other_runtime_variants(float_model, artifacts_dir, evaluation, reference, skipped):
    """ONNX (float32 and dynamic int8, each appended to ``skipped`` with its reason if tf2onnx refuses the model)
    and an XLA SavedModel: the rows for runtimes other than LiteRT."""
    rows = []
    for name, quantize in (("onnx_float32", False), ("onnx_dynamic", True)):
        try:
            rows.append(onnx_variant(name, float_model, artifacts_dir, evaluation, reference, quantize=quantize))
        except UserError as e:  # e.g. tf2onnx has no conversion for GELU's Erfc (the transformer MLM)
            logging.warning("skipping %s: %s", name, e)
            skipped.append({"name": name, "quantization": "onnx", "reason": str(e)})
    rows.append(xla_variant("xla_saved_model", float_model, artifacts_dir, evaluation, reference))
    return rows


def add_latency(rows, artifacts_dir, evaluation):
    """Times every artifact with the benchmark harness (batch 1, 1 thread, interleaved rounds on a real input)."""
    config = BenchmarkConfig(num_runs=evaluation.latency_runs, warmup_runs=evaluation.latency_warmup)
    paths = [os.path.join(artifacts_dir, row["path"]) for row in rows]
    for row, timing in zip(rows, benchmark(paths, config, inputs=evaluation.inputs[:1])):
        row["latency_us"] = {field: timing[field] for field in FIELDS}
        row["latency_us_p50"] = timing["p50"]
        row["latency_spread_pct"] = timing["p50_spread_pct"]
