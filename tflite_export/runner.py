"""Runs .tflite artifacts in LiteRT (``ai_edge_litert``; ``tf.lite.Interpreter`` is deprecated).

One input at a time, at batch 1: that is how phones run these models, and it is what accuracy and latency are
measured on.  Integer-I/O models get their inputs quantised and outputs dequantised with the tensors' own scales.
"""
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from keras_ssl.errors import UserError


STATEFUL_OPS = {"UNIDIRECTIONAL_SEQUENCE_LSTM", "BIDIRECTIONAL_SEQUENCE_LSTM", "UNIDIRECTIONAL_SEQUENCE_RNN",
                "BIDIRECTIONAL_SEQUENCE_RNN", "SVDF"}


class TFLiteModel:
    def __init__(self, model_path=None, model_content=None, num_threads=1):
        where = model_path or "the given bytes"
        try:
            self.interpreter = Interpreter(model_path=model_path, model_content=model_content, num_threads=num_threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
            raise UserError(f"cannot load TFLite model {where}: {first} (is it a complete .tflite file?)") from None
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        # Fused LSTM ops keep their state in variable tensors that survive ``invoke``: without a reset, each
        # sequence would start from the previous one's final state and predictions would drift.
        self.stateful = bool(STATEFUL_OPS & set(self.op_names()))

    def op_names(self):
        return sorted({op["op_name"] for op in self.interpreter._get_ops_details()})

    def tensor_dtypes(self):
        return sorted({np.dtype(t["dtype"]).name for t in self.interpreter.get_tensor_details()})

    def _set_input(self, example):
        example = np.asarray(example)[None]
        dtype = self.input["dtype"]
        scale, zero_point = self.input["quantization"]
        if np.issubdtype(dtype, np.integer) and scale and not np.issubdtype(example.dtype, np.integer):
            example = np.round(example / scale + zero_point)
            info = np.iinfo(dtype)
            example = np.clip(example, info.min, info.max)
        expected = tuple(self.input["shape"][1:])
        if tuple(example.shape[1:]) != expected:
            raise UserError(f"input shape {example.shape[1:]} does not match the model's {expected}")
        self.interpreter.set_tensor(self.input["index"], example.astype(dtype))

    def _get_output(self):
        out = self.interpreter.get_tensor(self.output["index"])[0]
        scale, zero_point = self.output["quantization"]
        if np.issubdtype(out.dtype, np.integer) and scale:
            out = (out.astype(np.float32) - zero_point) * scale
        return out

    def _invoke(self):
        if self.stateful:
            self.interpreter.reset_all_variables()
        self.interpreter.invoke()

    def predict_one(self, example):
        self._set_input(example)
        self._invoke()
        return self._get_output()

    def predict(self, examples):
        return np.stack([self.predict_one(x) for x in examples])

    def latency_us(self, example, runs=200, warmup=20):
        """Per-inference wall times in microseconds (input set once; state reset, if any, is included)."""
        self._set_input(example)
        for _ in range(warmup):
            self._invoke()
        times = np.empty(runs)
        for i in range(runs):
            start = time.perf_counter()
            self._invoke()
            times[i] = (time.perf_counter() - start) * 1e6
        return times
