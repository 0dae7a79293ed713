import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.models.bilstm_mlm import build_mlm
from keras_ssl.models.introspect import has_recurrent_layers
from tflite_export.convert import to_tflite
from tflite_export.runner import TFLiteModel


def _accuracy(runner, data):
    return float(np.mean(np.argmax(runner.predict(data.x_test), -1) == data.y_test))


@pytest.fixture(scope="module")
def keras_predictions(trained_classifier, digits8):
    return trained_classifier.predict(digits8.x_test, verbose=0)


def test_float32_matches_keras(trained_classifier, digits8, keras_predictions):
    runner = TFLiteModel(model_content=to_tflite(trained_classifier, "float32"))
    out = runner.predict(digits8.x_test)
    assert np.abs(out - keras_predictions).max() < 1e-4
    assert np.mean(np.argmax(out, -1) == np.argmax(keras_predictions, -1)) >= 0.995


@pytest.mark.parametrize("mode,dtype", [("int8", "int8"), ("dynamic", "int8"), ("float16", "float16")])
def test_quantized_artifacts_hold_low_precision_tensors_and_keep_accuracy(
        trained_classifier, digits8, keras_predictions, mode, dtype):
    flatbuffer = to_tflite(trained_classifier, mode, representative_data=digits8.x_train)
    runner = TFLiteModel(model_content=flatbuffer)
    assert dtype in runner.tensor_dtypes()
    keras_acc = float(np.mean(np.argmax(keras_predictions, -1) == digits8.y_test))
    assert _accuracy(runner, digits8) >= keras_acc - 0.02
    assert len(flatbuffer) < len(to_tflite(trained_classifier, "float32"))


def test_full_int8_quantizes_the_compute_ops(trained_classifier, digits8):
    runner = TFLiteModel(model_content=to_tflite(trained_classifier, "int8", representative_data=digits8.x_train))
    ops = runner.op_names()
    assert "QUANTIZE" in ops and "DEQUANTIZE" in ops  # float I/O around an integer graph
    details = runner.interpreter.get_tensor_details()
    conv_outputs = [t for t in details if "conv" in t["name"].lower() and t["dtype"] == np.int8]
    assert conv_outputs, "convolution tensors are int8"


def test_int8_needs_calibration_data(trained_classifier):
    with pytest.raises(UserError, match="representative data"):
        to_tflite(trained_classifier, "int8")
    with pytest.raises(UserError, match="unknown TFLite mode"):
        to_tflite(trained_classifier, "int3")


def test_lstm_gets_fused_batch1_ops_and_no_flex(tiny_mlm_config, token_sequences):
    mlm = build_mlm(tiny_mlm_config)
    assert has_recurrent_layers(mlm)
    runner = TFLiteModel(model_content=to_tflite(mlm, "float32"))
    ops = runner.op_names()
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in ops
    assert not any(op.startswith("Flex") or op == "CUSTOM" for op in ops)
    assert list(runner.input["shape"]) == [1, 8]
    expected = mlm.predict(token_sequences[:5], verbose=0)
    np.testing.assert_allclose(runner.predict(token_sequences[:5]), expected, atol=1e-4)


def test_corrupt_and_truncated_tflite_files_give_clear_errors(tmp_path, trained_classifier):
    good = to_tflite(trained_classifier, "float32")
    for name, content in [("garbage.tflite", b"not a flatbuffer at all" * 10), ("cut.tflite", good[:len(good) // 3])]:
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(UserError, match="cannot load TFLite model") as err:
            TFLiteModel(model_path=str(path))
        assert "\n" not in str(err.value)
    with pytest.raises(UserError):
        TFLiteModel(model_path=str(tmp_path / "missing.tflite"))


def test_input_shape_mismatch_is_reported(trained_classifier):
    runner = TFLiteModel(model_content=to_tflite(trained_classifier, "float32"))
    with pytest.raises(UserError, match="does not match"):
        runner.predict(np.zeros((1, 16, 16, 1), np.float32))
