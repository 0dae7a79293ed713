import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf_keras
from keras_ssl.models.bilstm_mlm import MLMConfig, build_mlm
from keras_ssl.models.classifier import build_classifier, load_encoder_weights, set_encoder_trainable
from keras_ssl.models.conv_autoencoder import AutoencoderConfig, build_autoencoder


def _roundtrip(model, x, tmp_path):
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    loaded = tf_keras.models.load_model(path)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    return loaded


def test_autoencoder_shapes_and_roundtrip(tmp_path):
    ae = build_autoencoder(AutoencoderConfig(image_size=16, widths=(4, 8)))
    x = np.random.default_rng(0).random((3, 16, 16, 1), dtype=np.float32)
    out = ae.predict(x, verbose=0)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    _roundtrip(ae, x, tmp_path)


def test_classifier_is_flat_and_takes_encoder_weights(tmp_path, tiny_classifier_config):
    ae = build_autoencoder(tiny_classifier_config.encoder)
    clf = build_classifier(tiny_classifier_config)
    assert not any(isinstance(layer, tf_keras.Model) for layer in clf.layers), "flat: no nested Model"
    copied = load_encoder_weights(clf, ae)
    assert copied == ["encoder_conv0", "encoder_pool0", "encoder_conv1", "encoder_pool1"]
    for name in copied:
        for a, b in zip(clf.get_layer(name).get_weights(), ae.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
    set_encoder_trainable(clf, False)
    assert len(clf.trainable_weights) == 2  # only the logits layer's kernel and bias
    x = np.random.default_rng(0).random((3, 8, 8, 1), dtype=np.float32)
    assert clf.predict(x, verbose=0).shape == (3, 10)
    _roundtrip(clf, x, tmp_path)


def test_mlm_shapes_and_roundtrip(tmp_path, tiny_mlm_config):
    mlm = build_mlm(tiny_mlm_config)
    assert any(isinstance(layer, tf_keras.layers.Bidirectional) for layer in mlm.layers)
    x = np.random.default_rng(0).integers(0, 50, (2, 8)).astype(np.int32)
    assert mlm.predict(x, verbose=0).shape == (2, 8, 50)
    _roundtrip(mlm, x, tmp_path)


@pytest.mark.parametrize("make", [
    lambda: AutoencoderConfig(image_size=10, widths=(4, 8)),
    lambda: AutoencoderConfig(widths=()),
    lambda: MLMConfig(lstm_units=0),
])
def test_invalid_model_configs_are_refused(make):
    with pytest.raises(UserError):
        make()
