import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf_keras
from keras_ssl.data.augment import AugmentConfig
from keras_ssl.data.images import label_subset
from keras_ssl.models.classifier import ClassifierConfig, build_classifier, load_encoder_weights
from keras_ssl.models.conv_autoencoder import AutoencoderConfig
from keras_ssl.ssl.contrastive import (ContrastiveConfig, ContrastiveModel, build_contrastive, contrastive_dataset,
                                       encoder_features, nt_xent_loss, pretrain_contrastive)

ENCODER = AutoencoderConfig(image_size=8, widths=(8, 16))
CONFIG = ContrastiveConfig(epochs=20, batch_size=128, seed=0, verbose=0)


def _nt_xent_reference(z1, z2, temperature):
    """SimCLR's NT-Xent written out row by row in numpy."""
    z = np.concatenate([z1, z2]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n2, n = len(z), len(z1)
    total = 0.0
    for i in range(n2):
        sims = np.array([z[i] @ z[k] / temperature for k in range(n2)])
        positive = (i + n) % n2
        others = [k for k in range(n2) if k != i]
        total += -sims[positive] + np.log(np.sum(np.exp(sims[others])))
    return total / n2


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
def test_nt_xent_matches_numpy_reference(temperature):
    rng = np.random.default_rng(0)
    z1, z2 = rng.normal(size=(2, 6, 5)).astype(np.float32)
    got = float(nt_xent_loss(z1, z2, temperature))
    np.testing.assert_allclose(got, _nt_xent_reference(z1, z2, temperature), rtol=1e-5)


def test_aligned_views_have_lower_loss_than_random():
    rng = np.random.default_rng(1)
    aligned = np.eye(8, 16, dtype=np.float32) * 3.0  # distinct across examples, identical across views
    z1, z2 = rng.normal(size=(2, 8, 16)).astype(np.float32)
    aligned_loss = float(nt_xent_loss(aligned, aligned, 0.2))
    random_loss = float(nt_xent_loss(z1, z2, 0.2))
    # Positive at cosine 1, the 14 others orthogonal (cosine 0): log(1 + 14 exp(-1 / T)).
    np.testing.assert_allclose(aligned_loss, np.log1p(14 * np.exp(-1 / 0.2)), rtol=1e-5)
    assert aligned_loss < 0.1 < 1.0 < random_loss - aligned_loss, (aligned_loss, random_loss)


@pytest.mark.parametrize("kwargs", [dict(temperature=0.0), dict(temperature=-0.5), dict(batch_size=1),
                                    dict(projection_dim=0), dict(epochs=0), dict(learning_rate=0.0),
                                    dict(augment={"noise_stddev": 0.1})])
def test_bad_contrastive_configs(kwargs):
    with pytest.raises(UserError):
        ContrastiveConfig(**kwargs)


def test_pretraining_rejects_images_of_another_size(digits8):
    with pytest.raises(UserError):
        pretrain_contrastive(AutoencoderConfig(image_size=16, widths=(8, 16)), digits8.x_train, CONFIG)


def test_views_are_seeded_and_differ(digits8):
    views = [next(iter(contrastive_dataset(digits8.x_train, 64, AugmentConfig(), seed=3))) for _ in range(2)]
    (a1, a2), (b1, b2) = [(v1.numpy(), v2.numpy()) for v1, v2 in views]
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert a1.shape == (64, 8, 8, 1)
    assert np.abs(a1 - a2).mean() > 0.05, "the two views of a batch are different augmentations"


def test_model_saves_and_reloads_with_its_temperature(tmp_path):
    model = build_contrastive(ENCODER, ContrastiveConfig(temperature=0.3))
    model.save(tmp_path / "contrastive.keras")
    loaded = tf_keras.models.load_model(tmp_path / "contrastive.keras",
                                        custom_objects={"ContrastiveModel": ContrastiveModel})
    x = np.random.default_rng(0).random((4, 8, 8, 1)).astype(np.float32)
    assert isinstance(loaded, ContrastiveModel) and loaded.temperature == 0.3
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def _linear_probe(classifier, digits, labelled):
    """Test accuracy of a logistic regression on the classifier's frozen flattened encoder features."""
    features = tf_keras.Model(classifier.input, classifier.get_layer("flatten").output)
    train = features.predict(digits.x_train[labelled], verbose=0)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    probe.fit(train, digits.y_train[labelled])
    return probe.score(features.predict(digits.x_test, verbose=0), digits.y_test)


def test_pretraining_lowers_the_loss_and_beats_a_random_encoder_in_a_linear_probe(digits8):
    model, history = pretrain_contrastive(ENCODER, digits8.x_train, CONFIG)
    losses = history["loss"]
    assert len(losses) == CONFIG.epochs
    assert losses[-1] < losses[0] - 0.8, losses

    # The classifier takes the pretrained encoder by layer name, as it does from the autoencoder.
    pretrained = build_classifier(ClassifierConfig(encoder=ENCODER))
    assert load_encoder_weights(pretrained, model) == ["encoder_conv0", "encoder_pool0", "encoder_conv1",
                                                       "encoder_pool1"]
    np.testing.assert_allclose(
        tf_keras.Model(pretrained.input, pretrained.get_layer("flatten").output).predict(digits8.x_test, verbose=0),
        encoder_features(model, digits8.x_test), atol=1e-5)

    # Baseline: the very same initial weights (same seed), before any pretraining.
    tf_keras.utils.set_random_seed(CONFIG.seed)
    untrained = build_contrastive(ENCODER, CONFIG)
    random_encoder = build_classifier(ClassifierConfig(encoder=ENCODER))
    load_encoder_weights(random_encoder, untrained)

    labelled = label_subset(digits8.y_train, 0.1, seed=0)  # the label-scarce setting pretraining is for
    pretrained_acc = _linear_probe(pretrained, digits8, labelled)
    random_acc = _linear_probe(random_encoder, digits8, labelled)
    print(f"linear probe on 10% labels: contrastive {pretrained_acc:.3f}, random encoder {random_acc:.3f}; "
          f"loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    assert pretrained_acc > random_acc + 0.02, (pretrained_acc, random_acc)
