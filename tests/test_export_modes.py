"""Each TFLite mode and source: what lands in the flatbuffer, how it runs in LiteRT, and clear refusals."""
import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf, tf_keras
from keras_ssl.base.metrics import gzip_bytes
from keras_ssl.models.bilstm_mlm import build_mlm
from tflite_export.convert import to_tflite
from tflite_export.inspect import describe, xnnpack_coverage
from tflite_export.runner import TFLiteModel


def _accuracy(runner, data):
    return float(np.mean(np.argmax(runner.predict(data.x_test), -1) == data.y_test))


@pytest.fixture(scope="module")
def keras_accuracy(trained_classifier, digits8):
    return float(np.mean(np.argmax(trained_classifier.predict(digits8.x_test, verbose=0), -1) == digits8.y_test))


@pytest.mark.parametrize("mode,dtype", [("int8_io", np.int8), ("uint8_io", np.uint8)])
def test_integer_io_artifacts_take_integer_inputs_and_keep_accuracy(trained_classifier, digits8, keras_accuracy,
                                                                    mode, dtype):
    runner = TFLiteModel(model_content=to_tflite(trained_classifier, mode, representative_data=digits8.x_train))
    assert runner.input["dtype"] == dtype and runner.output["dtype"] == dtype
    assert runner.input["quantization"][0] > 0  # the scale a device needs to quantise its pixels
    assert "FLOAT32" not in str(runner.op_names()) and "DEQUANTIZE" not in runner.op_names()
    assert _accuracy(runner, digits8) >= keras_accuracy - 0.02


def test_int16x8_holds_int16_activations(trained_classifier, digits8, keras_accuracy):
    runner = TFLiteModel(model_content=to_tflite(trained_classifier, "int16x8", representative_data=digits8.x_train))
    assert "int16" in runner.tensor_dtypes()
    assert _accuracy(runner, digits8) >= keras_accuracy - 0.01


def test_int16x8_is_refused_for_lstm_naming_the_layer(tiny_mlm_config, token_sequences):
    with pytest.raises(UserError, match=r"int16x8 is not supported for LSTM \(layer 'bilstm'"):
        to_tflite(build_mlm(tiny_mlm_config), "int16x8", representative_data=token_sequences)


def test_lstm_integer_io_keeps_token_ids_int32_and_outputs_int8(tiny_mlm_config, token_sequences):
    runner = TFLiteModel(model_content=to_tflite(build_mlm(tiny_mlm_config), "int8_io",
                                                 representative_data=token_sequences))
    assert runner.input["dtype"] == np.int32 and runner.output["dtype"] == np.int8
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in runner.op_names()


def test_signature_names_inputs_and_outputs(trained_classifier):
    info = describe(content=to_tflite(trained_classifier, "float32"))
    assert info["signature"] == "serving_default"
    assert [t["name"] for t in info["inputs"]] == ["image"] and [t["name"] for t in info["outputs"]] == ["logits"]
    assert info["inputs"][0]["shape_signature"][0] == -1  # dynamic batch for the CNN


def test_ops_without_builtin_kernels_are_refused_unless_flex_is_allowed():
    inputs = tf_keras.Input((4, 4), name="matrix")
    model = tf_keras.Model(inputs, tf_keras.layers.Lambda(lambda m: tf.linalg.inv(m), name="inverse")(inputs))
    with pytest.raises(UserError, match="Flex"):
        to_tflite(model, "float32")
    assert b"FlexMatrixInverse" in to_tflite(model, "float32", allow_flex=True)


class _Lookup(tf_keras.layers.Layer):
    """A layer whose call uses a resource that is not a variable (a lookup table)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant([1, 2], tf.int64), tf.constant([10.0, 20.0])), 0.0)

    def call(self, ids):
        return self.table.lookup(ids)


def test_a_model_using_a_lookup_table_converts_with_its_table():
    """Conversion saves only the model's variables when that is all its function captures (fast); a table must come
    along too, or it would silently become an unfed placeholder."""
    ids = tf_keras.Input((3,), dtype=tf.int64, name="ids")
    model = tf_keras.Model(ids, tf_keras.layers.Dense(2, name="head")(_Lookup(name="lookup")(ids)))
    with pytest.raises(UserError, match="HashTableV2"):
        to_tflite(model, "float32")
    assert b"FlexHashTableV2" in to_tflite(model, "float32", allow_flex=True)


def test_saved_model_source_converts_and_matches(tmp_path, trained_classifier, digits8):
    path = str(tmp_path / "saved")
    tf.saved_model.save(trained_classifier, path)
    runner = TFLiteModel(model_content=to_tflite(path, "int8", representative_data=digits8.x_train))
    expected = trained_classifier.predict(digits8.x_test, verbose=0)
    assert np.mean(np.argmax(runner.predict(digits8.x_test), -1) == np.argmax(expected, -1)) >= 0.97
    with pytest.raises(UserError, match="not a SavedModel"):
        to_tflite(str(tmp_path), "float32")


def test_qat_model_converts_to_int8_without_calibration(trained_classifier, digits8, keras_accuracy):
    import tensorflow_model_optimization as tfmot

    from keras_ssl.training.fit import compile_for_logits

    qat = tfmot.quantization.keras.quantize_model(trained_classifier)
    # Fake-quant ranges start untrained (the QAT model itself scores ~10% before this): one epoch learns them.
    compile_for_logits(qat, 1e-4).fit(digits8.x_train, digits8.y_train, epochs=1, verbose=0)
    qat_accuracy = float(np.mean(np.argmax(qat.predict(digits8.x_test, verbose=0), -1) == digits8.y_test))
    runner = TFLiteModel(model_content=to_tflite(qat, "int8"))  # ranges come from training, no calibration
    assert "int8" in runner.tensor_dtypes()
    assert abs(_accuracy(runner, digits8) - qat_accuracy) <= 0.01
    assert _accuracy(runner, digits8) >= keras_accuracy - 0.01
    with pytest.raises(UserError, match="quantization-aware"):
        to_tflite(qat, "float16")


def _softmax_probe(digits8, softmax):
    """The 8x8 digits CNN of the design notes' int8 probe (37.5k params), with or without a softmax head."""
    layers = tf_keras.layers
    model = tf_keras.Sequential([layers.Input((8, 8, 1)), layers.Conv2D(32, 3, activation="relu"), layers.Flatten(),
                                 layers.Dense(32, activation="relu"),
                                 layers.Dense(10, activation="softmax" if softmax else None)])
    return to_tflite(model, "int8", representative_data=digits8.x_train)


def test_xnnpack_coverage_finds_the_ops_left_on_builtin_kernels(digits8):
    assert xnnpack_coverage(content=_softmax_probe(digits8, softmax=False))["fully_delegated"]
    coverage = xnnpack_coverage(content=_softmax_probe(digits8, softmax=True))
    assert coverage["not_delegated_ops"] == {"SOFTMAX": 1} and coverage["partitions"] == 2


def test_unrolled_lstm_runs_in_xnnpack_and_matches_keras(tiny_mlm_config, token_sequences):
    mlm = build_mlm(tiny_mlm_config)
    expected = mlm.predict(token_sequences[:8], verbose=0)
    unrolled = TFLiteModel(model_content=to_tflite(mlm, "float32", unroll_rnn=True))
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" not in unrolled.op_names()
    np.testing.assert_allclose(unrolled.predict(token_sequences[:8]), expected, atol=1e-5)
    int8 = to_tflite(mlm, "int8", representative_data=token_sequences, unroll_rnn=True)
    coverage = xnnpack_coverage(content=int8)
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" not in coverage["not_delegated_ops"]
    assert coverage["delegated_nodes"] > coverage["nodes"] // 2  # the LSTM's FC/ADD/MUL/TANH ops are delegated
    # Unrolled, the LSTM has no fused op, so int16x8 becomes possible too.
    assert "int16" in TFLiteModel(model_content=to_tflite(mlm, "int16x8", representative_data=token_sequences,
                                                          unroll_rnn=True)).tensor_dtypes()


def _int8_fully_connected_weights(flatbuffer):
    """The int8 values of every FULLY_CONNECTED weight tensor (the op's input 1) in the artifact."""
    interpreter = TFLiteModel(model_content=flatbuffer).interpreter
    weights = {op["inputs"][1] for op in interpreter._get_ops_details() if op["op_name"] == "FULLY_CONNECTED"}
    return [interpreter.get_tensor(t["index"]) for t in interpreter.get_tensor_details()
            if t["index"] in weights and t["dtype"] == np.int8]


def test_int8_per_tensor_keeps_shared_weights_as_few_bytes_and_gzips_smaller():
    # A clustered Dense kernel: 8 shared values, the extreme ones rare, as in a trained kernel.  With one scale
    # per output channel each row is rescaled by its own max, so the 8 values become many different bytes.
    rng = np.random.default_rng(0)
    centroids = np.array([-0.83, -0.47, -0.26, -0.09, 0.06, 0.21, 0.55, 0.97], np.float32)
    kernel = centroids[rng.choice(8, size=(16, 512), p=np.array([1, 3, 6, 10, 10, 6, 3, 1]) / 40)]
    model = tf_keras.Sequential([tf_keras.Input((16,), name="x"), tf_keras.layers.Dense(512, name="dense")])
    model.get_layer("dense").set_weights([kernel, np.zeros(512, np.float32)])
    inputs = rng.random((64, 16)).astype(np.float32)
    per_channel = to_tflite(model, "int8", representative_data=inputs)
    per_tensor = to_tflite(model, "int8_per_tensor", representative_data=inputs)
    (channel_values,), (tensor_values,) = _int8_fully_connected_weights(per_channel), _int8_fully_connected_weights(
        per_tensor)
    assert np.unique(tensor_values).size == 8
    assert np.unique(channel_values).size > 16
    print(f"gzip clustered int8: per channel {gzip_bytes(per_channel)} B, per tensor {gzip_bytes(per_tensor)} B")
    assert gzip_bytes(per_tensor) < 0.8 * gzip_bytes(per_channel)
    expected = model.predict(inputs, verbose=0)
    got = TFLiteModel(model_content=per_tensor).predict(inputs)
    assert np.abs(got - expected).max() < 0.05 * np.abs(expected).max()
