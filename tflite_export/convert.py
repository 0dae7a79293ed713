"""Keras → TFLite conversion in the modes mobile users ship.

- ``float32``: the baseline every ratio in a report is against.
- ``float16``: float16 weights (for the GPU delegate; on CPU they are dequantised at load).
- ``dynamic``: int8 weights, float activations; no calibration data needed.
- ``int8``: int8 weights and activations calibrated on representative data; float input/output, and float
  fallback for any op without an int8 kernel (the LSTM keeps int16 internals).

Models with recurrent layers are converted through a fixed batch-1 signature: a dynamic batch would need Flex
(SELECT_TF_OPS) ops that LiteRT cannot run, while batch 1 yields the fused UNIDIRECTIONAL_SEQUENCE_LSTM.
"""
import numpy as np

from keras_ssl.errors import UserError
from keras_ssl.keras import tf, tf_keras

MODES = ("float32", "float16", "dynamic", "int8")


def has_recurrent_layers(model):
    def walk(layer):
        yield layer
        for attr in ("layers", "forward_layer", "backward_layer", "layer"):
            child = getattr(layer, attr, None)
            for sub in child if isinstance(child, list) else [child] if child is not None else []:
                yield from walk(sub)
    return any(isinstance(layer, tf_keras.layers.RNN) for layer in walk(model))


def _batch1_converter(model):
    specs = [tf.TensorSpec([1] + list(t.shape[1:]), t.dtype, name=t.name.split(":")[0]) for t in model.inputs]

    @tf.function(input_signature=specs)
    def serve(*args):
        return model(args[0] if len(args) == 1 else list(args), training=False)

    return tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], model)


def to_tflite(model, mode="float32", representative_data=None, num_calibration=100):
    """Returns the .tflite flatbuffer bytes of ``model`` in ``mode``.

    ``representative_data`` is an array of real inputs (required for ``int8``); the first ``num_calibration`` are
    fed one at a time to calibrate activation ranges.
    """
    if mode not in MODES:
        raise UserError(f"unknown TFLite mode {mode!r}: use one of {MODES}")
    recurrent = has_recurrent_layers(model)
    converter = _batch1_converter(model) if recurrent else tf.lite.TFLiteConverter.from_keras_model(model)
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode == "int8":
        if representative_data is None or len(representative_data) == 0:
            raise UserError("int8 conversion needs representative data (a few hundred real inputs)")
        samples = np.asarray(representative_data)[:num_calibration]

        def representative_dataset():
            for sample in samples:
                yield [sample[None].astype(model.inputs[0].dtype.as_numpy_dtype)]

        converter.representative_dataset = representative_dataset
    return converter.convert()
