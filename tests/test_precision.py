"""Mixed-precision training, float32 export: policies apply at build time and ``as_float32`` undoes them exactly.

Tolerances (mixed model vs its float32 copy, max abs difference relative to the largest |logit|) were measured on
the tiny classifier and MLM over 4 seeds, after 2 and after 40 train steps: float16 <= 1.0e-3, bfloat16 <= 9e-3
(bfloat16 keeps only 8 mantissa bits).  The bounds below leave ~5x and ~3x headroom.
"""
import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf_keras
from keras_ssl.models.bilstm_mlm import build_mlm
from keras_ssl.models.classifier import build_classifier
from keras_ssl.training.fit import compile_for_logits
from keras_ssl.training.precision import PRECISIONS, as_float32, is_mixed, precision_policy
from tflite_export.convert import to_tflite
from tflite_export.runner import TFLiteModel

COMPUTE = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}
RELATIVE_TOLERANCE = {"mixed_float16": 5e-3, "mixed_bfloat16": 3e-2}
MIXED = list(COMPUTE)


def _train_mixed(policy, build, x, y, sparse_weighted=False, steps=2):
    """Builds and trains inside the policy (layers take the policy at creation); returns model and losses."""
    tf_keras.utils.set_random_seed(0)
    with precision_policy(policy):
        model = build()
        compile_for_logits(model, 1e-3, sparse_weighted=sparse_weighted)
        losses = [float(model.train_on_batch(x[:32], y[:32])[0]) for _ in range(steps)]
    return model, losses


def _float_layers(model):
    return {layer.name: layer.compute_dtype for layer in model.submodules
            if isinstance(layer, tf_keras.layers.Layer) and not isinstance(layer, tf_keras.layers.InputLayer)}


def _assert_close_to_float32_copy(mixed, copy, x, policy):
    expected = copy(x, training=False).numpy()
    got = mixed(x, training=False).numpy()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=RELATIVE_TOLERANCE[policy] * np.abs(expected).max())


@pytest.mark.parametrize("policy", MIXED)
def test_mixed_classifier_trains_and_exports_as_float32(policy, digits8, tiny_classifier_config):
    model, losses = _train_mixed(policy, lambda: build_classifier(tiny_classifier_config),
                                 digits8.x_train, digits8.y_train)
    assert tf_keras.mixed_precision.global_policy().name == "float32"
    assert model.get_layer("encoder_conv0").compute_dtype == COMPUTE[policy]
    assert model.get_layer("encoder_conv0").variable_dtype == "float32"
    assert model.get_layer("logits").compute_dtype == "float32" and model.output.dtype == "float32"
    assert isinstance(model.optimizer, tf_keras.mixed_precision.LossScaleOptimizer) == (policy == "mixed_float16")
    assert np.all(np.isfinite(losses)) and is_mixed(model)

    copy = as_float32(model)
    assert not is_mixed(copy) and set(_float_layers(copy).values()) == {"float32"}
    assert copy.name == model.name and copy.input_names == model.input_names
    x = digits8.x_test[:16]
    _assert_close_to_float32_copy(model, copy, x, policy)

    lite = TFLiteModel(model_content=to_tflite(copy, "float32"))
    np.testing.assert_allclose(lite.predict(x), copy(x, training=False).numpy(), rtol=0, atol=1e-4)


@pytest.mark.parametrize("policy", MIXED)
def test_mixed_mlm_trains_and_rebuilds_nested_lstm_as_float32(policy, tiny_mlm_config, token_sequences):
    """The Bidirectional's inner LSTMs carry their own policy in a nested config; they must be rebuilt too.

    TFLite conversion of the MLM (~7 s) is left to the classifier test: the copy is a plain float32 build_mlm model.
    """
    model, losses = _train_mixed(policy, lambda: build_mlm(tiny_mlm_config), token_sequences, token_sequences,
                                 sparse_weighted=True)
    assert model.get_layer("bilstm").forward_layer.compute_dtype == COMPUTE[policy]
    assert model.get_layer("token_logits").compute_dtype == "float32"
    assert np.all(np.isfinite(losses))

    copy = as_float32(model)
    assert copy.get_layer("token_ids").dtype == "int32", "the int input must not become float32"
    bilstm = copy.get_layer("bilstm")
    assert bilstm.forward_layer.compute_dtype == bilstm.backward_layer.compute_dtype == "float32"
    assert set(_float_layers(copy).values()) == {"float32"}
    _assert_close_to_float32_copy(model, copy, token_sequences[:16], policy)


def test_float32_model_is_returned_unchanged(tiny_classifier_config):
    model = build_classifier(tiny_classifier_config)
    assert not is_mixed(model) and as_float32(model) is model


def test_policy_is_restored_even_after_an_error():
    before = tf_keras.mixed_precision.global_policy().name
    with pytest.raises(RuntimeError, match="boom"):
        with precision_policy("mixed_bfloat16"):
            assert tf_keras.mixed_precision.global_policy().name == "mixed_bfloat16"
            raise RuntimeError("boom")
    assert tf_keras.mixed_precision.global_policy().name == before


def test_unknown_precision_is_refused():
    with pytest.raises(UserError, match="mixed_float16"):
        with precision_policy("float16"):
            pass
    assert "float32" in PRECISIONS and tf_keras.mixed_precision.global_policy().name == "float32"
