"""Keras / QAT / SavedModel → TFLite flatbuffer, in the modes mobile, GPU and microcontroller users ship.

- ``float32``: the baseline every ratio in a report is against.
- ``float16``: float16 weights, for the GPU delegate (on CPU they are dequantised to float32 at load).
- ``dynamic``: int8 weights, float activations; no calibration data needed.
- ``int8``: int8 weights and activations calibrated on representative data, float input/output.
- ``int8_mixed``: ``int8`` except for the op kinds XNNPACK takes in float32 but not in int8 (on the transformer:
  BATCH_MATMUL of two activations, SOFTMAX, GELU and LayerNorm's arithmetic), which stay float32 through the
  converter's own selective quantisation (``QuantizationDebugger`` with ``denylisted_ops``).  Each such op would
  otherwise split the XNNPACK graph and run on slow builtin int8 kernels (per-op timings: docs/export.md).  A model
  whose int8 graph XNNPACK takes as well as its float32 one gets plain ``int8``.
- ``int8_per_tensor``: ``int8`` with one scale per Dense (FULLY_CONNECTED) weight tensor instead of one per output
  channel.  It is for clustered models: k shared values then become at most k distinct bytes in the whole tensor,
  which gzip codes in ~log2(k) bits, whereas per-channel scales turn them into different bytes in every row, so a
  clustered model's file compresses better at the same accuracy (the clustered MLM's sizes: the modes table of
  docs/export.md).  Conv kernels stay per channel.
- ``int8_io`` / ``uint8_io``: integer-only (TFLITE_BUILTINS_INT8) with integer input and output tensors, for
  microcontrollers and NPUs.  Token-id inputs stay int32 (they are indices, not quantised values).
- ``int16x8``: int16 activations, int8 weights, for models where int8 activations lose too much.  LSTM has no
  16x8 kernel; such models get a clear error.
- ``int4``, ``int4_unrolled``, ``aeq_wi4``: int4 weights, made by ai-edge-quantizer from the float32 flatbuffer
  (``tflite_export.aeq`` documents each); ``size_first=True`` accepts ops that then leave XNNPACK.

Models with recurrent layers are converted through a fixed batch-1 signature: a dynamic batch needs Flex
(SELECT_TF_OPS) tensor-list ops that LiteRT cannot run, while batch 1 yields the fused UNIDIRECTIONAL_SEQUENCE_LSTM.
Flex ops are refused unless ``allow_flex=True``: an artifact that needs them does not load in a stock runtime.

``unroll_rnn=True`` unrolls recurrent layers over their fixed sequence length before conversion.  TFLite's fused
integer LSTM kernel is not taken by XNNPACK and runs slower than the float one; unrolled, the LSTM becomes
FULLY_CONNECTED/ADD/MUL/LOGISTIC/TANH ops that XNNPACK runs in int8, so the int8 model beats float32 again, for a
somewhat larger gzip than the fused int8 file (timings: docs/export.md, "Measurements behind the code").
"""
import dataclasses
import os

import numpy as np

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf, tf_keras
from keras_ssl.base.tflite_modes import AEQ_MODES, CALIBRATED_MODES, MODES, QAT_MODES, unrolled
from keras_ssl.models.introspect import has_recurrent_layers, recurrent_layer_names, walk_layers

INTEGER_IO = {"int8_io": tf.int8, "uint8_io": tf.uint8}


@dataclasses.dataclass
class ConvertConfig:
    """One conversion's settings; an unknown ``mode`` or ``num_calibration`` < 1 raises UserError."""
    mode: str = "float32"
    num_calibration: int = 100  # representative inputs fed one at a time to calibrate activation ranges
    allow_flex: bool = False  # permit SELECT_TF_OPS (needs the Flex delegate on device; not runnable in LiteRT here)
    unroll_rnn: bool = False  # unroll LSTM/GRU so XNNPACK can run them (see module docstring)
    size_first: bool = False  # int4 modes: accept ops that fall back to builtin kernels, for the smaller file

    def __post_init__(self):
        if self.mode not in MODES:
            raise UserError(f"unknown TFLite mode {self.mode!r}: use one of {', '.join(MODES)}")
        if self.num_calibration < 1:
            raise UserError(f"num_calibration={self.num_calibration} must be at least 1")


def _unrolled_config(node):
    if isinstance(node, list):
        return [_unrolled_config(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _unrolled_config(value) for key, value in node.items()}
    if node.get("class_name") in ("LSTM", "GRU", "SimpleRNN") and isinstance(node.get("config"), dict):
        out["config"]["unroll"] = True
    return out


def unroll_recurrent(model):
    """The same model (weights shared by value) with every LSTM/GRU/SimpleRNN unrolled over its fixed length."""
    if not has_recurrent_layers(model):
        return model
    if any(t.shape[1] is None for t in model.inputs):
        raise UserError(f"cannot unroll the RNNs of model {model.name!r}: its sequence length is not fixed; build "
                        "it with a fixed input length")
    unrolled = model.__class__.from_config(_unrolled_config(model.get_config()))
    unrolled.set_weights(model.get_weights())
    return unrolled


def is_qat_model(model):
    """True for models wrapped by tfmot's quantize_model/quantize_apply (their fake-quant ranges are trained)."""
    return any(type(layer).__name__.startswith("Quantize") for layer in walk_layers(model))


def _keras_converter(model, batch_size):
    """A converter over a traced function with named inputs and outputs, so the artifact's signature reads
    ``serving_default(image) -> {logits}`` instead of ``StatefulPartitionedCall:0``.

    The converter saves the function with the object that owns what it captures.  Given the Keras model, it would
    also serialise every layer the Keras way, tracing each layer's call again: most of a conversion's time, and
    nothing the flatbuffer uses.  When the function captures only the model's variables, a plain module holding
    them saves the same function and weights (the same flatbuffer); a model whose function uses other resources
    (e.g. a lookup table) is saved whole, so they come along."""
    specs = [tf.TensorSpec([batch_size] + list(t.shape[1:]), t.dtype, name=name)
             for t, name in zip(model.inputs, model.input_names)]

    @tf.function(input_signature=specs)
    def serve(*args):
        outputs = model(args[0] if len(args) == 1 else list(args), training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return dict(zip(model.output_names, outputs))

    function = serve.get_concrete_function()
    variables = {id(v.handle) for v in model.variables}
    owner = model
    if all(t.dtype != tf.resource or id(t) in variables for t in function.captured_inputs):
        owner = tf.Module()
        owner.weights = list(model.variables)
    return tf.lite.TFLiteConverter.from_concrete_functions([function], owner)


def _source_converter(source):
    """(converter, input dtypes, description) for a Keras model or a SavedModel folder."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise UserError(f"{path} is not a SavedModel folder (no saved_model.pb); pass a Keras model or a "
                            "folder written by tf.saved_model.save")
        try:
            signature = tf.saved_model.load(path).signatures["serving_default"]
        except KeyError:
            raise UserError(f"SavedModel {path} has no serving_default signature: save it with one") from None
        dtypes = [spec.dtype for spec in signature.structured_input_signature[1].values()]
        return tf.lite.TFLiteConverter.from_saved_model(path, signature_keys=["serving_default"]), dtypes, path
    if not isinstance(source, tf_keras.Model):
        raise UserError(f"cannot convert a {type(source).__name__}: pass a tf_keras Model or a SavedModel folder")
    batch = 1 if has_recurrent_layers(source) else None
    return _keras_converter(source, batch), [t.dtype for t in source.inputs], f"model {source.name!r}"


def _check_mode_for_source(source, mode, unrolled=False):
    if isinstance(source, tf_keras.Model) and is_qat_model(source) and mode not in QAT_MODES:
        raise UserError(f"model {source.name!r} is quantization-aware (fake-quant layers): convert it as one of "
                        f"{', '.join(QAT_MODES)}; for float16/dynamic convert the model from before quantize_model")
    if mode == "int16x8" and not unrolled and isinstance(source, tf_keras.Model) and has_recurrent_layers(source):
        rnn = recurrent_layer_names(source)[0]
        raise UserError(f"int16x8 is not supported for LSTM (layer {rnn!r} of model {source.name!r}): TFLite has "
                        "no 16x8 LSTM kernel; use int8 or dynamic, or unroll the RNN (unroll_rnn/--unroll_rnn)")


def _representative(samples, dtypes):
    def dataset():
        for sample in samples:
            yield [np.asarray(sample)[None].astype(dtypes[0].as_numpy_dtype)]
    return dataset


def _configure(converter, config, dtypes, representative_data, qat):
    mode = config.mode
    builtins = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    has_data = representative_data is not None and len(representative_data) > 0
    if mode in CALIBRATED_MODES and not has_data and not qat:
        raise UserError(f"{mode} conversion needs representative data (a few hundred real inputs)")
    if mode in CALIBRATED_MODES and has_data:
        # For a QAT model the trained fake-quant ranges win; calibration covers the layers QAT did not annotate.
        converter.representative_dataset = _representative(np.asarray(representative_data)[:config.num_calibration],
                                                           dtypes)
    if mode in INTEGER_IO:
        builtins = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if all(d.is_floating for d in dtypes):
            converter.inference_input_type = INTEGER_IO[mode]
        converter.inference_output_type = INTEGER_IO[mode]
    if mode == "int8_per_tensor":
        # The converter's only switch for it is private (TF 2.21 has no public per-tensor option).
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    if mode == "int16x8":
        builtins = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    converter.target_spec.supported_ops = builtins + ([tf.lite.OpsSet.SELECT_TF_OPS] if config.allow_flex else [])


def _first_error(message):
    """The converter's one useful line out of an MLIR dump that can run to hundreds of lines."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    for line in lines:
        if "error:" in line:
            return line.split("error:", 1)[1].strip()[:300]
    return (lines[0] if lines else "conversion failed")[:300]


def int8_lost_ops(source, representative_data, num_calibration=100, allow_flex=False):
    """(op kinds XNNPACK takes in ``source``'s float32 graph but not in its int8 one, the int8 flatbuffer)."""
    from tflite_export.inspect import delegated_ops
    full = to_tflite(source, "int8", representative_data, num_calibration, allow_flex)
    return sorted(delegated_ops(to_tflite(source, "float32", allow_flex=allow_flex)) - delegated_ops(full)), full


def int8_keeping_float(source, ops, representative_data, num_calibration=100):
    """``source`` (a Keras model) in int8 with the op kinds ``ops`` (TFLite names) kept float32, through the
    converter's selective quantisation."""
    converter, dtypes, _ = _source_converter(source)
    _configure(converter, ConvertConfig(mode="int8", num_calibration=num_calibration), dtypes, representative_data,
               qat=False)
    try:
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(ops)),
            debug_dataset=_representative(np.asarray(representative_data)[:num_calibration], dtypes))
        return debugger.get_nondebug_quantized_model()
    except Exception as e:  # the converter's errors, as in to_tflite
        raise UserError(f"cannot convert to int8 with {', '.join(ops)} kept float32: {_first_error(e)}") from None


def _int8_mixed(source, representative_data, num_calibration, allow_flex):
    """``int8`` with the op kinds that leave XNNPACK in int8 kept in float32 (module docstring)."""
    lost, full = int8_lost_ops(source, representative_data, num_calibration, allow_flex)
    return int8_keeping_float(source, lost, representative_data, num_calibration) if lost else full


def to_tflite(source, mode="float32", representative_data=None, num_calibration=100, allow_flex=False,
              unroll_rnn=False, size_first=False):
    """Returns the .tflite flatbuffer bytes of ``source`` (a tf_keras model, QAT model or SavedModel folder).

    ``representative_data`` is an array of real inputs, needed by the calibrated modes except for QAT models,
    whose ranges were learned in training; the int4 modes need none.
    """
    config = ConvertConfig(mode=mode, num_calibration=num_calibration, allow_flex=allow_flex, unroll_rnn=unroll_rnn,
                           size_first=size_first)
    if mode in AEQ_MODES:
        _check_mode_for_source(source, mode)
        from tflite_export.aeq import quantize_flatbuffer
        return quantize_flatbuffer(to_tflite(source, "float32", allow_flex=allow_flex,
                                             unroll_rnn=unrolled(mode, unroll_rnn)), mode, size_first)
    if unroll_rnn and isinstance(source, tf_keras.Model):
        source = unroll_recurrent(source)
    _check_mode_for_source(source, mode, unrolled=unroll_rnn)
    if mode == "int8_mixed":
        return _int8_mixed(source, representative_data, num_calibration, allow_flex)
    converter, dtypes, what = _source_converter(source)
    qat = isinstance(source, tf_keras.Model) and is_qat_model(source)
    _configure(converter, config, dtypes, representative_data, qat)
    try:
        return converter.convert()
    except Exception as e:  # the converter raises ConverterError, RuntimeError or ValueError with MLIR dumps
        text = str(e)
        if not allow_flex and any(k in text.lower() for k in ("flex op", "select tf", "select_tf_ops")):
            raise UserError(f"{what} needs TensorFlow (Flex) ops that stock TFLite runtimes lack: "
                            f"{_first_error(text)}; fix the model (e.g. a fixed batch size for RNNs) or pass "
                            "allow_flex/--allow_flex and ship the Flex delegate") from None
        raise UserError(f"cannot convert {what} to TFLite {mode}: {_first_error(text)}") from None
