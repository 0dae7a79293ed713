import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf_keras
from keras_ssl.base.metrics import gzip_bytes
from keras_ssl.compress.cluster import ClusterConfig, cluster_report, cluster_weights
from keras_ssl.compress.prune import PruneConfig, prune_magnitude
from keras_ssl.data.masking import mlm_dataset
from keras_ssl.models.bilstm_mlm import build_mlm
from keras_ssl.training.fit import classification_dataset, classifier_accuracy, compile_for_logits
from tflite_export.convert import to_tflite

CLASSIFIER_KERNELS = ("encoder_conv0", "encoder_conv1", "logits")


def _unique(weight):
    return np.unique(weight.numpy()).size


@pytest.fixture(scope="module")
def clustered_classifier(trained_classifier, digits8):
    ds = classification_dataset(digits8.x_train, digits8.y_train, 128)
    return cluster_weights(trained_classifier, ds, ClusterConfig(number_of_clusters=8, epochs=2, learning_rate=1e-4),
                           lambda m: compile_for_logits(m, 1e-4))


def test_classifier_kernels_keep_at_most_the_cluster_count(clustered_classifier, trained_classifier, digits8):
    for name in CLASSIFIER_KERNELS:
        assert _unique(trained_classifier.get_layer(name).kernel) > 60, "trained kernels have many values"
        assert _unique(clustered_classifier.get_layer(name).kernel) <= 8, name
    rows = cluster_report(clustered_classifier, ClusterConfig(number_of_clusters=8))
    assert {row["layer"] for row in rows} == set(CLASSIFIER_KERNELS)
    assert not any("cluster" in layer.name for layer in clustered_classifier.layers), "wrappers are stripped"
    before = classifier_accuracy(trained_classifier, digits8.x_test, digits8.y_test)
    after = classifier_accuracy(clustered_classifier, digits8.x_test, digits8.y_test)
    print(f"8-cluster classifier accuracy {before:.3f} -> {after:.3f}")
    assert after > before - 0.1, f"8 clusters cost {before:.3f} -> {after:.3f}"


def test_mlm_embedding_bilstm_and_dense_are_clustered(tiny_mlm_config, token_sequences):
    mlm = build_mlm(tiny_mlm_config)
    ds = mlm_dataset(token_sequences, 50, batch_size=64)
    config = ClusterConfig(number_of_clusters=6, epochs=1, per_layer={"token_logits": 0})
    clustered = cluster_weights(mlm, ds, config, lambda m: compile_for_logits(m, 1e-3, sparse_weighted=True))
    assert _unique(clustered.get_layer("embedding").embeddings) <= 6
    bilstm = clustered.get_layer("bilstm")
    assert type(bilstm) is tf_keras.layers.Bidirectional
    for direction in (bilstm.forward_layer, bilstm.backward_layer):
        assert _unique(direction.cell.kernel) <= 6
        assert _unique(direction.cell.recurrent_kernel) <= 6
        assert _unique(direction.cell.bias) > 6, "biases are not clustered"
    assert _unique(clustered.get_layer("token_logits").kernel) > 100, "per-layer 0 leaves the head unclustered"


def test_sparsity_preserving_clustering_keeps_the_zeros(trained_classifier, digits8):
    ds = classification_dataset(digits8.x_train, digits8.y_train, 128)
    compile_fn = lambda m: compile_for_logits(m, 1e-3)  # noqa: E731
    pruned = prune_magnitude(trained_classifier, ds, PruneConfig(target_sparsity=0.5, schedule="constant", epochs=1),
                             compile_fn)
    clustered = cluster_weights(pruned, ds, ClusterConfig(number_of_clusters=8, epochs=2, preserve_sparsity=True,
                                                          learning_rate=1e-3), compile_fn)
    for name in ("encoder_conv1", "logits"):
        zeros = pruned.get_layer(name).kernel.numpy() == 0
        kernel = clustered.get_layer(name).kernel.numpy()
        assert zeros.mean() >= 0.49
        assert np.all(kernel[zeros] == 0), f"{name}: pruned zeros stay zero"
        assert _unique(clustered.get_layer(name).kernel) <= 8


def test_clustered_int8_tflite_gzips_smaller(clustered_classifier, trained_classifier, digits8):
    calibration = digits8.x_train[:100]
    plain = gzip_bytes(to_tflite(trained_classifier, "int8", representative_data=calibration))
    clustered = gzip_bytes(to_tflite(clustered_classifier, "int8", representative_data=calibration))
    print(f"gzip int8 tflite: unclustered {plain} B, clustered {clustered} B")
    assert clustered < plain * 0.9, (plain, clustered)


def test_bad_cluster_configs(trained_classifier, digits8):
    for clusters in (1, 0, -3, 2.5, True):
        with pytest.raises(UserError, match="number_of_clusters"):
            ClusterConfig(number_of_clusters=clusters)
    with pytest.raises(UserError, match="centroid_init"):
        ClusterConfig(centroid_init="median")
    with pytest.raises(UserError, match="logits"):
        ClusterConfig(per_layer={"logits": 1})
    with pytest.raises(UserError):
        ClusterConfig(epochs=0)
    ds = classification_dataset(digits8.x_train[:64], digits8.y_train[:64], 64)
    with pytest.raises(UserError, match="encoder_conv0"):  # lists the valid layer names
        cluster_weights(trained_classifier, ds, ClusterConfig(per_layer={"nope": 4}, epochs=1),
                        lambda m: compile_for_logits(m, 1e-3))
    with pytest.raises(UserError, match="flatten"):
        cluster_weights(trained_classifier, ds, ClusterConfig(per_layer={"flatten": 4}, epochs=1),
                        lambda m: compile_for_logits(m, 1e-3))
