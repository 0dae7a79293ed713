"""Bring-your-own-model: nested and keras.applications models through pruning, QAT and export."""
import logging

import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf, tf_keras
from keras_ssl.base.metrics import layer_sparsity
from keras_ssl.compress.byo import flatten_nested
from keras_ssl.compress.prune import PruneConfig, make_schedule, prune_magnitude, wrap_prunable_layers
from keras_ssl.compress.quantize import QATConfig, annotate, quantize_aware
from keras_ssl.training.fit import compile_for_logits
from tflite_export.convert import to_tflite
from tflite_export.runner import TFLiteModel

L = tf_keras.layers


def _nested_model():
    """A user's model: a Sequential encoder inside a functional backbone inside a functional classifier."""
    encoder = tf_keras.Sequential([L.Input((8, 8, 1)), L.Conv2D(8, 3, activation="relu", name="conv"),
                                   L.Flatten(name="flat")], name="encoder")
    features = L.Input((8, 8, 1))
    backbone = tf_keras.Model(features, L.Dense(16, activation="relu", name="proj")(encoder(features)),
                              name="backbone")
    image = L.Input((8, 8, 1), name="image")
    return tf_keras.Model(image, L.Dense(10, name="logits")(backbone(image)), name="user_model")


def test_nested_models_are_flattened_with_shared_weights(digits8):
    model = _nested_model()
    flat = flatten_nested(model)
    assert isinstance(model.get_layer("backbone").get_layer("encoder"), tf_keras.Sequential)
    assert [layer.name for layer in flat.layers] == ["image", "conv", "flat", "proj", "logits"]
    np.testing.assert_allclose(flat(digits8.x_test[:4]), model(digits8.x_test[:4]), atol=1e-6)
    assert flat.get_layer("conv") is model.get_layer("backbone").get_layer("encoder").get_layer("conv")


def test_nested_model_prunes_and_trains_with_qat(digits8):
    model = _nested_model()
    data = tf.data.Dataset.from_tensor_slices((digits8.x_train[:256], digits8.y_train[:256])).batch(64)
    pruned = prune_magnitude(model, data, PruneConfig(target_sparsity=0.5, epochs=2),
                             lambda m: compile_for_logits(m, 1e-3))
    assert set(layer_sparsity(pruned)) >= {"conv/kernel:0", "proj/kernel:0", "logits/kernel:0"}
    assert min(layer_sparsity(pruned).values()) >= 0.49
    qat = quantize_aware(model, data, QATConfig(epochs=1), lambda m: compile_for_logits(m, 1e-4))
    assert {"quant_conv", "quant_proj", "quant_logits"} <= {layer.name for layer in qat.layers}


def test_subclassed_models_are_refused_with_what_to_do():
    class Custom(tf_keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(2)

        def call(self, x):
            return self.dense(x)

    model = Custom()
    model(np.zeros((1, 3), np.float32))
    with pytest.raises(UserError, match="subclassed Keras model.*functional API"):
        flatten_nested(model)


@pytest.fixture(scope="module")
def mobilenet_v3():
    return tf_keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None, classes=10,
                                                  include_preprocessing=False)


def test_application_layers_tfmot_cannot_wrap_are_skipped_by_name(mobilenet_v3, caplog):
    schedule = make_schedule(PruneConfig(), total_steps=10)
    with caplog.at_level(logging.WARNING):
        wrapped = wrap_prunable_layers(mobilenet_v3, schedule)
    assert "not pruned" in caplog.text and "TFOpLambda (tf.__operators__.add" in caplog.text
    kinds = {type(layer).__name__ for layer in wrapped.layers}
    assert "PruneLowMagnitude" in kinds and "TFOpLambda" in kinds


def test_applications_export_to_validated_tflite(mobilenet_v3):
    """MobileNetV3 here; MobileNetV2's int8 export (pruned, fully in XNNPACK) is tests/test_mobilenet.py's."""
    x = np.random.default_rng(0).random((8, 32, 32, 3)).astype(np.float32)
    for model in (mobilenet_v3,):
        expected = model.predict(x, verbose=0)
        float32 = TFLiteModel(model_content=to_tflite(model, "float32"))
        np.testing.assert_allclose(float32.predict(x), expected, atol=1e-4)
        int8 = TFLiteModel(model_content=to_tflite(model, "int8", representative_data=x))
        assert "int8" in int8.tensor_dtypes() and int8.predict(x).shape == expected.shape


def test_qat_reports_unsupported_application_layers(mobilenet_v3, caplog):
    with caplog.at_level(logging.WARNING):
        qat = annotate(mobilenet_v3, QATConfig())
    assert "QAT has no config for" in caplog.text and "Multiply" in caplog.text
    assert any(type(layer).__name__.startswith("QuantizeWrapper") for layer in qat.layers)
