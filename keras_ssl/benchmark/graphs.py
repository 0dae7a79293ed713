"""Loads any artifact the harness can time behind one small interface: set an input batch, run it, read outputs.

Formats: ``.tflite`` (LiteRT), ``.keras`` / ``.h5`` (tf_keras, through a traced tf.function), a SavedModel folder
(its ``serving_default`` signature), ``.onnx`` (onnxruntime, when installed) and ``.so`` (a TVM library written by
``tflite_export.tvm_export``, when apache-tvm is installed).
"""
import os
import time

import numpy as np

from keras_ssl.base.errors import UserError


class Graph:
    """What the harness needs: ``format``, ``init_us``, ``input_shape`` (no batch), ``input_dtype``, ``invoke``."""

    format = "?"

    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(os.path.normpath(path))

    def set_batch(self, batch):
        """Stages a batch (batch dimension included) so that ``invoke`` times the model call only."""
        raise NotImplementedError

    def invoke(self):
        """Runs the model once on the staged batch: the call the harness times."""
        raise NotImplementedError

    def output(self):
        """The last ``invoke``'s output as an array-like, batch dimension first."""
        raise NotImplementedError

    def predict(self, examples):
        """Outputs for each example, run one at a time (batch 1): the deployment setting accuracy is judged in."""
        outs = []
        for x in examples:
            self.set_batch(np.asarray(x)[None])
            self.invoke()
            outs.append(np.asarray(self.output())[0])
        return np.stack(outs)

    def check_batch(self, batch):
        """Raises UserError when ``batch`` (batch dimension first) does not fit the model's input shape."""
        if tuple(batch.shape[1:]) != tuple(self.input_shape):
            raise UserError(f"{self.path}: input shape {tuple(batch.shape[1:])} does not match the model's "
                            f"{tuple(self.input_shape)} (check --task/--data_path or the image size)")


class TFLiteGraph(Graph):
    """A .tflite file in LiteRT; ``batch_size`` > 1 resizes a dynamic batch (fixed-batch models refuse)."""

    format = "tflite"

    def __init__(self, path, num_threads, use_xnnpack, batch_size):
        super().__init__(path)
        from tflite_export.runner import TFLiteModel

        start = time.perf_counter()
        self.model = TFLiteModel(model_path=path, num_threads=num_threads, use_xnnpack=use_xnnpack,
                                 batch_size=batch_size)
        self.init_us = (time.perf_counter() - start) * 1e6
        self.input_shape = self.model.input_shape
        self.input_dtype = np.dtype(self.model.input["dtype"])
        self.batch_size = batch_size
        self.single = None  # a batch-1 interpreter for accuracy when benchmarking a larger batch

    def set_batch(self, batch):
        """Checks and sets the input; float inputs to an integer-I/O model are quantised with its scale."""
        self.check_batch(batch)
        self.model.set_batch(batch)

    def invoke(self):
        """One interpreter run; fused LSTM/RNN state is reset first, so each call starts from a clean state."""
        self.model.invoke()

    def output(self):
        """The output tensor, dequantised for integer-output models."""
        return self.model.output_batch()

    def predict(self, examples):
        """Batch-1 outputs; when benchmarking a larger batch, a separate 1-thread batch-1 interpreter is used."""
        if self.batch_size == 1:
            return self.model.predict(examples)
        from tflite_export.runner import TFLiteModel

        self.single = self.single or TFLiteModel(model_path=self.path, num_threads=1)
        return self.single.predict(examples)


class TensorFlowGraph(Graph):
    """Shared by Keras files and SavedModels: subclasses load and return (callable on a tensor, input TensorSpec)."""

    def __init__(self, path, num_threads, batch_size):
        super().__init__(path)
        from keras_ssl.base.keras import tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(num_threads)
            tf.config.threading.set_inter_op_parallelism_threads(num_threads)
        except RuntimeError:
            pass  # TensorFlow already started (several graphs in one run): it keeps its first setting
        self._tf = tf
        start = time.perf_counter()
        self._fn, spec = self._load(tf)
        self.init_us = (time.perf_counter() - start) * 1e6
        self.input_shape = tuple(int(d) for d in spec.shape[1:])
        self.input_dtype = np.dtype(spec.dtype.as_numpy_dtype)

    def set_batch(self, batch):
        """Casts to the input dtype and makes a tensor here, so the conversion is not timed."""
        self.check_batch(batch)
        self._x = self._tf.constant(batch.astype(self.input_dtype))

    def invoke(self):
        """Calls the loaded function; the copy of the result back to numpy is part of the timing."""
        self._out = self._fn(self._x)

    def output(self):
        """The last ``invoke``'s output as a numpy array."""
        return self._out


class KerasGraph(TensorFlowGraph):
    """A .keras / .h5 file loaded with ``compile=False`` and called through a traced ``tf.function``."""

    format = "keras"

    def _load(self, tf):
        from keras_ssl.base.keras import tf_keras

        try:
            model = tf_keras.models.load_model(self.path, compile=False)
        except (OSError, ValueError, TypeError) as e:
            raise UserError(f"cannot load Keras model {self.path}: {str(e).splitlines()[0]}") from None
        serve = tf.function(lambda x: model(x, training=False))
        return (lambda x: serve(x).numpy()), model.inputs[0]


class SavedModelGraph(TensorFlowGraph):
    """A SavedModel folder run through its ``serving_default`` signature (one input; first output)."""

    format = "saved_model"

    def _load(self, tf):
        try:
            self._loaded = tf.saved_model.load(self.path)
            signature = self._loaded.signatures["serving_default"]
        except (OSError, ValueError, KeyError) as e:
            raise UserError(f"cannot load SavedModel {self.path}: {str(e).splitlines()[0]}") from None
        (arg, spec), = signature.structured_input_signature[1].items()
        return (lambda x: next(iter(signature(**{arg: x}).values())).numpy()), spec


class OnnxGraph(Graph):
    """An .onnx file in an onnxruntime CPU session (one input; first output)."""

    format = "onnx"

    def __init__(self, path, num_threads, batch_size):
        super().__init__(path)
        from tflite_export.onnx_export import onnx_session  # no TensorFlow import: .onnx-only runs stay light

        start = time.perf_counter()
        self._session = onnx_session(path, num_threads)
        self.init_us = (time.perf_counter() - start) * 1e6
        spec = self._session.get_inputs()[0]
        self._name = spec.name
        self.input_shape = tuple(int(d) for d in spec.shape[1:])
        self.input_dtype = np.dtype({"tensor(float)": "float32", "tensor(int32)": "int32",
                                     "tensor(int64)": "int64"}.get(spec.type, "float32"))

    def set_batch(self, batch):
        """Checks the batch and casts it to the input dtype, outside the timed call."""
        self.check_batch(batch)
        self._x = batch.astype(self.input_dtype)

    def invoke(self):
        """One ``session.run`` on the staged batch."""
        self._out = self._session.run(None, {self._name: self._x})[0]

    def output(self):
        """The first output of the last ``invoke``."""
        return self._out


def load_graph(path, num_threads=1, use_xnnpack=True, batch_size=1):
    """Picks the backend from the path: a folder is a SavedModel, else the file extension decides."""
    if not os.path.exists(path):
        raise UserError(f"model not found: {path} (pass existing files to --graph)")
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise UserError(f"{path} is a folder without saved_model.pb: not a SavedModel")
        return SavedModelGraph(path, num_threads, batch_size)
    ext = os.path.splitext(path)[1].lower()
    if ext == ".tflite":
        return TFLiteGraph(path, num_threads, use_xnnpack, batch_size)
    if ext in (".keras", ".h5"):
        return KerasGraph(path, num_threads, batch_size)
    if ext == ".onnx":
        return OnnxGraph(path, num_threads, batch_size)
    if ext == ".so":
        from tflite_export.tvm_export import TVMGraph

        return TVMGraph(path, num_threads, batch_size)
    raise UserError(f"{path}: unknown model format {ext or '(no extension)'}; use .tflite, .keras, .h5, .onnx, "
                    ".so (TVM) or a SavedModel folder")
