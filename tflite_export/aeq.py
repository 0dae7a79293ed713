"""int4 and mixed-precision artifacts through Google's ai-edge-quantizer (AEQ), applied to the float32 flatbuffer.

The TFLite converter stops at 8 bits; AEQ rewrites a float32 .tflite with per-op recipes.  The modes (their names
in ``keras_ssl.base.tflite_modes.AEQ_MODES``):

- ``int4``: 4-bit weights where LiteRT runs them fast, 8-bit where it does not:
  - FULLY_CONNECTED: int4 weights per output channel, activations quantised on the fly (dynamic range), which
    XNNPACK runs with its int4-weight kernels;
  - GATHER of a constant table (an embedding): the table in int4, one scale.  AEQ's policy offers GATHER in int8
    only, but LiteRT's GATHER reads int4 tables, so the policy check is skipped for these ops alone;
  - CONV_2D / DEPTHWISE_CONV_2D: int8 weights, dynamic range.  XNNPACK has no int4 convolution: AEQ's int4
    CONV_2D runs on builtin kernels, slower than float32 (the digits demo: docs/results.md, aeq_dynamic_wi4).
- ``int4_unrolled``: ``int4`` of the unrolled RNN graph (``convert.unroll_recurrent``): the LSTM's matrices become
  FULLY_CONNECTED ops, so they are int4 too and XNNPACK runs them; fused LSTM ops stay float32 (AEQ has no LSTM).
- ``aeq_wi4``: AEQ's own ``dynamic_wi4_afp32`` recipe, unchanged: the reference ``int4`` is measured against.

An int4 artifact whose ops XNNPACK took in float32 but no longer takes would run them on slow builtin kernels: it
is refused, naming the ops, unless the caller puts size first (``size_first``, which also makes convolutions int4).
"""
import contextlib
import io
import re

import numpy as np

from keras_ssl.base.errors import UserError

# AEQ's int4 FULLY_CONNECTED and CONV_2D policies accept only symmetric weights.
_WEIGHTS = {"symmetric": True, "granularity": "CHANNELWISE", "dtype": "INT"}
_CONVOLUTIONS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def _dynamic(operation, bits, regex=".*"):
    return {"regex": regex, "operation": operation, "algorithm_key": "min_max_uniform_quantize",
            "op_config": {"weight_tensor_config": dict(_WEIGHTS, num_bits=bits), "compute_precision": "INTEGER",
                          "explicit_dequantize": False, "skip_checks": False}}


def _int4_table(regex):
    """A GATHER whose table is int4 (one scale for the table, as its output shares it) and whose output is
    dequantised for the float ops after it."""
    tensor = {"num_bits": 4, "symmetric": True, "granularity": "TENSORWISE", "dtype": "INT"}
    return {"regex": regex, "operation": "GATHER", "algorithm_key": "min_max_uniform_quantize",
            "op_config": {"weight_tensor_config": tensor, "activation_tensor_config": tensor,
                          "compute_precision": "INTEGER", "explicit_dequantize": False, "skip_checks": True}}


def constant_table_gathers(flatbuffer):
    """AEQ's scopes (what its recipe regexes match) of the GATHER ops whose table is a constant (embeddings), not an
    activation."""
    from ai_edge_litert.tools import flatbuffer_utils
    from ai_edge_quantizer.utils.tfl_flatbuffer_utils import get_op_scope
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    codes = [flatbuffer_utils.opcode_to_name(model, index) for index in range(len(model.operatorCodes))]
    return [get_op_scope(op, graph.tensors) for graph in model.subgraphs for op in graph.operators
            if codes[op.opcodeIndex] == "GATHER" and model.buffers[graph.tensors[op.inputs[0]].buffer].data is not None]


def aeq_recipe(mode, flatbuffer, size_first=False):
    """The AEQ recipe (a list of its JSON entries) of ``mode`` for the float32 ``flatbuffer``."""
    if mode == "aeq_wi4":
        from ai_edge_quantizer import recipe
        return recipe.dynamic_wi4_afp32()
    entries = [_dynamic("FULLY_CONNECTED", 4)]
    entries += [_dynamic(op, 4 if size_first else 8) for op in _CONVOLUTIONS]
    gathers = constant_table_gathers(flatbuffer)
    if gathers:
        entries.append(_int4_table("^(" + "|".join(re.escape(scope) for scope in gathers) + ")$"))
    return entries


def _calibration(quantizer, flatbuffer):
    """AEQ's calibration result for a recipe with static ops (the int4 tables), else None.

    An int4 table's output takes the table's own scale, so no activation range enters the artifact; AEQ still
    wants a calibration result for static ops, and one all-zeros input gives it.  Measured on the demo MLM: the
    same bytes from 1, 8 or 100 real inputs, or from zeros."""
    if not quantizer.need_calibration:
        return None
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import calibrator
    signature = Interpreter(model_content=bytes(flatbuffer)).get_signature_runner("serving_default")
    (name, detail), = signature.get_input_details().items()
    # The profiler-based mode: the default one reads every intermediate tensor, which XNNPACK's fused partitions
    # leave unallocated ("Tensor data is null" on the unrolled LSTM graph).
    with contextlib.redirect_stderr(io.StringIO()):  # AEQ's progress bar
        return quantizer.calibrate({"serving_default": [{name: np.zeros(detail["shape"], detail["dtype"])}]},
                                   num_threads=1, mode=calibrator.CalibrationMode.CALIBRATION_PROFILER_BASED)


def quantize_flatbuffer(flatbuffer, mode, size_first=False):
    """``flatbuffer`` (float32 .tflite bytes) quantised by AEQ in ``mode``; refused (UserError) when ops XNNPACK ran
    in float32 would fall back to builtin kernels, unless ``size_first``."""
    from ai_edge_quantizer import quantizer as aeq
    quantizer = aeq.Quantizer(bytearray(flatbuffer), aeq_recipe(mode, flatbuffer, size_first))
    calibration = _calibration(quantizer, flatbuffer)
    try:
        quantized = bytes(quantizer.quantize(calibration, enable_progress_report=False).quantized_model)
    except (ValueError, RuntimeError, KeyError) as e:
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        raise UserError(f"ai-edge-quantizer cannot make {mode}: {first}") from None
    if not size_first:
        _check_kernels(flatbuffer, quantized, mode)
    return quantized


def _check_kernels(float_flatbuffer, quantized, mode):
    """Refuses when an op kind XNNPACK ran in the float32 graph loses nodes to builtin kernels.  Ops the quantiser
    adds (e.g. the DEQUANTIZE of an int4 table's few gathered rows) are not compared: float32 had no such op."""
    from tflite_export.inspect import delegated_ops
    lost = delegated_ops(float_flatbuffer) - delegated_ops(quantized)
    if lost:
        listed = ", ".join(f"{count} {op}" for op, count in sorted(lost.items()))
        raise UserError(f"{mode} would run {listed} on builtin kernels (XNNPACK runs them in float32, not in this "
                        "quantisation), slower than float32: use int8 or dynamic, or pass size_first/--size_first "
                        "to accept it for the smaller file")
