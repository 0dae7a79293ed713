"""Compressing the transformer MLM and ViT: magnitude pruning, post-training int8 TFLite, distillation.

What tfmot 0.8.1 does with ``MultiHeadAttention`` (checked, not assumed):

- pruning: its prune registry lists ``MultiHeadAttention`` with the query, key, value and output kernels (biases
  stay dense), so ``prune_magnitude`` wraps it as it is: no ``PrunableLayer`` subclass (as ``prunable_layers.py``
  needs for ``Bidirectional``) and no change to ``prune.py``.  ``prune_transformer`` still checks that every
  attention and MLP kernel reached its target, since a layer tfmot skipped would only be named in a log line;
- QAT: ``quantize_model`` has no annotation for ``MultiHeadAttention`` (nor ``LayerNormalization``), so the way
  to int8 is post-training calibration (``int8_tflite``).  The converter lowers the attention einsums to
  FULLY_CONNECTED / BATCH_MATMUL, LayerNorm to MEAN / RSQRT / MUL, all builtin int8 kernels: no Flex op;
- distillation: ``distill`` takes the MLM's ``(inputs, labels, weights)`` batches as they are;
  ``distill_transformer`` builds the smaller student from a ``TransformerConfig``.
"""
import numpy as np
import tensorflow_model_optimization as tfmot
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils
from tensorflow_model_optimization.python.core.sparsity.keras import prune_registry

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf_keras
from keras_ssl.base.metrics import gzip_bytes
from keras_ssl.compress.distill import distill
from keras_ssl.compress.prune import prune_magnitude
from keras_ssl.models.transformer import build_transformer_mlm
from keras_ssl.training.fit import masked_token_accuracy
from tflite_export.convert import to_tflite
from tflite_export.inspect import describe
from tflite_export.runner import TFLiteModel

TENSOR_TYPE_NAMES = {value: name.lower() for name, value in vars(schema.TensorType).items() if name.isupper()}


def compressible_kernels(model):
    """The attention (query/key/value/output) and MLP kernels of ``model`` by weight name: what pruning targets.

    MLP kernels are the Dense layers ``encoder_block`` names ``block{i}_mlp_*``.

    Works on plain and pruning-wrapped models (a wrapper's masks and thresholds are not kernels).
    """
    kernels = {}
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        if isinstance(inner, tf_keras.layers.MultiHeadAttention):
            for dense in (inner._query_dense, inner._key_dense, inner._value_dense, inner._output_dense):
                kernels[dense.kernel.name] = dense.kernel
        elif isinstance(inner, tf_keras.layers.Dense) and "_mlp_" in inner.name:
            kernels[inner.kernel.name] = inner.kernel
    return kernels


def kernel_sparsity(model):
    """Fraction of exact zeros in each attention and MLP kernel, by weight name."""
    return {name: float(np.mean(weight.numpy() == 0)) for name, weight in compressible_kernels(model).items()}


def prune_transformer(model, dataset, config, compile_fn):
    """``prune_magnitude`` on a transformer, refusing a result whose attention or MLP kernels stayed short.

    Same contract as ``prune_magnitude`` (a stripped plain-Keras copy; ``model`` is untouched).  Raises
    RuntimeError if tfmot left the attention unpruned (e.g. a tfmot without MultiHeadAttention in its registry);
    UserError for ``m_by_n``, which tfmot cannot lay out on the rank-3 attention kernels.
    """
    attention = [layer for layer in model.layers if isinstance(layer, tf_keras.layers.MultiHeadAttention)]
    if attention and config.m_by_n:
        raise UserError(f"m_by_n={config.m_by_n} cannot prune attention layer {attention[0].name!r}: its kernels are "
                        "rank 3 and tfmot's m_by_n mask needs rank 2 or 4; use target_sparsity instead")
    unsupported = [layer.name for layer in attention if not prune_registry.PruneRegistry.supports(layer)
                   and not isinstance(layer, tfmot.sparsity.keras.PrunableLayer)]
    if unsupported:
        raise RuntimeError(f"this tfmot cannot prune MultiHeadAttention layers {unsupported}: use tfmot 0.8.1 or "
                           "newer, whose prune registry lists their query/key/value/output kernels")
    pruned = prune_magnitude(model, dataset, config, compile_fn)
    sparsity = kernel_sparsity(pruned)
    short = {name: round(value, 3) for name, value in sparsity.items()
             if value < config.per_layer.get(name.split("/")[0], config.target_sparsity) - 0.01}
    if not sparsity or short:
        raise RuntimeError(f"attention/MLP kernels short of the {config.target_sparsity} target: {short or 'none'}")
    return pruned


def constant_tensors(flatbuffer):
    """(name, dtype name, shape) of each tensor with stored data in a .tflite: the weights, not the activations."""
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    found = []
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            data = model.buffers[tensor.buffer].data if tensor.buffer < len(model.buffers) else None
            if data is not None and len(data):
                name = tensor.name.decode() if isinstance(tensor.name, bytes) else tensor.name
                found.append((name, TENSOR_TYPE_NAMES.get(tensor.type, str(tensor.type)), tuple(tensor.shape)))
    return found


def weight_bytes(flatbuffer):
    """Bytes of stored tensor data (weights, biases, constants): the part quantisation shrinks."""
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    return int(sum(len(buffer.data) for buffer in model.buffers if buffer.data is not None))


def int8_tflite(model, representative_data, num_calibration=100):
    """Post-training int8 (weights and activations, float I/O) flatbuffer of ``model``, checked to be deployable.

    Raises RuntimeError if the result needs Flex ops, does not load in LiteRT, or keeps any matrix weight in float
    (each kernel must be an int8 constant).  ``representative_data`` are real inputs (token-id windows or images).
    """
    if representative_data is None or len(representative_data) == 0:
        raise UserError(f"int8 conversion of model {model.name!r} needs representative data: pass a few hundred "
                        "real inputs")
    flatbuffer = to_tflite(model, "int8", representative_data=representative_data, num_calibration=num_calibration)
    facts = describe(content=flatbuffer)
    if facts["flex_ops"]:
        raise RuntimeError(f"int8 {model.name!r} needs Flex ops {facts['flex_ops']}: stock LiteRT cannot run it")
    float_matrices = [(name, shape) for name, dtype, shape in constant_tensors(flatbuffer)
                      if dtype == "float32" and len(shape) >= 2]
    if float_matrices:
        raise RuntimeError(f"int8 {model.name!r} kept float weights: {float_matrices[:5]}")
    return flatbuffer


def tflite_predict(flatbuffer, inputs):
    """Outputs of a flatbuffer in LiteRT, one input at a time at batch 1 (as a phone runs it)."""
    return TFLiteModel(model_content=flatbuffer).predict(inputs)


def mlm_int8_report(model, masked_set, representative_data, num_calibration=100):
    """Size and masked-token accuracy of the Keras MLM, its float32 TFLite and its int8 TFLite, on one masked set.

    ``masked_set`` is ``(inputs, labels, weights)`` from ``fixed_masked_set`` (held-out sequences).  Returns a
    dict of accuracies, file / gzip / weight bytes, the int8 / float32 ratios and the int8 file itself.
    """
    inputs, labels, weights = masked_set
    float32 = to_tflite(model, "float32")
    int8 = int8_tflite(model, representative_data, num_calibration)
    report = {"keras_accuracy": masked_token_accuracy(model.predict(inputs, verbose=0), labels, weights)}
    for mode, flatbuffer in (("float32", float32), ("int8", int8)):
        report[f"{mode}_accuracy"] = masked_token_accuracy(tflite_predict(flatbuffer, inputs), labels, weights)
        report[f"{mode}_bytes"] = len(flatbuffer)
        report[f"{mode}_gzip_bytes"] = gzip_bytes(flatbuffer)
        report[f"{mode}_weight_bytes"] = weight_bytes(flatbuffer)
    report["size_ratio"] = report["int8_bytes"] / report["float32_bytes"]
    report["weight_ratio"] = report["int8_weight_bytes"] / report["float32_weight_bytes"]
    report["accuracy_drop_points"] = 100.0 * (report["keras_accuracy"] - report["int8_accuracy"])
    report["int8_flatbuffer"] = int8
    return report


def distill_transformer(teacher, student_config, dataset, config, compile_fn=None):
    """Distils the ``teacher`` MLM into a new, smaller transformer MLM built from ``student_config``.

    ``dataset`` yields ``mlm_dataset`` batches ``(inputs, labels, weights)``; ``config`` is a ``DistillConfig``.
    The student must read the teacher's sequence length and predict over its vocabulary (UserError otherwise).
    """
    seq_len, vocab = teacher.inputs[0].shape[1], teacher.outputs[0].shape[-1]
    if (student_config.seq_len, student_config.vocab_size) != (seq_len, vocab):
        raise UserError(f"student seq_len={student_config.seq_len}, vocab_size={student_config.vocab_size} differ "
                        f"from teacher {teacher.name!r} ({seq_len}, {vocab}): build the student with the teacher's")
    student = build_transformer_mlm(student_config)
    return distill(teacher, student, dataset, config, compile_fn=compile_fn)
