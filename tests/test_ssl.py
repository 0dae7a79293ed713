import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.models.bilstm_mlm import build_mlm
from keras_ssl.models.classifier import build_classifier, load_encoder_weights
from keras_ssl.models.conv_autoencoder import build_autoencoder
from keras_ssl.ssl.finetune import label_fraction_study, make_classifier, train_classifier
from keras_ssl.ssl.pretrain import pretrain_autoencoder, pretrain_mlm
from keras_ssl.training.fit import TrainConfig, classification_dataset


def test_autoencoder_pretraining_reduces_reconstruction_error(digits8, tiny_classifier_config, quiet_train):
    ae = build_autoencoder(tiny_classifier_config.encoder)
    history = pretrain_autoencoder(ae, digits8.x_train, quiet_train)
    assert history["loss"][-1] < 0.7 * history["loss"][0]


def test_linear_probe_trains_only_the_head(digits8, tiny_classifier_config):
    ae = build_autoencoder(tiny_classifier_config.encoder)
    probe = make_classifier("linear_probe", tiny_classifier_config, ae, seed=0)
    before = [w.copy() for w in probe.get_layer("encoder_conv0").get_weights()]
    head_before = probe.get_layer("logits").get_weights()[0].copy()
    train_classifier(probe, digits8.x_train[:128], digits8.y_train[:128], TrainConfig(epochs=1, verbose=0))
    for a, b in zip(before, probe.get_layer("encoder_conv0").get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(head_before, probe.get_layer("logits").get_weights()[0])


def test_cosine_schedule_decays_the_rate_over_the_fit(digits8, tiny_classifier_config):
    model = build_classifier(tiny_classifier_config)
    config = TrainConfig(epochs=2, batch_size=64, learning_rate=1e-3, lr_schedule="cosine", verbose=0)
    train_classifier(model, digits8.x_train[:128], digits8.y_train[:128], config)
    assert int(model.optimizer.iterations) == 4 and float(model.optimizer.learning_rate) < 2e-4
    with pytest.raises(UserError, match="unknown lr_schedule 'linear'"):
        TrainConfig(lr_schedule="linear")


def test_min_steps_gives_tiny_label_sets_enough_training():
    config = TrainConfig(epochs=5, batch_size=64, min_steps=100)
    assert config.schedule_for(14) == (5, 20)  # 1 step per pass: 20 passes in each of the 5 epochs
    assert config.schedule_for(6400) == (5, 1)
    # An epoch of 3 passes holds every example 3 times, each pass in its own order, and the next epoch differs.
    x, y = np.arange(14, dtype=np.float32)[:, None], np.arange(14)
    ds = classification_dataset(x, y, batch_size=8, seed=0, passes=3)
    assert ds.cardinality().numpy() == 6
    first = np.concatenate([batch_y.numpy() for _, batch_y in ds])
    second = np.concatenate([batch_y.numpy() for _, batch_y in ds])
    passes = first.reshape(3, 14)
    assert all(sorted(p) == list(range(14)) for p in passes) and len({tuple(p) for p in passes}) == 3
    assert sorted(second) == sorted(first) and not np.array_equal(first, second)


def test_label_fraction_study_reports_every_method(digits8, tiny_classifier_config):
    ae = build_autoencoder(tiny_classifier_config.encoder)
    rows, models = label_fraction_study(digits8, ae, tiny_classifier_config, TrainConfig(epochs=1, verbose=0),
                                        fractions=(0.1, 1.0))
    assert [(r["label_fraction"], r["method"]) for r in rows] == [
        (0.1, "scratch"), (0.1, "linear_probe"), (0.1, "finetune"),
        (1.0, "scratch"), (1.0, "linear_probe"), (1.0, "finetune")]
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in rows)
    assert rows[0]["num_labels"] < rows[3]["num_labels"] == len(digits8.y_train)
    assert (1.0, "finetune") in models


def test_fine_tuned_classifier_learns_digits(trained_classifier, digits8):
    acc = np.mean(np.argmax(trained_classifier.predict(digits8.x_test, verbose=0), -1) == digits8.y_test)
    assert acc > 0.85


def test_mlm_pretraining_learns_a_predictable_corpus(tiny_mlm_config):
    # Every sequence is the same cycle of 8 words: after training, masked words are predictable from context.
    seqs = np.tile(np.arange(3, 11, dtype=np.int32), (512, 1))
    mlm = build_mlm(tiny_mlm_config)
    history = pretrain_mlm(mlm, seqs, 50, TrainConfig(epochs=8, batch_size=32, learning_rate=1e-2, verbose=0))
    assert history["accuracy"][-1] > 0.9


def test_pretrained_encoder_is_used_by_classifier(tiny_classifier_config):
    ae = build_autoencoder(tiny_classifier_config.encoder)
    clf = build_classifier(tiny_classifier_config)
    load_encoder_weights(clf, ae)
    np.testing.assert_array_equal(clf.get_layer("encoder_conv1").get_weights()[0],
                                  ae.get_layer("encoder_conv1").get_weights()[0])
