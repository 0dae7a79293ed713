"""TVM export (ONNX → Relax → .so): the library must give Keras's numbers at batch 1, and fail in one clear line."""
import os
import shutil
import sys

import numpy as np
import onnx
import pytest
import tvm  # noqa: F401  (a dev-venv dependency: a broken install must fail here, not skip)

from keras_ssl.base.errors import UserError
from tflite_export.onnx_export import to_onnx
from tflite_export.tvm_export import TVMGraph, to_tvm, validate_tvm


@pytest.fixture(scope="module")
def classifier_onnx(trained_classifier):
    return to_onnx(trained_classifier)


@pytest.fixture(scope="module")
def classifier_lib(classifier_onnx, tmp_path_factory):
    return to_tvm(classifier_onnx, str(tmp_path_factory.mktemp("tvm") / "classifier.so"))


def test_tvm_library_agrees_with_keras(trained_classifier, digits8, classifier_lib):
    reference = trained_classifier(digits8.x_test, training=False).numpy()
    result, outputs = validate_tvm(classifier_lib, reference, digits8.x_test,
                                   score=lambda out: float(np.mean(np.argmax(out, -1) == digits8.y_test)))
    assert outputs.shape == (len(digits8.x_test), 10)
    assert result["top1_agreement"] >= 0.99 and result["max_abs_diff"] < 1e-4
    assert abs(result["accuracy"] - result["keras_accuracy"]) <= 0.01 and result["passed"]
    assert os.listdir(os.path.dirname(classifier_lib)) == ["classifier.so"]  # written atomically: no temp left


def test_tvm_graph_has_the_harness_interface(classifier_lib, digits8):
    graph = TVMGraph(classifier_lib, num_threads=1, batch_size=1)
    assert (graph.format, graph.name, graph.input_shape) == ("tvm", "classifier.so", (8, 8, 1))
    assert graph.input_dtype == np.float32 and graph.init_us > 0
    graph.set_batch(digits8.x_test[:1])
    graph.invoke()
    np.testing.assert_array_equal(graph.output()[0], graph.predict_one(digits8.x_test[0]))
    with pytest.raises(UserError, match="compiled for batch 1"):
        graph.set_batch(digits8.x_test[:2])
    with pytest.raises(UserError, match="cannot run batch 4"):
        TVMGraph(classifier_lib, batch_size=4)


def test_a_re_exported_library_is_reloaded_not_the_old_one(classifier_lib, digits8, tmp_path):
    path = str(tmp_path / "model.so")
    shutil.copyfile(classifier_lib, path)
    assert TVMGraph(path).predict(digits8.x_test[:2]).shape == (2, 10)
    flatten = onnx.helper.make_model(onnx.helper.make_graph(
        [onnx.helper.make_node("Flatten", ["image"], ["flat"])], "flatten",
        [onnx.helper.make_tensor_value_info("image", onnx.TensorProto.FLOAT, ["batch", 8, 8, 1])],
        [onnx.helper.make_tensor_value_info("flat", onnx.TensorProto.FLOAT, ["batch", 64])]))
    to_tvm(flatten.SerializeToString(), path)  # same path, new library, same process
    np.testing.assert_array_equal(TVMGraph(path).predict(digits8.x_test[:2]), digits8.x_test[:2].reshape(2, 64))


def _one_line_error(match, fn, *args):
    with pytest.raises(UserError, match=match) as caught:
        fn(*args)
    assert "\n" not in str(caught.value)


def test_bad_inputs_are_one_line_user_errors(classifier_onnx, tmp_path):
    lib = str(tmp_path / "out.so")
    _one_line_error("ONNX model not found", to_tvm, str(tmp_path / "missing.onnx"), lib)
    _one_line_error("cannot load ONNX model", to_tvm, b"not an onnx model", lib)
    _one_line_error("cannot load ONNX model", to_tvm, classifier_onnx[:len(classifier_onnx) // 2], lib)
    ragged = onnx.helper.make_model(onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["y"])], "ragged",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", "length"])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["batch", "length"])]))
    _one_line_error("needs fixed input sizes", to_tvm, ragged.SerializeToString(), lib)
    assert not os.path.exists(lib)
    _one_line_error("TVM library not found", TVMGraph, str(tmp_path / "missing.so"))
    (tmp_path / "garbage.so").write_bytes(b"not a shared library")
    _one_line_error("cannot load TVM library", TVMGraph, str(tmp_path / "garbage.so"))


def test_missing_tvm_names_the_extra(classifier_onnx, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tvm", None)  # what `import tvm` sees without the extra installed
    _one_line_error(r"pip install keras-ssl\[tvm\]", to_tvm, classifier_onnx, str(tmp_path / "out.so"))
    _one_line_error(r"pip install keras-ssl\[tvm\]", TVMGraph, str(tmp_path / "out.so"))
