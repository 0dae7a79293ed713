"""The transformer MLM and tiny ViT: shapes, save/load, training, pruning, int8 TFLite and distillation, all tiny."""
import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf_keras
from keras_ssl.base.metrics import count_params
from keras_ssl.compress.distill import DistillConfig, distillation_metrics
from keras_ssl.compress.prune import PruneConfig
from keras_ssl.data.masking import fixed_masked_set, mlm_dataset
from keras_ssl.models.transformer import (TransformerConfig, ViTConfig, attention_layer_names, build_transformer_mlm,
                                          build_vit)
from keras_ssl.ssl.pretrain import pretrain_mlm
from keras_ssl.training.fit import (TrainConfig, classification_dataset, classifier_accuracy, compile_for_logits,
                                    masked_token_accuracy)
from studies.transformer_compress.transformer_compress import (constant_tensors, distill_transformer, int8_tflite,
                                                               kernel_sparsity, mlm_int8_report, prune_transformer,
                                                               tflite_predict)
from tflite_export.convert import to_tflite
from tflite_export.inspect import delegated_ops
from tflite_export.runner import TFLiteModel

VOCAB, SEQ_LEN = 50, 8
TINY = TransformerConfig(vocab_size=VOCAB, seq_len=SEQ_LEN, dim=16, heads=2, mlp_dim=32, layers=1, dropout=0.0)
CHANCE = 1.0 / (VOCAB - 3)  # masked positions hold real tokens only (ids 3..49)


def _counting(n, rng):
    """Runs of consecutive ids from a random start: a masked token is its left neighbour + 1 (right one - 1)."""
    start = rng.integers(3, VOCAB - SEQ_LEN + 1, size=(n, 1))
    return (start + np.arange(SEQ_LEN)).astype(np.int32)


@pytest.fixture(scope="module")
def counting():
    """(train, held-out masked set): 512 training windows, 256 held-out ones masked once with a fixed seed."""
    rng = np.random.default_rng(0)
    train, test = _counting(512, rng), _counting(256, rng)
    return train, fixed_masked_set(test, VOCAB, seed=1)


@pytest.fixture(scope="module")
def trained_mlm(counting):
    """The tiny MLM after 20 epochs of ``pretrain_mlm`` (~5 s), with its history; tests must not mutate it."""
    tf_keras.utils.set_random_seed(0)
    model = build_transformer_mlm(TINY)
    history = pretrain_mlm(model, counting[0], VOCAB, TrainConfig(epochs=20, batch_size=32, learning_rate=3e-3,
                                                                  verbose=0))
    return model, history


def _accuracy(model, masked_set):
    inputs, labels, weights = masked_set
    return masked_token_accuracy(model.predict(inputs, verbose=0), labels, weights)


def test_mlm_contract_and_keras_round_trip(trained_mlm, counting, tmp_path):
    model, _ = trained_mlm
    assert model.input_names == ["token_ids"] and model.inputs[0].dtype == "int32"
    assert model.outputs[0].shape.as_list() == [None, SEQ_LEN, VOCAB] and model.outputs[0].dtype == "float32"
    assert not any(isinstance(layer, tf_keras.Model) for layer in model.layers), "flat: tfmot wraps every layer"
    assert attention_layer_names(model) == ["block0_attention"]
    path = str(tmp_path / "mlm.keras")
    model.save(path)
    loaded = tf_keras.models.load_model(path)
    inputs = counting[1][0][:16]
    np.testing.assert_allclose(loaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0), atol=1e-5)
    assert count_params(loaded) == count_params(model)


def test_mlm_learns_with_pretrain_mlm(trained_mlm, counting):
    model, history = trained_mlm
    accuracy = _accuracy(model, counting[1])
    print(f"MLM loss {history['loss'][0]:.3f} -> {history['loss'][-1]:.3f}, held-out masked accuracy {accuracy:.3f}")
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert accuracy > 10 * CHANCE, "masked tokens are predicted from their neighbours"


def test_pruning_reaches_the_target_in_attention_and_mlp_kernels(trained_mlm, counting):
    model, _ = trained_mlm
    before = _accuracy(model, counting[1])
    ds = mlm_dataset(counting[0], VOCAB, batch_size=32)
    pruned = prune_transformer(model, ds, PruneConfig(target_sparsity=0.6, epochs=3, learning_rate=1e-3),
                               lambda m: compile_for_logits(m, 1e-3, sparse_weighted=True))
    sparsity = kernel_sparsity(pruned)
    print("kernel sparsity:", {name: round(value, 3) for name, value in sparsity.items()})
    assert len(sparsity) == 6, "query, key, value, output and the two MLP kernels"
    assert all(value >= 0.59 for value in sparsity.values()), sparsity
    attention = pruned.get_layer("block0_attention")
    assert type(attention) is tf_keras.layers.MultiHeadAttention, "plain Keras after stripping"
    assert np.mean(attention._query_dense.bias.numpy() == 0) < 0.5, "biases stay dense"
    assert max(kernel_sparsity(model).values()) < 0.05, "the input model is left untouched"
    after = _accuracy(pruned, counting[1])
    print(f"masked accuracy dense {before:.3f}, 60% pruned {after:.3f}")
    assert after > 10 * CHANCE


def test_int8_tflite_keeps_masked_token_accuracy(trained_mlm, counting):
    model, _ = trained_mlm
    report = mlm_int8_report(model, counting[1], representative_data=counting[0])
    print({k: round(v, 4) if isinstance(v, float) else v for k, v in report.items() if k != "int8_flatbuffer"})
    weights = {name: dtype for name, dtype, shape in constant_tensors(report["int8_flatbuffer"]) if len(shape) >= 2}
    for kernel in ("attention/query", "attention/key", "attention/value", "attention/attention_output",
                   "mlp_hidden", "mlp_output", "token_logits", "embedding"):
        matches = [dtype for name, dtype in weights.items() if kernel in name]
        assert matches and set(matches) == {"int8"}, f"{kernel}: {matches}"
    assert abs(report["float32_accuracy"] - report["keras_accuracy"]) < 0.01, "float32 TFLite matches Keras"
    assert abs(report["accuracy_drop_points"]) < 5.0, "int8 within a few points of Keras"
    assert report["weight_ratio"] < 0.4, "int8 stores weights in about a quarter of the float32 bytes"
    assert report["size_ratio"] < 1.0


def test_int8_mixed_keeps_attention_and_layernorm_in_float_and_in_xnnpack(trained_mlm, counting):
    model, _ = trained_mlm
    calibration, (inputs, labels, weights) = counting[0], counting[1]
    full, float32 = to_tflite(model, "int8", calibration), to_tflite(model, "float32")
    mixed = to_tflite(model, "int8_mixed", calibration)
    lost = delegated_ops(float32) - delegated_ops(full)  # what XNNPACK runs in float32 but not in int8
    assert {"BATCH_MATMUL", "SOFTMAX"} <= set(lost)
    assert not delegated_ops(float32) - delegated_ops(mixed), "int8_mixed leaves no float32-delegated op behind"
    dtypes = {name: dtype for name, dtype, shape in constant_tensors(mixed) if len(shape) >= 2}
    assert [d for name, d in dtypes.items() if "mlp_hidden" in name] == ["int8"], "the matrices stay int8"
    accuracy = masked_token_accuracy(TFLiteModel(model_content=mixed).predict(inputs), labels, weights)
    assert abs(accuracy - _accuracy(model, counting[1])) < 0.05


def test_distillation_into_a_smaller_transformer(trained_mlm, counting):
    teacher, _ = trained_mlm
    student_config = TransformerConfig(vocab_size=VOCAB, seq_len=SEQ_LEN, dim=8, heads=1, mlp_dim=16, layers=1,
                                       dropout=0.0)
    ds = mlm_dataset(counting[0], VOCAB, batch_size=32)
    config = DistillConfig(temperature=2.0, alpha=0.5, epochs=12, learning_rate=5e-3)
    tf_keras.utils.set_random_seed(0)
    untrained = distillation_metrics(teacher, build_transformer_mlm(student_config), ds, config)
    student = distill_transformer(teacher, student_config, ds, config)
    trained = distillation_metrics(teacher, student, ds, config)
    accuracy = _accuracy(student, counting[1])
    print(f"student {count_params(student)} vs teacher {count_params(teacher)} weights; agreement "
          f"{untrained['teacher_agreement']:.3f} -> {trained['teacher_agreement']:.3f}; masked accuracy {accuracy:.3f}")
    assert count_params(student) < 0.6 * count_params(teacher)
    assert trained["distillation_loss"] < 0.5 * untrained["distillation_loss"]
    assert accuracy > 5 * CHANCE
    with pytest.raises(UserError, match="seq_len"):
        distill_transformer(teacher, TransformerConfig(vocab_size=VOCAB, seq_len=4, dim=8, heads=1), ds, config)


def test_vit_classifies_digits_and_converts_to_int8(digits8):
    config = ViTConfig(image_size=8, patch_size=2, dim=16, heads=2, mlp_dim=32, layers=1)
    tf_keras.utils.set_random_seed(0)
    vit = build_vit(config)
    assert vit.input_names == ["image"] and vit.output_names == ["logits"]
    assert vit.outputs[0].shape.as_list() == [None, 10]
    compile_for_logits(vit, 3e-3)
    vit.fit(classification_dataset(digits8.x_train, digits8.y_train, 64), epochs=8, verbose=0)
    accuracy = classifier_accuracy(vit, digits8.x_test, digits8.y_test)
    int8 = int8_tflite(vit, digits8.x_train)
    int8_accuracy = float(np.mean(np.argmax(tflite_predict(int8, digits8.x_test), -1) == digits8.y_test))
    print(f"ViT digits accuracy keras {accuracy:.3f}, int8 TFLite {int8_accuracy:.3f}")
    assert accuracy > 0.5, "well above chance (0.1)"
    assert abs(accuracy - int8_accuracy) < 0.05


@pytest.mark.parametrize("fields,match", [
    ({"dim": 16, "heads": 3}, "divisible"),
    ({"layers": 0}, "layers"),
    ({"dropout": 1.0}, "dropout"),
    ({"activation": "tanh"}, "activation"),
    ({"vocab_size": 0}, "vocab_size"),
])
def test_bad_transformer_configs(fields, match):
    with pytest.raises(UserError, match=match):
        TransformerConfig(**fields)


def test_bad_vit_configs_and_m_by_n(trained_mlm, counting):
    with pytest.raises(UserError, match="patch_size"):
        ViTConfig(image_size=8, patch_size=3)
    with pytest.raises(UserError, match="num_classes"):
        ViTConfig(num_classes=1)
    with pytest.raises(UserError, match="divisible"):
        ViTConfig(dim=10, heads=4)
    ds = mlm_dataset(counting[0], VOCAB, batch_size=32)
    with pytest.raises(UserError, match="block0_attention"):
        prune_transformer(trained_mlm[0], ds, PruneConfig(m_by_n=(2, 4), epochs=1),
                          lambda m: compile_for_logits(m, 1e-3, sparse_weighted=True))
