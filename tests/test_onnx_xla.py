"""ONNX export (tf2onnx + onnxruntime) and XLA serving: both must give Keras's numbers, and fail in one clear line."""
import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf, tf_keras
from keras_ssl.models.bilstm_mlm import build_mlm
from tflite_export.onnx_export import compare_with_keras, onnx_session, quantize_onnx_dynamic, save_onnx, to_onnx
from tflite_export.xla import inference_latency, is_xla_compiled, save_xla_saved_model, xla_function


@pytest.fixture(scope="module")
def classifier_onnx(trained_classifier):
    return to_onnx(trained_classifier)


@pytest.fixture(scope="module")
def tiny_mlm(tiny_mlm_config):
    tf_keras.utils.set_random_seed(1)
    return build_mlm(tiny_mlm_config)


def test_onnx_classifier_agrees_with_keras(trained_classifier, digits8, classifier_onnx, tmp_path):
    session = onnx_session(classifier_onnx)
    assert [i.name for i in session.get_inputs()] == ["image"]
    assert session.get_inputs()[0].shape[0] not in (1, None) and isinstance(session.get_inputs()[0].shape[0], str)
    path = save_onnx(trained_classifier, str(tmp_path / "classifier.onnx"))
    result = compare_with_keras(path, trained_classifier, digits8.x_test)
    assert result["max_abs_diff"] < 1e-4 and result["top1_agreement"] == 1.0
    assert result["outputs"].shape == (len(digits8.x_test), 10)


def test_onnx_bilstm_agrees_with_keras_at_a_dynamic_batch(tiny_mlm, token_sequences):
    onnx_bytes = to_onnx(tiny_mlm)
    assert [i.name for i in onnx_session(onnx_bytes).get_inputs()] == ["token_ids"]
    for batch_size in (1, 7):
        result = compare_with_keras(onnx_bytes, tiny_mlm, token_sequences[:64], batch_size=batch_size)
        assert result["max_abs_diff"] < 1e-4
        assert result["outputs"].shape == (64, 8, 50)


def test_truncated_onnx_is_a_user_error(classifier_onnx, trained_classifier, digits8, tmp_path):
    path = tmp_path / "truncated.onnx"
    path.write_bytes(classifier_onnx[:len(classifier_onnx) // 2])
    with pytest.raises(UserError, match="cannot load ONNX model"):
        compare_with_keras(str(path), trained_classifier, digits8.x_test[:2])
    with pytest.raises(UserError, match="cannot load ONNX model"):
        compare_with_keras(b"not an onnx model", trained_classifier, digits8.x_test[:2])


def test_unconvertible_op_is_a_user_error_naming_it():
    inputs = tf_keras.Input((4,), name="x")
    model = tf_keras.Model(inputs, tf_keras.layers.Lambda(lambda t: tf.math.igamma(t, t))(inputs), name="odd")
    with pytest.raises(UserError, match="'odd'.*Igamma"):
        to_onnx(model)


def test_dynamic_quantized_onnx_is_smaller_and_keeps_top1(trained_classifier, digits8, classifier_onnx):
    quantized = quantize_onnx_dynamic(classifier_onnx)
    assert len(quantized) < len(classifier_onnx)
    result = compare_with_keras(quantized, trained_classifier, digits8.x_test)
    assert result["top1_agreement"] >= 0.9


def test_xla_function_matches_keras(trained_classifier, digits8):
    x = digits8.x_test[:4]
    fn = xla_function(trained_classifier, batch_size=4)
    np.testing.assert_allclose(fn(x).numpy(), trained_classifier(x, training=False).numpy(), atol=1e-5)


def test_xla_function_compiles_the_bilstm(tiny_mlm, token_sequences):
    x = token_sequences[:1]
    np.testing.assert_allclose(xla_function(tiny_mlm)(x).numpy(), tiny_mlm(x, training=False).numpy(), atol=1e-5)


def test_xla_saved_model_round_trips_and_is_compiled(trained_classifier, digits8, tmp_path):
    path = save_xla_saved_model(trained_classifier, str(tmp_path / "xla_model"))
    serve = tf.saved_model.load(path).signatures["serving_default"]
    x = digits8.x_test[:3]
    out = serve(image=tf.constant(x))["logits"].numpy()
    np.testing.assert_allclose(out, trained_classifier(x, training=False).numpy(), atol=1e-5)
    assert is_xla_compiled(path)

    plain = str(tmp_path / "plain")
    tf.saved_model.save(trained_classifier, plain)
    assert not is_xla_compiled(plain)


def test_xla_saved_model_refuses_to_overwrite(trained_classifier, tmp_path):
    path = tmp_path / "taken"
    path.mkdir()
    (path / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="already exists"):
        save_xla_saved_model(trained_classifier, str(path))
    assert (path / "keep.txt").read_text() == "mine"
    save_xla_saved_model(trained_classifier, str(path), overwrite=True)
    assert not (path / "keep.txt").exists() and is_xla_compiled(str(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"], "no staging folders left behind"


def test_inference_latency_reports_three_modes(trained_classifier, digits8):
    timings = inference_latency(trained_classifier, digits8.x_test[0], runs=30, warmup=3)
    assert set(timings) == {"eager_us", "tf_function_us", "xla_us"}
    assert all(v > 0 for v in timings.values())
