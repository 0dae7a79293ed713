"""Quantization-aware training (tfmot): fake-quant ops learn int8 ranges while the model fine-tunes.

``quantize_model`` wraps every layer and refuses models with layers it has no QAT config for (LSTM, Bidirectional)
and breaks on integer inputs (token ids).  For those models only the layer types listed in ``QATConfig.layers``
are annotated (Dense, Conv2D): they train with fake-quant; the rest (Embedding, LSTM) is quantised after training
by the converter from calibration data.  Convert the result with ``tflite_export.convert.to_tflite(model,
"int8")``; without ``optimizations=DEFAULT`` a QAT model converts to a much slower float graph (docs/export.md,
"Measurements behind the code").
"""
import dataclasses

import tensorflow_model_optimization as tfmot
from absl import logging
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import default_8bit_quantize_registry

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf_keras
from keras_ssl.compress.byo import describe_layers, flatten_nested
from keras_ssl.models.introspect import has_recurrent_layers
from keras_ssl.training.fit import FitFields, fit_callbacks

ANNOTATABLE = {"Dense": tf_keras.layers.Dense, "Conv2D": tf_keras.layers.Conv2D}


@dataclasses.dataclass
class QATConfig(FitFields):
    """Quantization-aware training settings; invalid values raise UserError.

    ``layers`` only matters for models ``quantize_model`` refuses (recurrent layers, integer inputs): just those layer
    types get fake-quant, the rest is calibrated by the converter.
    """
    epochs: int = 2
    learning_rate: float = 1e-4
    layers: tuple = ("Dense", "Conv2D")  # annotated when the whole model cannot be (recurrent / integer inputs)

    def __post_init__(self):
        if self.epochs < 1 or not self.learning_rate > 0:
            raise UserError(f"QAT needs epochs >= 1 and a positive learning rate, got {self.epochs}, "
                            f"{self.learning_rate}")
        unknown = set(self.layers) - set(ANNOTATABLE)
        if unknown:
            raise UserError(f"QAT cannot annotate {sorted(unknown)}: supported layer types are {sorted(ANNOTATABLE)}")


def unsupported_layers(model):
    """Layers tfmot's default 8-bit scheme has no QAT config for (BatchNormalization is folded, so it counts as
    supported)."""
    registry = default_8bit_quantize_registry.Default8BitQuantizeRegistry()
    folded = (tf_keras.layers.InputLayer, tf_keras.layers.BatchNormalization)
    return [layer for layer in model.layers if not isinstance(layer, folded) and not registry.supports(layer)]


def whole_model_quantizable(model):
    """Whether ``quantize_model`` can take the whole model: no RNN, float inputs only, every layer supported."""
    return (not has_recurrent_layers(model) and all(t.dtype.is_floating for t in model.inputs)
            and not unsupported_layers(model))


def annotate_layers(model, config):
    """``model`` with quantize annotations: every layer when ``quantize_model`` could take the whole model, else only
    the ``config.layers`` types (the rest is quantised after training by the converter from calibration data)."""
    model = flatten_nested(model)
    if whole_model_quantizable(model):
        return tfmot.quantization.keras.quantize_annotate_model(model)
    unsupported = unsupported_layers(model)
    if unsupported:
        logging.warning("QAT has no config for %s: training fake-quant on %s layers only; the converter quantises "
                        "the rest from calibration data", describe_layers(unsupported), "/".join(config.layers))
    kinds = tuple(ANNOTATABLE[name] for name in config.layers)
    names = [layer.name for layer in model.layers if isinstance(layer, kinds)]
    if not names:
        raise UserError(f"model {model.name!r} has no {'/'.join(config.layers)} layer to train with fake-quant")
    logging.info("QAT: annotating %s only; other layers are quantised after training", names)

    def mark(layer):
        return tfmot.quantization.keras.quantize_annotate_layer(layer) if isinstance(layer, kinds) else layer

    marked = tf_keras.models.clone_model(model, clone_function=mark)
    marked.set_weights(model.get_weights())
    return marked


def annotate(model, config, scheme=None):
    """Fake-quant wrappers (``annotate_layers``) applied with tfmot's default 8-bit scheme, or ``scheme`` (e.g. a
    collaborative one that preserves sparsity or clusters, see preserve_qat.py)."""
    scheme = scheme or tfmot.quantization.keras.default_8bit.Default8BitQuantizeScheme()
    return tfmot.quantization.keras.quantize_apply(annotate_layers(model, config), scheme)


def quantize_aware(model, dataset, config, compile_fn):
    """Fine-tunes ``model`` with fake-quant ops on ``dataset``; returns the QAT model (convert it as int8)."""
    try:
        qat = annotate(model, config)
    except (ValueError, RuntimeError, AttributeError, TypeError) as e:
        unsupported = unsupported_layers(flatten_nested(model))
        raise UserError(f"QAT cannot wrap model {model.name!r} ({str(e).strip().splitlines()[0][:120]}); layers "
                        f"without QAT support: {describe_layers(unsupported) or 'none found'}. Use post-training int8 "
                        "instead (tflite_export.convert.to_tflite(model, 'int8', calibration data)), or give "
                        "those layers a tfmot QuantizeConfig") from None
    compile_fn(qat)
    qat.fit(dataset, epochs=config.epochs, verbose=2, callbacks=fit_callbacks(config, dataset))
    return qat
