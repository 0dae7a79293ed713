"""Would the TFLite GPU delegate take every op of a .tflite file?  Its published op rules, checked op by op.

Why this exists: ``tf.lite.experimental.Analyzer.analyze(..., gpu_compatibility=True)`` is inert in this build.
TF 2.21's analyzer library holds the verdict text ("Your model looks compatible with GPU delegate") but none of
the rule messages, and it prints that verdict for every model, a TOPK_V2 control included
(tests/test_gpu_rules.py).

The rules are those of the classic GPU delegate (TfLiteGpuDelegateV2, default options) as published in
google-ai-edge/LiteRT at tag v2.2.0 (commit 145c7523ff08; both files are unchanged at f67457790c, the
ai-edge-litert 2.3 development head):

- ``tflite/delegates/gpu/common/model_builder.cc``: ``NewOperationParser`` decides which ops have a parser at all
  (any other op: "Operation is not supported."), each parser's ``CheckMaxSupportedOpVersion``, and
  ``GetOpsToReplace``/``IsAllAllowedTensors``: no tensor with 5 or more dims, and non-constant tensors must be
  float32/float16, plus int8/uint8 because the default options set ENABLE_QUANT (``delegate_options.cc``; the
  delegate then runs float kernels on dequantized values), plus a few per-op int32/bool exceptions;
- ``tflite/tools/versioning/gpu_compatibility.cc``: ``CheckGpuDelegateCompatibility``, the per-op constraints
  that the parsers call (with the delegate's standard broadcast rules, not the offline checker's enhanced ones);
- ``tflite/delegates/utils.cc`` (``FP16GraphPartitionHelper``): a DEQUANTIZE of a constant float16 tensor is
  folded away and its consumers are checked as if they read the float16 constant, so float16 models pass.

TensorFlow keeps its own copy (``tensorflow/lite/...``, copied into LiteRT in November 2024).  We could not read
it at the v2.21.0 tag (the repository is too large to fetch here).  The indexed copy of its gpu_compatibility.cc
(commit 03a5e4e1, undated; no recent copy of its model_builder.cc was available) has the same per-op rules for
the ops checked here, except for three stricter ones that this module does not apply: GATHER refuses int32
params, DEPTHWISE_CONV_2D refuses depth_multiplier != 1 unless the input has 1 channel, and MUL refuses
same-rank inputs where each input is smaller than the other in some dim.

Not modelled here: LiteRT's newer ML Drift GPU accelerator (``ml_drift_delegate/tflite/model_builder.cc`` at the
same tag, used by LiteRT's CompiledModel API) has parsers for more ops, among them TOPK_V2 and REVERSE_V2; the
reason for such an op says so.  Approximations: ops in ``UNCHECKED`` get only the version and tensor rules, not
their op-specific rules; options missing from the flatbuffer skip the rules that read them; the delegate's
partitioning into one largest partition (max_delegated_partitions=1) is not modelled, since a model with any
incompatible op is reported as not compatible anyway.
"""
import collections

import numpy as np
from ai_edge_litert import schema_py_generated as fb

from tflite_export.runner import TFLiteModel

RULES = ("tflite/delegates/gpu/common/model_builder.cc + tflite/tools/versioning/gpu_compatibility.cc "
         "@ google-ai-edge/LiteRT v2.2.0 (145c7523ff08)")
NOT_SUPPORTED = "op not supported by the GPU delegate"
TYPE_SHAPE = "OP is supported, but tensor type/shape isn't compatible."

_UNARY = {"ABS", "COS", "ELU", "EXP", "FLOOR", "GELU", "LOG", "LOGISTIC", "NEG", "RSQRT", "SIGN", "SIN", "SQRT",
          "SQUARE", "TANH"}
_BINARY = {"DIV", "EQUAL", "FLOOR_DIV", "FLOOR_MOD", "GREATER", "GREATER_EQUAL", "LOGICAL_AND", "LESS",
           "LESS_EQUAL", "MAXIMUM", "MINIMUM", "NOT_EQUAL", "POW", "SQUARED_DIFFERENCE", "SUB"}
_COMPARISONS = {"EQUAL", "NOT_EQUAL", "GREATER", "GREATER_EQUAL", "LESS", "LESS_EQUAL"}  # IsLogicalCode
# Op -> the highest version its parser accepts (None: no version check), from model_builder.cc.
MAX_VERSION = {
    **{op: 2 for op in _UNARY | _BINARY | {"ADD", "ADD_N"}}, "MUL": 3,
    "AVERAGE_POOL_2D": 2, "MAX_POOL_2D": 2, "BATCH_MATMUL": None, "CAST": None, "CONCATENATION": 2, "CONV_2D": 6,
    "CUMSUM": 1, "DENSIFY": 1, "DEPTHWISE_CONV_2D": 6, "DEPTH_TO_SPACE": None, "DEQUANTIZE": 3,
    "FULLY_CONNECTED": 9, "GATHER": 1, "HARD_SWISH": None, "LSTM": 4, "MEAN": None, "MIRROR_PAD": 2, "PAD": 2,
    "PADV2": 2, "ONE_HOT": 1, "PACK": None, "PRELU": 1, "QUANTIZE": 2, "REDUCE_MAX": None, "REDUCE_MIN": None,
    "REDUCE_PROD": None, "SUM": None, "RELU": 2, "RELU6": 2, "RELU_0_TO_1": 2, "RELU_N1_TO_1": 2, "LEAKY_RELU": 2,
    "RESHAPE": 1, "RESIZE_BILINEAR": 3, "RESIZE_NEAREST_NEIGHBOR": 3, "SELECT": 1, "SELECT_V2": 1, "SLICE": 2,
    "SOFTMAX": 2, "SPACE_TO_DEPTH": 2, "SPLIT": None, "SPLIT_V": None, "STRIDED_SLICE": 4, "TILE": None,
    "TRANSPOSE": 4, "TRANSPOSE_CONV": 3, "UNPACK": None,
}
CUSTOM_OPS = {"Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D", "Resampler"}
# On the delegate's list, but their op-specific rules (or, for comparisons, the parser's rule about the next op)
# are not implemented here.
UNCHECKED = {"CAST", "CUMSUM", "DENSIFY", "DEPTH_TO_SPACE", "LSTM", "ONE_HOT", "SELECT", "SELECT_V2",
             "SPACE_TO_DEPTH", "TRANSPOSE_CONV", "LOGICAL_AND"} | _COMPARISONS | CUSTOM_OPS
# ml_drift_delegate/tflite/model_builder.cc has parsers for these too; the classic delegate has none.
ML_DRIFT_ALSO = {"ARG_MAX", "ATAN2", "BITCAST", "BITWISE_XOR", "CEIL", "DYNAMIC_UPDATE_SLICE", "EMBEDDING_LOOKUP",
                 "LOGICAL_NOT", "LOGICAL_OR", "REDUCE_ALL", "REDUCE_ANY", "REVERSE_V2", "RIGHT_SHIFT", "ROUND",
                 "TOPK_V2"}

_OP_NAMES = {code: name for name, code in vars(fb.BuiltinOperator).items() if not name.startswith("_")}
_TYPE_NAMES = {code: name.lower() for name, code in vars(fb.TensorType).items() if not name.startswith("_")}
_OPTIONS = {"CONV_2D": fb.Conv2DOptions, "DEPTHWISE_CONV_2D": fb.DepthwiseConv2DOptions,
            "AVERAGE_POOL_2D": fb.Pool2DOptions, "MAX_POOL_2D": fb.Pool2DOptions,
            "FULLY_CONNECTED": fb.FullyConnectedOptions, "SOFTMAX": fb.SoftmaxOptions, "MUL": fb.MulOptions,
            "SUB": fb.SubOptions, "DIV": fb.DivOptions, "STRIDED_SLICE": fb.StridedSliceOptions,
            "MIRROR_PAD": fb.MirrorPadOptions, "RESIZE_BILINEAR": fb.ResizeBilinearOptions}


class _Check(Exception):
    """One rule failed; its message is the reason (the delegate's own wording where the source has one)."""


def _tensor(kind, dtype, dims):
    return {"kind": kind, "dtype": dtype, "dims": list(dims)}


def _runtime(tensors):
    return sum(t["kind"] != "const" for t in tensors)


def _io(inputs, outputs, runtime, n_outputs=1, const=None):
    """CheckInputsOutputs / CheckInputsConstsOutputs."""
    if const is not None and len(inputs) - _runtime(inputs) != const:
        raise _Check(f"Expected {const} const input tensor(s), but node has {len(inputs) - _runtime(inputs)} "
                     "const input(s).")
    if _runtime(inputs) != runtime:
        raise _Check(f"Expected {runtime} runtime input tensor(s), but node has {_runtime(inputs)} runtime input(s).")
    if len(outputs) != n_outputs:
        raise _Check(f"Expected {n_outputs} output tensor(s), but node has {len(outputs)} output(s).")


def _activation(options):
    # Every fused activation the schema can hold is supported except SIGN_BIT (IsActivationSupported).
    if options is not None and options.FusedActivationFunction() == fb.ActivationFunctionType.SIGN_BIT:
        raise _Check("TfLiteFusedActivation.kTfLiteActSignBit")


def _broadcast(a, b):
    """CheckAddMulBroadcastCompatibility with the delegate's standard (not enhanced) broadcast."""
    if len(a) > 1 and len(b) > 1 and len(a) != len(b):
        long, short = (a, b) if len(a) >= len(b) else (b, a)
        ok = len(long) == 4 and ((len(short) == 3 and long[0] == 1)
                                 or (len(short) == 2 and long[0] == 1 and short == [1, 1])
                                 or (len(short) == 2 and long[0] == short[0] and long[3] == short[1]))
        if not ok:
            raise _Check(f"Doesn't support broadcasting - input0: [{','.join(map(str, a))}], "
                         f"input1: [{','.join(map(str, b))}]")


def _positive(what, height, width):
    if height <= 0 or width <= 0:
        raise _Check(f"Incorrect {what} values: {what}_height = {height}, {what}_width = {width}")


def _conv(inputs, outputs, options):
    if _runtime(inputs) > 2:
        raise _Check(f"Expected 1 or 2 input tensor(s), but node has {_runtime(inputs)} runtime inputs.")
    if len(outputs) != 1:
        raise _Check(f"Expected 1 output tensor(s), but node has {len(outputs)} runtime outputs.")
    if options is not None:
        _positive("stride", options.StrideH(), options.StrideW())
        _positive("dilation", options.DilationHFactor(), options.DilationWFactor())
        _activation(options)


def _depthwise(inputs, outputs, options):
    _conv(inputs, outputs, options)
    source, filters, out = inputs[0]["dims"], inputs[1]["dims"], outputs[0]["dims"]
    for what, dims in (("input", source), ("filter", filters), ("output", out)):
        if len(dims) != 4:
            raise _Check(f"{what}.dims.size != 4")
    if source[0] != out[0]:
        raise _Check("input.b != output.b")
    if filters[3] != out[3]:
        raise _Check("filter.i != output.c")
    if options is not None and out[3] != source[3] * options.DepthMultiplier():
        raise _Check("output.c != input.c * depth_multiplier")
    if len(inputs) > 2 and int(np.prod(inputs[2]["dims"])) != out[3]:
        raise _Check("bias.size != output.c")


def _pool(inputs, outputs, options):
    _io(inputs, outputs, runtime=1)
    if options is not None:
        _positive("kernel", options.FilterHeight(), options.FilterWidth())
        _positive("stride", options.StrideH(), options.StrideW())
        _activation(options)


def _fully_connected(inputs, outputs, options):
    if options is not None and options.WeightsFormat() != fb.FullyConnectedOptionsWeightsFormat.DEFAULT:
        raise _Check(f"Unsupported FullyConnected weights format: {options.WeightsFormat()}")
    if _runtime(inputs) > 2:
        raise _Check("FullyConnected doesn't support more than 2 runtime inputs.")
    if inputs[0]["kind"] == "const":
        raise _Check("FullyConnected doesn't support constant input.")
    if options is not None and options.KeepNumDims() and len(inputs[0]["dims"]) != len(outputs[0]["dims"]):
        raise _Check("Input and output dimensions different and FullyConnected doesn't support keep_num_dims.")


def _reduce(inputs, outputs, op, const=None):
    _io(inputs, outputs, runtime=1, const=const)
    axes = inputs[1]
    if axes["kind"] != "const":
        raise _Check(f"{op} is only supported with constant axes.")
    if axes["dtype"] != "int32":
        raise _Check(f"{op} supports int32 tensor for axes. But node has {axes['dtype']}")


def _gather(inputs, outputs):
    if not (_runtime(inputs) in (1, 2) and len(inputs) == 2 and len(outputs) == 1):
        raise _Check("Op can only handle 1 or 2 operand(s).")
    if len(inputs[1]["dims"]) != 1:
        raise _Check("Only support 1D indices")
    if inputs[1]["dtype"] != "int32":
        raise _Check("Only accept INT32 indices")


def _binary(op, inputs, outputs, options):
    if not (_runtime(inputs) in (1, 2) and len(inputs) == 2 and len(outputs) == 1):
        raise _Check("Op can only handle 1 or 2 operand(s).")
    if op in ("SUB", "DIV"):
        _activation(options)


def _slicing(op, inputs, options):
    if op == "STRIDED_SLICE":
        if options is not None:
            for mask, name in ((options.EllipsisMask(), "ellipsis_mask."), (options.NewAxisMask(), "new_axis_mask."),
                               (options.ShrinkAxisMask(), "shrink_axis_mask parameter.")):
                if mask:
                    raise _Check(f"Slice does not support {name}")
        if len(inputs) < 4:
            raise _Check("STRIDED_SLICE requires 4 inputs.")
        if len(inputs[0]["dims"]) not in (3, 4):
            raise _Check("STRIDED_SLICE supports for 3 or 4 dimensional tensors only.")
    else:
        if len(inputs) < 3:
            raise _Check(f"SLICE requires 3 inputs, but node has {len(inputs)} inputs.")
        if len(inputs[0]["dims"]) not in (3, 4):
            raise _Check(f"SLICE supports for 3 or 4 dimensional tensors only, but node has {len(inputs[0]['dims'])} "
                         "dimensional tensors.")


def _pad(op, inputs, outputs, options):
    if op == "MIRROR_PAD" and options is not None and options.Mode() != fb.MirrorPadMode.REFLECT:
        raise _Check(f"Only Reflective padding is supported for Mirror Pad operation. But node has {options.Mode()}")
    _io(inputs, outputs, runtime=1)
    paddings = inputs[1]["dims"]
    if len(paddings) != 2:
        raise _Check(f"Invalid paddings tensor dimension: expected 2 dim, got {len(paddings)} dim")
    if paddings[0] not in (3, 4) or paddings[1] != 2:
        raise _Check(f"Invalid paddings tensor shape: expected 4x2 or 3x2, got {paddings[0]}x{paddings[1]}")


def _op_rules(op, inputs, outputs, options):
    """CheckGpuDelegateCompatibility for the ops implemented here; raises _Check with the reason."""
    if op == "CONV_2D":
        _conv(inputs, outputs, options)
    elif op == "DEPTHWISE_CONV_2D":
        _depthwise(inputs, outputs, options)
    elif op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        _pool(inputs, outputs, options)
    elif op == "FULLY_CONNECTED":
        _fully_connected(inputs, outputs, options)
    elif op == "SOFTMAX" and options is not None and options.Beta() != 1:
        raise _Check("Softmax.beta != 1 is not supported.")
    elif op == "MEAN":
        _reduce(inputs, outputs, op, const=1)
    elif op in ("SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"):
        _reduce(inputs, outputs, op)
    elif op in ("RESHAPE", "TILE", "TRANSPOSE", "QUANTIZE", "HARD_SWISH", "RESIZE_NEAREST_NEIGHBOR"):
        _io(inputs, outputs, runtime=1)
    elif op == "RESIZE_BILINEAR":
        _io(inputs, outputs, runtime=1)
        if options is not None and options.AlignCorners() and options.HalfPixelCenters():
            raise _Check("If half_pixel_centers is True, align_corners must be False.")
    elif op in ("ADD", "MUL"):
        if len(inputs) != 2:
            raise _Check(f"{op} requires two input tensors.")
        _broadcast(inputs[0]["dims"], inputs[1]["dims"])
        if op == "MUL":
            _activation(options)
    elif op == "ADD_N" and len(inputs) != 2:
        raise _Check("ADD_N only supports 2 inputs.")
    elif op in _UNARY:
        _io(inputs, outputs, runtime=1, const=0)
    elif op in _BINARY:
        _binary(op, inputs, outputs, options)
    elif op == "GATHER":
        _gather(inputs, outputs)
    elif op == "DEQUANTIZE":
        if len(inputs) != 1 or len(outputs) != 1:
            raise _Check("Expected 1 input & output each from Dequantize")
        if inputs[0]["dtype"] == "int16":
            raise _Check("Unsupported dequantization type.")
    elif op in ("STRIDED_SLICE", "SLICE"):
        _slicing(op, inputs, options)
    elif op in ("PAD", "PADV2", "MIRROR_PAD"):
        _pad(op, inputs, outputs, options)
    elif op == "BATCH_MATMUL" and (len(inputs) != 2 or len(outputs) != 1):
        raise _Check(f"Expected 2 inputs and 1 output, got: {len(inputs)} inputs and {len(outputs)} outputs")
    # CONCATENATION, PACK, SPLIT, SPLIT_V, UNPACK, PRELU and the RELUs have no op-specific rule in the source.


def _allowed_types(op):
    """IsAllAllowedTensors' type lists for non-constant inputs and outputs (ENABLE_QUANT is on by default)."""
    inputs, outputs = {"float32", "float16", "int8", "uint8"}, {"float32", "float16", "int8", "uint8"}
    if op in _COMPARISONS:
        outputs.add("bool")
    if op == "CAST":
        inputs |= {"bool", "int32"}
        outputs |= {"int32", "bool"}
    if op in ("ONE_HOT", "GATHER"):
        inputs.add("int32")
    if op in ("SELECT", "SELECT_V2", "LOGICAL_AND"):
        inputs.add("bool")
    if op == "LOGICAL_AND":
        outputs.add("bool")
    return inputs, outputs


def _type_shape(op, inputs, outputs, names):
    allowed_in, allowed_out = _allowed_types(op)
    for tensors, allowed in ((inputs, allowed_in), (outputs, allowed_out)):
        for index, t in tensors:
            if len(t["dims"]) >= 5:
                raise _Check(f"{TYPE_SHAPE} (tensor {names[index]!r} has {len(t['dims'])} dims; at most 4)")
            # Only arena tensors are type-checked: constants and LSTM state variables are not.
            if t["kind"] == "runtime" and t["dtype"] not in allowed:
                raise _Check(f"{TYPE_SHAPE} (tensor {names[index]!r} is {t['dtype']})")


def _is_const(model, tensor):
    buffer = model.Buffers(tensor.Buffer()) if tensor.Buffer() > 0 else None
    # Offset > 1: the data lives outside the flatbuffer (models over 2 GB).
    return buffer is not None and (buffer.DataLength() > 0 or buffer.Offset() > 1)


def _options(op_name, op):
    table, cls = op.BuiltinOptions(), _OPTIONS.get(op_name)
    if table is None or cls is None:
        return None
    options = cls()
    options.Init(table.Bytes, table.Pos)
    return options


def gpu_compatibility(path=None, content=None):
    """Whether the classic TFLite GPU delegate would take every op of the model, and why not, op by op.

    Returns ``{"compatible", "rules", "ops": {name: count}, "incompatible": [{"op", "node", "reason"}],
    "unchecked": [ops whose op-specific rules are not implemented], "checked_with"}``.
    """
    runner = TFLiteModel(model_path=path, model_content=content, use_xnnpack=False)
    interpreter = runner.interpreter
    if content is None:
        with open(path, "rb") as f:
            content = f.read()
    model = fb.Model.GetRootAs(content, 0)
    graph = model.Subgraphs(0)
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    tensors, names = {}, {}
    for index in range(graph.TensorsLength()):
        flat = graph.Tensors(index)
        kind = "const" if _is_const(model, flat) else "variable" if flat.IsVariable() else "runtime"
        detail = details.get(index)  # the interpreter's shapes: dynamic dims are resolved, as the delegate sees them
        dtype = np.dtype(detail["dtype"]).name if detail else _TYPE_NAMES[flat.Type()]
        dims = detail["shape"] if detail else flat.ShapeAsNumpy() if flat.ShapeLength() else []
        tensors[index] = _tensor(kind, dtype, [int(d) for d in dims])
        names[index] = detail["name"] if detail else flat.Name().decode()
    nodes = interpreter._get_ops_details()
    # A DEQUANTIZE of a float16 constant is folded: its consumers read the float16 constant (FP16GraphPartitionHelper).
    folded = {}
    for node in nodes:
        source = [int(t) for t in node["inputs"]]
        if node["op_name"] == "DEQUANTIZE" and (tensors[source[0]]["kind"], tensors[source[0]]["dtype"]) == (
                "const", "float16"):
            folded[int(node["outputs"][0])] = source[0]
    incompatible, unchecked = [], set()
    for node in nodes:
        flat_op = graph.Operators(node["index"])
        code = model.OperatorCodes(flat_op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        op = code.CustomCode().decode() if builtin == fb.BuiltinOperator.CUSTOM else _OP_NAMES.get(builtin)
        if op is None:  # an op newer than this schema: the delegate has no parser for it either
            op = node["op_name"]
        elif op != node["op_name"]:
            raise RuntimeError(f"node {node['index']}: the interpreter says {node['op_name']}, the flatbuffer {op}")
        if int(node["outputs"][0]) in folded:
            continue
        inputs = [(folded.get(int(t), int(t)), tensors[folded.get(int(t), int(t))]) for t in node["inputs"] if t >= 0]
        outputs = [(int(t), tensors[int(t)]) for t in node["outputs"]]
        try:
            if op not in MAX_VERSION and op not in CUSTOM_OPS:
                also = " (LiteRT's ML Drift GPU accelerator has a parser for it)" if op in ML_DRIFT_ALSO else ""
                raise _Check(NOT_SUPPORTED + also)
            if MAX_VERSION.get(op) is not None and code.Version() > MAX_VERSION[op]:
                raise _Check(f"Max version supported: {MAX_VERSION[op]}. Requested version {code.Version()}.")
            if op in UNCHECKED:
                unchecked.add(op)
            else:
                _op_rules(op, [t for _, t in inputs], [t for _, t in outputs], _options(op, flat_op))
            _type_shape(op, inputs, outputs, names)
        except _Check as e:
            incompatible.append({"op": op, "node": int(node["index"]), "reason": str(e)})
    implemented = set(MAX_VERSION) - UNCHECKED
    return {"compatible": not incompatible, "rules": RULES,
            "ops": dict(sorted(collections.Counter(n["op_name"] for n in nodes).items())),
            "incompatible": incompatible, "unchecked": sorted(unchecked),
            "checked_with": f"keras-ssl rule subset ({len(implemented)} ops)"}
