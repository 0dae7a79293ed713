import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.compress.cluster import ClusterConfig, cluster_weights
from keras_ssl.compress.preserve_qat import preserving_qat
from keras_ssl.compress.prune import PruneConfig, prune_magnitude
from keras_ssl.compress.quantize import QATConfig, quantize_aware
from keras_ssl.data.masking import mlm_dataset
from keras_ssl.models.bilstm_mlm import build_mlm
from keras_ssl.training.fit import classification_dataset, classifier_accuracy, compile_for_logits
from tflite_export.convert import to_tflite
from tflite_export.runner import TFLiteModel

KERNELS = ("encoder_conv0", "encoder_conv1", "logits")


def _compile(model):
    return compile_for_logits(model, 1e-4)


def _int8_kernels(content):
    """The weight tensors (input 1 of each CONV_2D / FULLY_CONNECTED op) of a flatbuffer, by Keras layer name."""
    interpreter = TFLiteModel(model_content=content, use_xnnpack=False).interpreter
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    found = {}
    for op in interpreter._get_ops_details():
        if op["op_name"] in ("CONV_2D", "FULLY_CONNECTED"):
            weight = details[int(op["inputs"][1])]
            layer = next(name for name in KERNELS if f"quant_{name}/" in weight["name"])
            found[layer] = interpreter.get_tensor(weight["index"])
    return found


def _qat_kernel(qat, name):
    """The float kernel variable inside a QAT wrapper (``layer.kernel`` is the fake-quantised tensor)."""
    return next(w.numpy() for w in qat.get_layer(f"quant_{name}").weights if w.name.endswith("/kernel:0"))


@pytest.fixture(scope="module")
def digits_ds(digits8):
    return classification_dataset(digits8.x_train, digits8.y_train, 128)


def test_prune_preserving_qat_keeps_the_zeros_in_the_int8_flatbuffer(trained_classifier, digits8, digits_ds):
    pruned = prune_magnitude(trained_classifier, digits_ds,
                             PruneConfig(target_sparsity=0.5, schedule="constant", epochs=2),
                             lambda m: compile_for_logits(m, 1e-3))
    pqat = preserving_qat(pruned, digits_ds, QATConfig(epochs=1), _compile, scheme="prune")
    plain = quantize_aware(pruned, digits_ds, QATConfig(epochs=1), _compile)
    for name in KERNELS:
        assert np.mean(_qat_kernel(pqat, name) == 0) >= 0.49, name
    assert np.mean(_qat_kernel(plain, name) == 0) < 0.1, "plain QAT moves the pruned weights: the check can fail"
    content = to_tflite(pqat, "int8")
    kernels = _int8_kernels(content)
    assert set(kernels) == set(KERNELS)
    for name, kernel in kernels.items():
        assert kernel.dtype == np.int8
        assert np.mean(kernel == 0) >= 0.49, f"{name}: {np.mean(kernel == 0):.3f} zeros in the flatbuffer"
    accuracy = classifier_accuracy(pqat, digits8.x_test, digits8.y_test)
    print("PQAT int8 zeros:", {name: round(float(np.mean(k == 0)), 3) for name, k in kernels.items()},
          f"plain QAT logits zeros {np.mean(_qat_kernel(plain, 'logits') == 0):.3f}, accuracy {accuracy:.3f}")
    assert accuracy > 0.6, f"PQAT classifier accuracy {accuracy:.3f}"


def test_cluster_preserving_qat_keeps_the_clusters(trained_classifier, digits_ds):
    clustered = cluster_weights(trained_classifier, digits_ds, ClusterConfig(number_of_clusters=8, epochs=1),
                                _compile)
    cqat = preserving_qat(clustered, digits_ds, QATConfig(epochs=1), _compile, scheme="cluster",
                          preserve_sparsity=False)
    for name in KERNELS:
        assert np.unique(_qat_kernel(cqat, name)).size <= 8, name
    assert not any("ori_weights" in w.name for w in cqat.weights), "CQAT training variables are stripped"
    kernels = _int8_kernels(to_tflite(cqat, "int8"))
    assert set(kernels) == set(KERNELS)
    for name, kernel in kernels.items():
        # Conv kernels are quantised per output channel (axis 0 in TFLite): each channel keeps <= 8 levels.
        per_channel = max(np.unique(row).size for row in kernel.reshape(kernel.shape[0], -1))
        assert per_channel <= 8, f"{name}: {per_channel} int8 levels in one channel"
    assert np.unique(kernels["logits"]).size <= 8, "the Dense kernel is quantised per tensor"


def test_preserving_qat_refuses_models_with_nothing_to_preserve(trained_classifier, digits_ds):
    with pytest.raises(UserError, match="scheme"):
        preserving_qat(trained_classifier, digits_ds, QATConfig(epochs=1), _compile, scheme="distill")
    with pytest.raises(UserError, match="prune it first"):
        preserving_qat(trained_classifier, digits_ds, QATConfig(epochs=1), _compile, scheme="prune")
    with pytest.raises(UserError, match="cluster it first"):
        preserving_qat(trained_classifier, digits_ds, QATConfig(epochs=1), _compile, scheme="cluster")


def test_prune_preserving_qat_on_the_mlm_annotates_dense_only(tiny_mlm_config, token_sequences):
    ds = mlm_dataset(token_sequences, 50, batch_size=64)
    compile_fn = lambda m: compile_for_logits(m, 1e-3, sparse_weighted=True)  # noqa: E731
    pruned = prune_magnitude(build_mlm(tiny_mlm_config), ds,
                             PruneConfig(target_sparsity=0.5, schedule="constant", epochs=1), compile_fn)
    pqat = preserving_qat(pruned, ds, QATConfig(epochs=1), compile_fn, scheme="prune")
    kinds = {layer.name: type(layer).__name__ for layer in pqat.layers}
    assert kinds["quant_token_logits"] == "QuantizeWrapperV2"
    assert kinds["embedding"] == "Embedding" and kinds["bilstm"] == "Bidirectional", "only Dense is annotated"
    assert np.mean(_qat_kernel(pqat, "token_logits") == 0) >= 0.49
