"""Shared tiny fixtures: models small enough that the whole suite runs in a few minutes on 2 cores."""
import numpy as np
import pytest

from keras_ssl.data.images import load_digits
from keras_ssl.models.bilstm_mlm import MLMConfig
from keras_ssl.models.classifier import ClassifierConfig
from keras_ssl.models.conv_autoencoder import AutoencoderConfig
from keras_ssl.training.fit import TrainConfig


@pytest.fixture(scope="session")
def digits8():
    """Digits at their native 8x8: the cheapest real image data."""
    return load_digits(image_size=8, seed=0)


@pytest.fixture(scope="session")
def tiny_classifier_config():
    return ClassifierConfig(encoder=AutoencoderConfig(image_size=8, widths=(8, 32)), dropout=0.0)


@pytest.fixture(scope="session")
def tiny_mlm_config():
    return MLMConfig(vocab_size=50, seq_len=8, embedding_dim=8, lstm_units=8, dropout=0.0)


@pytest.fixture(scope="session")
def quiet_train():
    return TrainConfig(epochs=3, batch_size=64, verbose=0)


@pytest.fixture(scope="session")
def trained_classifier(digits8, tiny_classifier_config):
    """A tiny digits classifier trained enough (~90%) that quantisation errors would show in accuracy."""
    from keras_ssl.base.keras import tf_keras
    from keras_ssl.models.classifier import build_classifier
    from keras_ssl.ssl.finetune import train_classifier

    tf_keras.utils.set_random_seed(0)
    model = build_classifier(tiny_classifier_config)
    train_classifier(model, digits8.x_train, digits8.y_train, TrainConfig(epochs=25, verbose=0))
    return model


@pytest.fixture(scope="session")
def token_sequences():
    rng = np.random.default_rng(0)
    return rng.integers(3, 50, size=(256, 8)).astype(np.int32)


# The modules holding the longest tests (--durations on 2 busy cores), the module with the longest test first, run
# before the others.  make test's worksteal scheduling hands each worker half of the collected order and lets an idle
# worker take the tail of the other's queue: with the long tests first, the run does not end with one worker still in
# a minutes-long test while the other has nothing left.  Each module's tests stay together and in their order, so a
# module-scoped fixture is not set up again between them.
LONGEST_FIRST = (
    "tests/test_pipeline.py", "tests/test_fault_tolerance.py", "tests/test_distribute.py", "tests/test_notebooks.py",
    "tests/test_determinism.py", "tests/test_streaming.py", "tests/test_distill.py", "tests/test_search_study.py",
    "tests/test_recipes.py", "tests/test_export_job.py", "studies/model_parallel/test_model_parallel.py",
    "studies/label_study/test_label_study.py", "tests/test_mobilenet.py", "tests/test_api.py",
    "tests/test_self_training.py", "tests/test_preserve_qat.py", "tests/test_transformer.py",
)


def pytest_collection_modifyitems(items):
    def rank(item):
        path = item.nodeid.split("::")[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the collected order otherwise
