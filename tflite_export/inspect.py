"""What is inside a .tflite file, read by LiteRT itself: signature, tensor types, ops, and XNNPACK coverage.

XNNPACK coverage matters for speed: on this CPU the builtin int8 kernels are *slower* than XNNPACK float32, so an
int8 model whose ops XNNPACK does not all take can lose to float32 (timed in studies/int8_speed/README.md).  The
interpreter lists each delegate partition as a ``DELEGATE`` node after the original nodes; walking back from a
partition's outputs to its inputs recovers which original nodes it swallowed, and whatever is left runs on builtin
kernels.
"""
import collections

import numpy as np

from tflite_export.gpu_rules import gpu_compatibility
from tflite_export.runner import TFLiteModel


def _tensor_info(detail, signature_name):
    scale, zero_point = detail["quantization"]
    return {"name": signature_name, "tensor": detail["name"], "dtype": np.dtype(detail["dtype"]).name,
            "shape": [int(d) for d in detail["shape"]],
            "shape_signature": [int(d) for d in detail["shape_signature"]],
            "quantization": {"scale": float(scale), "zero_point": int(zero_point)} if scale else None}


def signature_io(interpreter):
    """Inputs and outputs under their signature names (``image`` → ``logits``), with dtype, shape, quantisation."""
    signatures = interpreter.get_signature_list()
    key = "serving_default" if "serving_default" in signatures else next(iter(signatures), None)
    by_index = {d["index"]: d for d in interpreter.get_input_details() + interpreter.get_output_details()}
    if key is None:  # a model converted without a signature: fall back to tensor names
        return None, ([_tensor_info(d, d["name"]) for d in interpreter.get_input_details()],
                      [_tensor_info(d, d["name"]) for d in interpreter.get_output_details()])
    runner = interpreter.get_signature_runner(key)
    inputs = [_tensor_info(by_index[d["index"]], name) for name, d in runner.get_input_details().items()]
    outputs = [_tensor_info(by_index[d["index"]], name) for name, d in runner.get_output_details().items()]
    return key, (inputs, outputs)


def xnnpack_coverage(path=None, content=None, num_threads=1):
    """Which original ops the default XNNPACK delegate takes, and which fall back to builtin kernels."""
    model = TFLiteModel(model_path=path, model_content=content, num_threads=num_threads, use_xnnpack=True)
    nodes = model.interpreter._get_ops_details()
    original = [n for n in nodes if n["op_name"] != "DELEGATE"]
    partitions = [n for n in nodes if n["op_name"] == "DELEGATE"]
    producer = {int(t): n["index"] for n in original for t in n["outputs"]}
    by_index = {n["index"]: n for n in original}
    covered = set()
    for partition in partitions:
        boundary = {int(t) for t in partition["inputs"]}
        stack = [int(t) for t in partition["outputs"]]
        while stack:
            node = producer.get(stack.pop())
            if node is None or node in covered:
                continue
            covered.add(node)
            stack.extend(int(t) for t in by_index[node]["inputs"] if int(t) >= 0 and int(t) not in boundary)
    left = collections.Counter(n["op_name"] for n in original if n["index"] not in covered)
    return {"nodes": len(original), "delegated_nodes": len(covered), "partitions": len(partitions),
            "fully_delegated": not left, "not_delegated_ops": dict(sorted(left.items()))}


def delegated_ops(flatbuffer):
    """{op name: how many of its nodes XNNPACK takes} (a Counter), to compare two conversions of one model."""
    ops = collections.Counter(op["op_name"] for op in TFLiteModel(model_content=flatbuffer, use_xnnpack=False)
                              .interpreter._get_ops_details())
    return ops - collections.Counter(xnnpack_coverage(content=flatbuffer)["not_delegated_ops"])


def describe(path=None, content=None):
    """The facts a deployer needs about one artifact, all read from the flatbuffer by LiteRT."""
    model = TFLiteModel(model_path=path, model_content=content, use_xnnpack=False)
    interpreter = model.interpreter
    signature, (inputs, outputs) = signature_io(interpreter)
    ops = collections.Counter(op["op_name"] for op in interpreter._get_ops_details())
    flex = sorted(op for op in ops if op.startswith("Flex"))
    return {"signature": signature, "inputs": inputs, "outputs": outputs, "ops": dict(sorted(ops.items())),
            "tensor_dtypes": model.tensor_dtypes(), "flex_ops": flex,
            "xnnpack": xnnpack_coverage(path=path, content=content),
            # Whether the GPU delegate would take every op, by its published rules (not a run on a GPU).
            "gpu_delegate": gpu_compatibility(path=path, content=content)}
