"""int4 through ai-edge-quantizer: real int4 tensors, XNNPACK kept, outputs close to the source, refusals."""
import numpy as np
import pytest
from ai_edge_litert.tools import flatbuffer_utils

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf_keras
from keras_ssl.models.bilstm_mlm import build_mlm
from keras_ssl.search.accuracy_aware import SearchConfig
from keras_ssl.search.space import space_from_config
from tflite_export.convert import to_tflite
from tflite_export.inspect import xnnpack_coverage
from tflite_export.runner import TFLiteModel

INT4, INT8 = 17, 9  # TFLite schema TensorType values


def _weight_types(flatbuffer):
    """{op name: sorted TensorType values of its constant inputs}."""
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    graph = model.subgraphs[0]
    types = {}
    for op in graph.operators:
        name = flatbuffer_utils.opcode_to_name(model, op.opcodeIndex)
        constants = [graph.tensors[i].type for i in op.inputs
                     if i >= 0 and model.buffers[graph.tensors[i].buffer].data is not None]
        types.setdefault(name, set()).update(constants)
    return {name: sorted(found) for name, found in types.items() if found}


def _constant_bytes(flatbuffer):
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    return sum(len(buffer.data) for buffer in model.buffers if buffer.data is not None)


@pytest.fixture(scope="module")
def mlm(tiny_mlm_config):
    tf_keras.utils.set_random_seed(0)
    return build_mlm(tiny_mlm_config)


@pytest.fixture(scope="module")
def cnn():
    tf_keras.utils.set_random_seed(0)
    inputs = tf_keras.Input((8, 8, 1))
    x = tf_keras.layers.Conv2D(16, 3, activation="relu")(inputs)
    x = tf_keras.layers.GlobalAveragePooling2D()(x)
    return tf_keras.Model(inputs, tf_keras.layers.Dense(64)(x), name="cnn")


def test_int4_unrolled_mlm_has_int4_matrices_and_table_and_stays_in_xnnpack(mlm, token_sequences):
    artifact = to_tflite(mlm, "int4_unrolled")
    types = _weight_types(artifact)
    assert INT4 in types["FULLY_CONNECTED"] and types["GATHER"] == [INT4]  # LSTM, output layer and embedding
    coverage = xnnpack_coverage(content=artifact)
    assert "FULLY_CONNECTED" not in coverage["not_delegated_ops"]
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" not in TFLiteModel(model_content=artifact).op_names()
    reference = mlm.predict(token_sequences[:32], verbose=0)
    outputs = TFLiteModel(model_content=artifact).predict(token_sequences[:32])
    # 4-bit weights of an untrained model: ~10% error on each logit, still the same function.
    assert np.corrcoef(outputs.ravel(), reference.ravel())[0, 1] > 0.95
    assert _constant_bytes(artifact) < 0.2 * _constant_bytes(to_tflite(mlm, "float32", unroll_rnn=True))


def test_int4_of_a_cnn_keeps_convolutions_in_int8_and_xnnpack(cnn):
    artifact = to_tflite(cnn, "int4")
    types = _weight_types(artifact)
    assert INT8 in types["CONV_2D"] and INT4 in types["FULLY_CONNECTED"]
    assert xnnpack_coverage(content=artifact)["fully_delegated"]
    x = np.random.default_rng(0).random((16, 8, 8, 1), np.float32)
    assert np.abs(TFLiteModel(model_content=artifact).predict(x) - cnn.predict(x, verbose=0)).max() < 0.05


def test_aeq_own_recipe_is_refused_for_slow_int4_convolutions_unless_size_first(cnn):
    with pytest.raises(UserError, match="CONV_2D on builtin kernels.*size_first"):
        to_tflite(cnn, "aeq_wi4")
    artifact = to_tflite(cnn, "aeq_wi4", size_first=True)
    assert INT4 in _weight_types(artifact)["CONV_2D"]
    assert "CONV_2D" in xnnpack_coverage(content=artifact)["not_delegated_ops"]


def test_int4_needs_no_calibration_data(mlm, token_sequences):
    """The int4 table keeps its own scale: real calibration inputs change no byte of the artifact."""
    assert to_tflite(mlm, "int4") == to_tflite(mlm, "int4", representative_data=token_sequences)


def test_the_search_may_pick_int4():
    space = space_from_config(SearchConfig(extra_modes=("int4_unrolled",)), ["dense"])
    assert space["modes"] == ["int8", "int8_per_tensor", "int4_unrolled"]
    with pytest.raises(UserError, match="int5"):
        SearchConfig(extra_modes=("int5",))
