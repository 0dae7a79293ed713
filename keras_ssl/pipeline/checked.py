"""Write an artifact, run it in the runtime that will load it, compare it with its Keras source.

One step for every artifact the pipeline's report rows and the export job produce (TFLite, ONNX, an XLA
SavedModel); each caller then formats its own row.  ``reference`` is the Keras model's output on ``inputs``;
``top1(outputs)`` picks the predictions that must agree and ``score(outputs)`` is the task's accuracy (None without
labels).
"""
import contextlib
import os
import time

from keras_ssl.base.errors import UserError
from keras_ssl.base.io_utils import atomic_write_bytes
from keras_ssl.benchmark.graphs import SavedModelGraph
from tflite_export.artifacts import export_tflite, manifest_path, update_manifest
from tflite_export.mediapipe import check_in_mediapipe, mobile_calibration, mobile_classifier, to_pixels, to_rgb, \
    with_metadata
from tflite_export.onnx_export import compare_with_keras, quantize_onnx_dynamic, to_onnx
from tflite_export.validate import compare_outputs, validate_tflite
from tflite_export.xla import save_xla_saved_model


@contextlib.contextmanager
def _removed_on_error(path):
    """An artifact (and its manifest) that fails the runtime check in this block is removed: it must not ship."""
    try:
        yield
    except UserError:
        for written in (path, manifest_path(path)):
            os.remove(written)
        raise


def checked_tflite(source, path, mode, reference, inputs, top1, score=None, max_drop_points=1.0, **export_options):
    """Writes ``path`` and its manifest in ``mode`` and runs it in LiteRT; an artifact LiteRT cannot run is removed
    before the error propagates (it must not ship).  Returns (manifest with the validation recorded, validation,
    seconds the conversion took)."""
    start = time.perf_counter()
    export_tflite(source, path, mode, **export_options)
    seconds = time.perf_counter() - start
    with _removed_on_error(path):
        validation, _ = validate_tflite(path, reference, inputs, top1, score, max_drop_points)
    return update_manifest(path, validation=validation), validation, seconds


def checked_mediapipe(model, path, mode, inputs, top1, score, calibration, class_names, max_drop_points=1.0,
                      **export_options):
    """``model`` as MediaPipe's ImageClassifier takes it (RGB in, probabilities out, metadata with the labels
    inside), written in ``mode``, run in LiteRT against its Keras form, then loaded and run in MediaPipe on the same
    images as uint8 pixels; an artifact MediaPipe refuses is removed.  Returns (manifest, validation, seconds)."""
    mobile = mobile_classifier(model)
    rgb = to_rgb(inputs)
    reference = mobile.predict(rgb, batch_size=256, verbose=0)
    description = f"{model.name}: {len(class_names)} classes, exported by keras-ssl"
    _, validation, seconds = checked_tflite(
        mobile, path, mode, reference, rgb, top1, score, max_drop_points,
        representative_data=mobile_calibration(calibration),
        embed=lambda flatbuffer: with_metadata(flatbuffer, class_names, description), **export_options)
    with _removed_on_error(path):
        check = check_in_mediapipe(path, to_pixels(inputs), class_names)
    return update_manifest(path, mediapipe=check), validation, seconds


def checked_onnx(model, path, reference, inputs, top1, score=None, quantize=False):
    """tf2onnx export (optionally onnxruntime's dynamic int8) run in onnxruntime at batch 1.  Returns (comparison,
    seconds the conversion took)."""
    start = time.perf_counter()
    onnx_bytes = to_onnx(model)
    atomic_write_bytes(path, quantize_onnx_dynamic(onnx_bytes) if quantize else onnx_bytes)
    seconds = time.perf_counter() - start
    outputs = compare_with_keras(path, model, inputs)["outputs"]
    return compare_outputs(outputs, reference, top1, score), seconds


def checked_tvm(model, path, reference, inputs, top1, score=None):
    """ONNX → a TVM library (.so), run by TVM's Relax VM at batch 1.  Returns (comparison, seconds the export
    took)."""
    from tflite_export.tvm_export import TVMGraph, to_tvm

    start = time.perf_counter()
    to_tvm(to_onnx(model), path)
    seconds = time.perf_counter() - start
    return compare_outputs(TVMGraph(path).predict(inputs), reference, top1, score), seconds


def checked_xla(model, path, reference, inputs, top1, score=None):
    """A SavedModel whose serving function is XLA-compiled, run one input at a time.  Returns (comparison, seconds
    the export took)."""
    start = time.perf_counter()
    save_xla_saved_model(model, path)
    seconds = time.perf_counter() - start
    outputs = SavedModelGraph(path, num_threads=1, batch_size=1).predict(inputs)
    return compare_outputs(outputs, reference, top1, score), seconds
