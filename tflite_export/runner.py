"""Runs .tflite artifacts in LiteRT (``ai_edge_litert``; ``tf.lite.Interpreter`` is deprecated).

Accuracy is measured one input at a time, at batch 1: that is how phones run these models.  Benchmarks may resize
a dynamic batch dimension.  Integer-I/O models get their inputs quantised and outputs dequantised with the
tensors' own scales.
"""
import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from keras_ssl.base.errors import UserError

STATEFUL_OPS = {"UNIDIRECTIONAL_SEQUENCE_LSTM", "BIDIRECTIONAL_SEQUENCE_LSTM", "UNIDIRECTIONAL_SEQUENCE_RNN",
                "BIDIRECTIONAL_SEQUENCE_RNN", "SVDF"}


class TFLiteModel:
    """One LiteRT interpreter over a .tflite file or bytes, for the model's first input and output.

    ``use_xnnpack=False`` runs builtin kernels only; ``batch_size`` resizes a dynamic batch (a fixed one refuses);
    load errors become UserError.
    """
    def __init__(self, model_path=None, model_content=None, num_threads=1, use_xnnpack=True, batch_size=None):
        where = model_path or "the given bytes"
        resolver = OpResolverType.AUTO if use_xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            self.interpreter = Interpreter(model_path=model_path, model_content=model_content,
                                           num_threads=num_threads, experimental_op_resolver_type=resolver)
            if batch_size is not None:
                self._resize_batch(batch_size, where)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
            raise UserError(f"cannot load TFLite model {where}: {first} (is it a complete .tflite file?)") from None
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        # Fused LSTM ops keep their state in variable tensors that survive ``invoke``: without a reset, each
        # sequence would start from the previous one's final state and predictions would drift.
        self.stateful = bool(STATEFUL_OPS & set(self.op_names()))

    def _resize_batch(self, batch_size, where):
        detail = self.interpreter.get_input_details()[0]
        if int(detail["shape"][0]) == batch_size:
            return
        if int(detail["shape_signature"][0]) != -1:
            raise UserError(f"{where} has a fixed batch of {detail['shape'][0]}; it cannot run batch {batch_size} "
                            "(use --batch_size=1, or export with a dynamic batch)")
        self.interpreter.resize_tensor_input(detail["index"], [batch_size] + list(detail["shape"][1:]))

    @property
    def input_shape(self):
        """The input shape without the batch dimension."""
        return tuple(int(d) for d in self.input["shape"][1:])

    def op_names(self):
        """Sorted distinct op names in the model (uses the interpreter's private op listing)."""
        return sorted({op["op_name"] for op in self.interpreter._get_ops_details()})

    def tensor_dtypes(self):
        """Sorted distinct dtype names over all tensors, e.g. to check a model is really int8."""
        return sorted({np.dtype(t["dtype"]).name for t in self.interpreter.get_tensor_details()})

    def set_batch(self, batch):
        """Sets a whole input batch (shape must match the model's, batch dimension included)."""
        batch = np.asarray(batch)
        dtype = self.input["dtype"]
        scale, zero_point = self.input["quantization"]
        if np.issubdtype(dtype, np.integer) and scale and not np.issubdtype(batch.dtype, np.integer):
            info = np.iinfo(dtype)
            batch = np.clip(np.round(batch / scale + zero_point), info.min, info.max)
        if tuple(batch.shape[1:]) != self.input_shape:
            raise UserError(f"input shape {tuple(batch.shape[1:])} does not match the model's {self.input_shape}")
        self.interpreter.set_tensor(self.input["index"], batch.astype(dtype))

    def output_batch(self):
        """The output tensor of the last invoke, dequantised if integer."""
        out = self.interpreter.get_tensor(self.output["index"])
        scale, zero_point = self.output["quantization"]
        if np.issubdtype(out.dtype, np.integer) and scale:
            out = (out.astype(np.float32) - zero_point) * scale
        return out

    def invoke(self):
        """Runs the model; fused LSTM/RNN state is reset first, so calls do not leak into each other."""
        if self.stateful:
            self.interpreter.reset_all_variables()
        try:
            self.interpreter.invoke()
        except RuntimeError as e:  # a kernel that refuses its tensor types at run time (e.g. int16 LayerNorm math)
            raise UserError(f"the artifact converts but LiteRT cannot run it: {str(e).strip().splitlines()[0][:200]}; "
                            "use another quantization mode") from None

    def predict_one(self, example):
        """Output for one example (no batch dimension), dequantised if integer."""
        self.set_batch(np.asarray(example)[None])
        self.invoke()
        return self.output_batch()[0]

    def predict(self, examples):
        """Outputs for ``examples`` stacked, run one at a time at batch 1."""
        return np.stack([self.predict_one(x) for x in examples])
