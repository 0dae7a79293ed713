"""tflite_export.gpu_rules: the GPU delegate's published op rules, checked on tiny converted models."""
import contextlib
import io

import numpy as np
import pytest

from keras_ssl.base.keras import tf, tf_keras
from keras_ssl.models.bilstm_mlm import build_mlm
from tflite_export.convert import to_tflite
from tflite_export.gpu_rules import NOT_SUPPORTED, TYPE_SHAPE, gpu_compatibility

IMAGES = np.random.default_rng(0).random((8, 8, 8, 1), dtype=np.float32)


def _reasons(report):
    """{op: set of reasons} over the incompatible nodes."""
    found = {}
    for item in report["incompatible"]:
        found.setdefault(item["op"], set()).add(item["reason"])
    return found


@pytest.fixture(scope="module")
def cnn():
    tf_keras.utils.set_random_seed(0)
    inputs = tf_keras.Input((8, 8, 1), name="image")
    x = tf_keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = tf_keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = tf_keras.layers.MaxPool2D()(x)
    x = tf_keras.layers.GlobalAveragePooling2D()(x)
    return tf_keras.Model(inputs, tf_keras.layers.Dense(3, activation="softmax")(x))


@pytest.fixture(scope="module")
def topk_model():
    inputs = tf_keras.Input((6,))
    x = tf_keras.layers.Dense(5)(inputs)
    return to_tflite(tf_keras.Model(inputs, tf_keras.layers.Lambda(lambda t: tf.math.top_k(t, k=2).values)(x)))


@pytest.mark.parametrize("mode", ["float32", "float16", "int8"])
def test_small_cnn_classifier_is_fully_delegable(cnn, mode, tmp_path):
    path = tmp_path / f"cnn_{mode}.tflite"
    path.write_bytes(to_tflite(cnn, mode, representative_data=IMAGES))
    report = gpu_compatibility(path=str(path))
    assert report["compatible"] and report["incompatible"] == [], report["incompatible"]
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"} <= set(report["ops"])
    # float16 weights arrive through DEQUANTIZE ops, int8 activations through QUANTIZE: both are taken.
    assert {"float32": set(), "float16": {"DEQUANTIZE"}, "int8": {"QUANTIZE", "DEQUANTIZE"}}[mode] <= set(report["ops"])
    assert "LiteRT v2.2.0" in report["rules"] and report["checked_with"].startswith("keras-ssl rule subset (")


def test_int16_activations_are_refused_by_the_tensor_type_rule(cnn):
    report = gpu_compatibility(content=to_tflite(cnn, "int16x8", representative_data=IMAGES))
    reasons = _reasons(report)
    assert not report["compatible"]
    assert any(r.startswith(TYPE_SHAPE) and "int16" in r for r in reasons["CONV_2D"])
    assert reasons["DEQUANTIZE"] == {"Unsupported dequantization type."}


def test_topk_is_not_taken_by_the_classic_delegate(topk_model):
    report = gpu_compatibility(content=topk_model)
    assert not report["compatible"]
    assert [item["op"] for item in report["incompatible"]] == ["TOPK_V2"]
    assert report["incompatible"][0]["reason"].startswith(NOT_SUPPORTED)
    assert "ML Drift" in report["incompatible"][0]["reason"]  # LiteRT's newer GPU accelerator does have a parser


def test_litert_analyzer_calls_the_topk_model_gpu_compatible(topk_model):
    # Why gpu_rules exists: TF 2.21's analyzer lists the TOPK_V2 op yet gives its stock verdict.
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tf.lite.experimental.Analyzer.analyze(model_content=topk_model, gpu_compatibility=True)
    assert "TOPK_V2" in out.getvalue()
    assert "Your model looks compatible with GPU delegate" in out.getvalue()


def test_bilstm_text_model_is_not_delegable(tiny_mlm_config):
    report = gpu_compatibility(content=to_tflite(build_mlm(tiny_mlm_config), "float32"))
    reasons = _reasons(report)
    assert not report["compatible"]
    assert set(reasons) == {"GATHER", "REVERSE_V2", "UNIDIRECTIONAL_SEQUENCE_LSTM"}
    assert reasons["UNIDIRECTIONAL_SEQUENCE_LSTM"] == {NOT_SUPPORTED}
    assert reasons["GATHER"] == {"Only support 1D indices"}  # token ids are [batch, seq_len]
    assert report["ops"]["UNIDIRECTIONAL_SEQUENCE_LSTM"] == 2  # fused at batch 1 by to_tflite


@pytest.mark.parametrize("shape,batch,compatible", [((), 4, True), ((4,), 1, False)])
def test_gather_takes_only_1d_indices(shape, batch, compatible):
    ids = tf_keras.Input(shape, batch_size=batch, dtype="int32")
    x = tf_keras.layers.Flatten()(tf_keras.layers.Embedding(20, 4)(ids))  # Flatten: no runtime shape arithmetic
    report = gpu_compatibility(content=to_tflite(tf_keras.Model(ids, tf_keras.layers.Dense(2)(x))))
    assert "GATHER" in report["ops"]
    assert report["compatible"] is compatible
    assert _reasons(report) == ({} if compatible else {"GATHER": {"Only support 1D indices"}})


def test_five_dimensional_tensors_are_refused():
    inputs = tf_keras.Input((16,), batch_size=1)
    x = tf_keras.layers.Reshape((2, 2, 2, 2))(inputs)
    x = tf_keras.layers.Lambda(lambda t: t * 2.0)(x)
    x = tf_keras.layers.Reshape((16,))(x)
    report = gpu_compatibility(content=to_tflite(tf_keras.Model(inputs, tf_keras.layers.Dense(2)(x))))
    reasons = _reasons(report)
    assert not report["compatible"] and "FULLY_CONNECTED" not in reasons
    assert "MUL" in reasons and all(r.startswith(TYPE_SHAPE) and "5 dims" in r for r in reasons["MUL"])


def test_op_versions_above_the_parsers_maximum_are_refused():
    # Dynamic-range quantisation gives FULLY_CONNECTED a version above the 9 its GPU parser accepts.
    inputs = tf_keras.Input((32,))
    x = tf_keras.layers.Dense(64)(inputs)
    report = gpu_compatibility(content=to_tflite(tf_keras.Model(inputs, tf_keras.layers.Dense(2)(x)), "dynamic"))
    reasons = _reasons(report)
    assert not report["compatible"]
    assert any(r.startswith("Max version supported: 9. Requested version ") for r in reasons["FULLY_CONNECTED"])
