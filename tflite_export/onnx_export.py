"""Keras → ONNX (tf2onnx), its onnxruntime session, an agreement check against Keras, and dynamic int8 quantization.

ONNX is the artifact for users who deploy with onnxruntime rather than LiteRT.  Unlike the TFLite path, recurrent
models keep a dynamic batch here: tf2onnx rewrites the Keras LSTM while-loop into ONNX's own ``LSTM`` op, which
takes any batch (checked on the BiLSTM MLM at two batch sizes: docs/export.md), so no batch-1 signature is
needed.

TensorFlow, tf2onnx and onnx are imported inside the functions that need them: the benchmark times ``.onnx`` files
through ``onnx_session`` and must not pay for a TensorFlow import.
"""
import contextlib
import logging
import os
import shutil
import tempfile

import numpy as np

from keras_ssl.base.errors import UserError
from keras_ssl.base.io_utils import atomic_write_bytes

_ONNX_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int32)": np.int32,
                "tensor(int64)": np.int64, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8}


def onnx_session(path_or_bytes, num_threads=1):
    """An onnxruntime CPU session; bad or truncated files become one-line UserErrors instead of ORT tracebacks."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise UserError("onnxruntime is not installed; `pip install onnxruntime` to run .onnx files") from None
    if isinstance(path_or_bytes, (bytes, bytearray)):
        label, source = f"({len(path_or_bytes)} bytes in memory)", bytes(path_or_bytes)
    else:
        label = source = os.fspath(path_or_bytes)
    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: ORT's graph-optimisation warnings are noise in run logs
    try:
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for bad files
        raise UserError(f"cannot load ONNX model {label}: {str(e).splitlines()[0]}; re-export it "
                        "(tflite_export.onnx_export.save_onnx)") from None


def _input_signature(model):
    """One TensorSpec per Keras input, named like it ("image", "token_ids") so ONNX feeds use the same names.

    The batch stays as the model declares it: None (dynamic) for our models, 1 only if built with batch_size=1.
    """
    from keras_ssl.base.keras import tf

    return [tf.TensorSpec(t.shape, t.dtype, name=t.name.split(":")[0]) for t in model.inputs]


class _FailedNodes(logging.Handler):
    """tf2onnx logs the node it failed on but raises a bare exception (or none for unsupported ops): keep names."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.nodes = []

    def emit(self, record):
        """Keeps the node name from tf2onnx's "Failed to convert node" records; ignores the rest."""
        if str(record.msg).startswith("Failed to convert node") and record.args:
            self.nodes.append(str(record.args[0]))


def _unknown_ops(graph):
    """Nodes tf2onnx left as raw TensorFlow ops (it only logs them): ONNX has no schema for their type."""
    import onnx

    found = []
    for node in graph.node:
        if node.domain in ("", "ai.onnx") and not onnx.defs.has(node.op_type):
            found.append(f"{node.op_type} (node {node.name})")
        for attr in node.attribute:
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                found.extend(_unknown_ops(sub))
    return found


def to_onnx(model, opset=17):
    """Returns the ONNX bytes of a tf_keras ``model``; inputs keep their Keras names, the batch stays dynamic."""
    import tf2onnx

    catcher = _FailedNodes()
    tf2onnx_logger = logging.getLogger("tf2onnx")
    tf2onnx_logger.addHandler(catcher)
    level = tf2onnx_logger.level
    tf2onnx_logger.setLevel(logging.WARNING)  # its INFO lines (opset, optimiser passes) drown a run's log
    try:
        proto, _ = tf2onnx.convert.from_keras(model, input_signature=_input_signature(model), opset=opset)
    except Exception as e:
        where = f" at node {catcher.nodes[-1]}" if catcher.nodes else ""
        raise UserError(f"cannot convert model {model.name!r} to ONNX (opset {opset}){where}: "
                        f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}; replace that layer or "
                        "try another opset") from None
    finally:
        tf2onnx_logger.removeHandler(catcher)
        tf2onnx_logger.setLevel(level)
    unknown = _unknown_ops(proto.graph)
    if unknown:
        raise UserError(f"cannot convert model {model.name!r} to ONNX (opset {opset}): tf2onnx has no conversion "
                        f"for {', '.join(sorted(set(unknown)))}; replace that layer or try another opset")
    return proto.SerializeToString()


def save_onnx(model, path, opset=17):
    """Converts ``model`` (see ``to_onnx``) and writes the file atomically; returns ``path``."""
    atomic_write_bytes(path, to_onnx(model, opset=opset))
    return path


@contextlib.contextmanager
def _without_preprocess_hint():
    """quantize_dynamic warns on the root logger to run shape pre-processing; measured unnecessary for our models."""
    hint = logging.Filter()
    hint.filter = lambda record: "pre-processing before quantization" not in str(record.msg)
    logging.getLogger().addFilter(hint)
    try:
        yield
    finally:
        logging.getLogger().removeFilter(hint)


def quantize_onnx_dynamic(onnx_bytes):
    """int8 weights, activations quantized on the fly (onnxruntime ``quantize_dynamic``); no calibration data.

    Covers Conv (ConvInteger), Dense (MatMulInteger) and LSTM (DynamicQuantizeLSTM).  It pays on large matrices
    (the BiLSTM MLM gets smaller and faster); a tiny model gets smaller but slower, since quantizing activations
    costs more than its few MACs save (sizes and timings: docs/export.md, "Measurements behind the code").
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    try:
        proto = onnx.load_from_string(bytes(onnx_bytes))
    except Exception as e:
        raise UserError(f"cannot load ONNX model ({len(onnx_bytes)} bytes in memory): {str(e).splitlines()[0]}; "
                        "re-export it (tflite_export.onnx_export.to_onnx)") from None
    folder = tempfile.mkdtemp(prefix="onnx-quant-")  # quantize_dynamic only writes to a path
    try:
        out = os.path.join(folder, "quantized.onnx")
        with _without_preprocess_hint():
            quantize_dynamic(proto, out, weight_type=QuantType.QInt8)
        with open(out, "rb") as f:
            return f.read()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _keras_outputs(model, inputs, chunk=256):
    """Plain calls in chunks: cheaper than ``predict`` (no predict function to trace) and never batch-dependent."""
    return np.concatenate([np.asarray(model(inputs[i:i + chunk], training=False))
                           for i in range(0, len(inputs), chunk)])


def compare_with_keras(onnx_bytes_or_path, keras_model, inputs, batch_size=1):
    """Runs ``inputs`` through onnxruntime (1 thread, ``batch_size`` at a time) and through Keras.

    Returns ``max_abs_diff``, ``top1_agreement`` (argmax over the last axis, at every position) and the ONNX
    ``outputs``.  Single-input models only, like all keras-ssl models.
    """
    session = onnx_session(onnx_bytes_or_path, num_threads=1)
    if len(session.get_inputs()) != 1:
        raise UserError(f"compare_with_keras handles single-input models; this ONNX model has "
                        f"{len(session.get_inputs())} inputs")
    spec = session.get_inputs()[0]
    fixed = spec.shape[0] if isinstance(spec.shape[0], int) else None
    step = fixed or batch_size
    x = np.asarray(inputs).astype(_ONNX_DTYPES.get(spec.type, np.float32))
    if len(x) == 0:
        raise UserError("compare_with_keras got no inputs: pass at least one example")
    outs = []
    for i in range(0, len(x), step):
        chunk = x[i:i + step]
        padded = np.concatenate([chunk, np.repeat(chunk[-1:], step - len(chunk), 0)]) if fixed else chunk
        outs.append(session.run(None, {spec.name: padded})[0][:len(chunk)])
    outputs = np.concatenate(outs)
    expected = _keras_outputs(keras_model, x, chunk=fixed or 256)
    return {"max_abs_diff": float(np.abs(outputs - expected).max()),
            "top1_agreement": float(np.mean(np.argmax(outputs, -1) == np.argmax(expected, -1))),
            "outputs": outputs}
