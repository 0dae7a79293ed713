"""The export job behind ``experiments/export.py``: one model in, every requested artifact out, each validated.

For each mode: convert → write ``NAME_MODE.tflite`` + manifest (+ labels/vocab) → run it in LiteRT against the
source model → record agreement, accuracy and XNNPACK coverage.  Optionally ONNX and an XLA SavedModel too.
Everything is staged and moved into ``output_dir`` only when the job completes; existing files are refused unless
``overwrite``.
"""
import dataclasses
import os

import numpy as np
from absl import logging

from keras_ssl.base.errors import UserError
from keras_ssl.base.io_utils import atomic_write_json, atomic_write_text, staged_dir
from keras_ssl.base.output_lock import locks_output
from keras_ssl.base.tflite_modes import CALIBRATED_MODES, MODES
from keras_ssl.pipeline.checked import checked_mediapipe, checked_onnx, checked_tflite, checked_tvm, checked_xla
from tflite_export.artifacts import check_writable, manifest_path
from tflite_export.mediapipe import MEDIAPIPE_ARTIFACTS
from tflite_export.validate import argmax_top1, judge
from tflite_export.xla import is_xla_compiled

DEFAULT_MODES = ("float32", "float16", "dynamic", "int8", "int8_io")
TASKS = ("image", "text")


@dataclasses.dataclass
class ExportRequest:
    """Everything ``experiments/export.py`` asks for; invalid combinations raise UserError up front.

    Data comes from ``task`` (the pipeline's splits), else ``calibration_npy``, else synthetic inputs (float modes
    only, agreement without accuracy).  ``num_validation`` (0 = all) cannot be combined with ``task``.
    """
    model: str  # .keras / .h5 file (plain, pruned or QAT) or a SavedModel folder
    output_dir: str
    modes: tuple = DEFAULT_MODES
    task: str = None  # image|text: calibration data, accuracy and labels/vocab from the pipeline's splits
    data_path: str = None  # --task=image: one of data_path, dataset, image_dir (keras_ssl.data.images)
    dataset: str = "digits"
    image_dir: str = None
    text_files: tuple = ()
    stream_text: bool = False  # the pipeline's streamed split of text_files (--stream_text runs)
    vocab: str = None
    calibration_npy: str = None  # alternative to --task: an .npy of real inputs
    num_calibration: int = 100
    num_validation: int = 0  # 0 = the whole test split
    onnx: bool = False
    xla: bool = False
    tvm: bool = False  # NAME.so: the ONNX model compiled by TVM (Relax, llvm, untuned); pip install keras-ssl[tvm]
    # With --task=image and a Keras model: NAME_mediapipe_{float32,uint8}.tflite, which MediaPipe's ImageClassifier
    # loads as they are (RGB in, probabilities out, metadata with the labels), checked by running MediaPipe.
    mediapipe: bool = True
    allow_flex: bool = False
    unroll_rnn: bool = False
    size_first: bool = False  # int4 modes: accept ops that leave XNNPACK for the smaller file
    overwrite: bool = False
    max_drop_points: float = 1.0

    def __post_init__(self):
        self.modes = tuple(self.modes)
        unknown = [m for m in self.modes if m not in MODES]
        if unknown or not self.modes:
            raise UserError(f"unknown --modes {unknown or '(empty)'}: choose from {', '.join(MODES)}")
        if self.task is not None and self.task not in TASKS:
            raise UserError(f"unknown --task={self.task}: use image or text")
        if self.num_calibration < 1 or self.num_validation < 0:
            raise UserError("--num_calibration must be ≥ 1 and --num_validation ≥ 0")
        if self.num_validation and self.task:
            raise UserError("--num_validation cannot be combined with --task: accuracy is scored on the whole split")
        if not os.path.exists(self.model):
            raise UserError(f"model not found: {self.model} (pass a .keras/.h5 file or a SavedModel folder)")


class Source:
    """The model to export and its reference outputs: a Keras model, or a SavedModel run through TensorFlow."""

    def __init__(self, path):
        self.path = path
        self.name = os.path.splitext(os.path.basename(os.path.normpath(path)))[0]
        if os.path.isdir(path):
            from keras_ssl.benchmark.graphs import SavedModelGraph

            self.keras = None
            self.graph = SavedModelGraph(path, num_threads=1, batch_size=1)
            self.convertible = path
            self.input_shape, self.input_dtype = self.graph.input_shape, self.graph.input_dtype
        else:
            self.keras = load_keras_model(path)
            self.convertible = self.keras
            self.input_shape = tuple(int(d) for d in self.keras.inputs[0].shape[1:])
            self.input_dtype = np.dtype(self.keras.inputs[0].dtype.as_numpy_dtype)

    def outputs(self, inputs):
        """Reference outputs for ``inputs``: Keras ``predict``, or the SavedModel run one input at a time."""
        if self.keras is not None:
            return self.keras.predict(inputs, batch_size=256, verbose=0)
        return self.graph.predict(inputs)


def load_keras_model(path):
    """Loads plain, stripped-pruned and QAT (.keras/.h5) models; tfmot's scope knows the fake-quant layers."""
    import tensorflow_model_optimization as tfmot

    from keras_ssl.base.keras import tf_keras

    try:
        with tfmot.quantization.keras.quantize_scope():
            return tf_keras.models.load_model(path, compile=False)
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise UserError(f"cannot load Keras model {path}: {str(e).strip().splitlines()[0]} (is it a complete "
                        ".keras/.h5 file saved by tf_keras?)") from None


def _task_data(request, source):
    from keras_ssl.tasks.config import TextTaskConfig
    from keras_ssl.tasks.eval_data import TaskData, image_eval, text_eval

    if request.task == "image":
        return image_eval(source.input_shape, request.data_path, dataset=request.dataset,
                          image_dir=request.image_dir)
    if request.task == "text":
        vocab = request.vocab or os.path.join(os.path.dirname(os.path.abspath(request.model)), "vocab.txt")
        return text_eval(source.input_shape, vocab, request.text_files or None,
                         config=TextTaskConfig(stream=request.stream_text),
                         num_calibration=request.num_calibration)
    if request.calibration_npy:
        try:
            calibration = np.load(request.calibration_npy)
        except (OSError, ValueError) as e:
            raise UserError(f"cannot read --calibration_npy={request.calibration_npy}: {e}") from None
        if tuple(calibration.shape[1:]) != source.input_shape:
            raise UserError(f"--calibration_npy has inputs of shape {calibration.shape[1:]}, the model takes "
                            f"{source.input_shape}")
        return TaskData(calibration[:200], None, argmax_top1, calibration, {})
    if any(m in CALIBRATED_MODES for m in request.modes):
        raise UserError("int8/int16x8 modes need calibration data: pass --task=image|text or --calibration_npy")
    rng = np.random.default_rng(0)  # float modes only: agreement on synthetic inputs, no accuracy
    shape = (64,) + source.input_shape
    inputs = (rng.integers(3, 50, shape) if np.issubdtype(source.input_dtype, np.integer)
              else rng.random(shape)).astype(source.input_dtype)
    return TaskData(inputs, None, argmax_top1, inputs, {})


def _planned_paths(request, source):
    names = [f"{source.name}_{mode}.tflite" for mode in request.modes + _mediapipe_modes(request, source)]
    paths = names + [manifest_path(n) for n in names] + ["export_report.json", "export_report.md"]
    paths += [f"{source.name}.onnx"] * request.onnx + [f"{source.name}_xla"] * request.xla
    paths += [f"{source.name}.so"] * request.tvm
    return [os.path.join(request.output_dir, p) for p in paths]


def _mediapipe_modes(request, source):
    """The MediaPipe-ready artifacts this request makes: image classifiers (--task=image) given as Keras models."""
    wanted = request.mediapipe and request.task == "image" and source.keras is not None
    return tuple(MEDIAPIPE_ARTIFACTS) if wanted else ()


def _tensorflow_rows(request, source, stage, inputs, data, reference):
    rows = []
    if request.onnx:
        path = os.path.join(stage, f"{source.name}.onnx")
        check, _ = checked_onnx(source.keras, path, reference, inputs, data.top1, data.score)
        rows.append({"file": os.path.basename(path), "format": "onnx", "quantization": "float32",
                     **judge(check, request.max_drop_points)})
    if request.xla:
        path = os.path.join(stage, f"{source.name}_xla")
        check, _ = checked_xla(source.keras, path, reference, inputs, data.top1, data.score)
        rows.append({"file": os.path.basename(path), "format": "saved_model", "quantization": "float32",
                     "xla_compiled": is_xla_compiled(path), **judge(check, request.max_drop_points)})
    if request.tvm:
        path = os.path.join(stage, f"{source.name}.so")
        check, seconds = checked_tvm(source.keras, path, reference, inputs, data.top1, data.score)
        rows.append({"file": os.path.basename(path), "format": "tvm", "quantization": "float32", "target": "llvm",
                     "compile_seconds": round(seconds, 2), **judge(check, request.max_drop_points)})
    return rows


def _cell(row):
    io = "-"
    if "inputs" in row:
        io = "/".join(t["dtype"] for t in row["inputs"]) + " → " + "/".join(t["dtype"] for t in row["outputs"])
    xnn = row.get("xnnpack")
    accuracy = row.get("accuracy")
    return [row["file"], row["quantization"], f"{row.get('size_bytes', '-')}", f"{row.get('gzip_bytes', '-')}", io,
            f"{row['top1_agreement']:.4f}", f"{row['max_abs_diff']:.2g}",
            "-" if accuracy is None else f"{accuracy:.4f}",
            f"{xnn['delegated_nodes']}/{xnn['nodes']}" if xnn else "-", str(row["passed"])]


def render(rows, skipped):
    """The job's table: one line per artifact, then what was not exported and why."""
    lines = ["| artifact | quantization | bytes | gzip | I/O dtypes | top-1 vs source | max abs diff | accuracy | "
             "XNNPACK nodes | passed |", "|---|---|---:|---:|---|---:|---:|---:|---|---|"]
    lines += ["| " + " | ".join(_cell(r)) + " |" for r in rows]
    lines += [f"- not exported: {s['quantization']}: {s['reason']}" for s in skipped]
    return "\n".join(lines)


@locks_output("output_dir")
def run_export(request):
    """Runs the request; returns (report dict, markdown).  Raises UserError before writing anything it refuses."""
    source = Source(request.model)
    check_writable(_planned_paths(request, source), request.overwrite)
    if (request.onnx or request.xla or request.tvm) and source.keras is None:
        raise UserError("--onnx/--xla/--tvm need a Keras model (.keras/.h5); a SavedModel can only go to TFLite here")
    data = _task_data(request, source)
    inputs = data.inputs[:request.num_validation] if request.num_validation else data.inputs
    reference = source.outputs(inputs)
    rows, skipped = [], []
    with staged_dir(request.output_dir) as stage:
        for mode in request.modes:
            path = os.path.join(stage, f"{source.name}_{mode}.tflite")
            try:
                manifest, validation, _ = checked_tflite(
                    source.convertible, path, mode, reference, inputs, data.top1, data.score,
                    request.max_drop_points, representative_data=data.calibration,
                    num_calibration=request.num_calibration, allow_flex=request.allow_flex,
                    associated_files=data.associated_files, unroll_rnn=request.unroll_rnn,
                    size_first=request.size_first)
            except UserError as e:
                logging.warning("not exported: %s: %s", mode, e)
                skipped.append({"quantization": mode, "reason": str(e)})
                continue
            rows.append(manifest | validation)
        for name in _mediapipe_modes(request, source):
            path = os.path.join(stage, f"{source.name}_{name}.tflite")
            try:
                manifest, validation, _ = checked_mediapipe(
                    source.keras, path, MEDIAPIPE_ARTIFACTS[name], inputs, data.top1,
                    data.score, data.calibration, data.class_names, request.max_drop_points,
                    num_calibration=request.num_calibration, associated_files=data.associated_files)
            except UserError as e:  # e.g. MediaPipe not installed
                logging.warning("not exported: %s: %s", name, e)
                skipped.append({"quantization": name, "reason": str(e)})
                continue
            rows.append(manifest | validation)
        rows += _tensorflow_rows(request, source, stage, inputs, data, reference)
        report = {"model": request.model, "task": request.task, "artifacts": rows, "skipped": skipped,
                  "request": dataclasses.asdict(request)}
        markdown = render(rows, skipped)
        atomic_write_json(os.path.join(stage, "export_report.json"), report)
        atomic_write_text(os.path.join(stage, "export_report.md"), markdown + "\n")
    return report, markdown
