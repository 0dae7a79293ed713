"""The image artifacts an Android app hands MediaPipe Tasks: loaded and run by MediaPipe's own ImageClassifier on real
digits, agreeing with LiteRT on the same uint8 pixels (tflite_export/mediapipe.py)."""
import dataclasses
import json

import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf_keras
from keras_ssl.data.images import labels_text
from keras_ssl.pipeline.variants import Evaluation, mediapipe_variant
from tflite_export.artifacts import manifest_path
from tflite_export.convert import to_tflite
from tflite_export.inspect import xnnpack_coverage
from tflite_export.mediapipe import check_in_mediapipe, mobile_calibration, mobile_classifier, to_pixels
from tflite_export.runner import TFLiteModel

CLASS_NAMES = tuple(f"digit {i}" for i in range(10))


@pytest.fixture(scope="module")
def evaluation(digits8):
    return Evaluation(inputs=digits8.x_test, score=lambda out: float(np.mean(np.argmax(out, -1) == digits8.y_test)),
                      top1=lambda out: np.argmax(out, -1), calibration=digits8.x_train[:100],
                      associated_files={"labels.txt": labels_text(CLASS_NAMES)}, class_names=CLASS_NAMES)


@pytest.mark.parametrize("mode", ["uint8_io", "float32"])
def test_mediapipe_loads_the_artifact_and_classifies_like_litert(tmp_path, trained_classifier, digits8, evaluation,
                                                                 mode):
    row = mediapipe_variant(f"mediapipe_{mode}", trained_classifier, mode, str(tmp_path), evaluation)
    check = row["mediapipe"]
    assert check["images"] == len(digits8.x_test) == 360 and check["top1_agreement_with_litert"] == 1.0
    assert check["label_names_match"] and check["runtime"].startswith("mediapipe ")
    assert check["max_abs_score_diff"] < (1e-5 if mode == "float32" else 1e-6)
    keras_accuracy = evaluation.score(trained_classifier.predict(digits8.x_test, verbose=0))
    assert row["accuracy"] >= keras_accuracy - 0.01 and row["agreement_with_keras"] >= 0.98
    manifest = json.load(open(manifest_path(str(tmp_path / row["path"]))))
    assert manifest["mediapipe"] == check and manifest["inputs"][0]["shape"] == [1, 8, 8, 3]
    dtype = "uint8" if mode == "uint8_io" else "float32"
    assert row["io_dtypes"] == {"inputs": [dtype], "outputs": [dtype]}
    # Probabilities, not logits: what MediaPipe shows as scores sums to one.
    litert = TFLiteModel(model_path=str(tmp_path / row["path"]))
    probabilities = litert.predict(digits8.x_test[:20].repeat(3, -1))
    assert np.allclose(probabilities.sum(-1), 1.0, atol=0.02) and probabilities.min() >= 0


def test_the_gray_front_is_exact_for_every_gray_level(trained_classifier):
    """Each of the 256 gray levels sent as R = G = B comes out of the RGB→gray layer unchanged, in int8 too."""
    mobile = mobile_classifier(trained_classifier)
    front = tf_keras.Model(mobile.input, mobile.get_layer("rgb_to_gray").output)
    levels = np.arange(256, dtype=np.float32).reshape(4, 8, 8, 1).repeat(3, -1) / 255.0
    assert np.array_equal(np.round(front.predict(levels, verbose=0) * 255), np.round(levels[..., :1] * 255))
    runner = TFLiteModel(model_content=to_tflite(front, "uint8_io", representative_data=mobile_calibration(levels)),
                         batch_size=4)
    runner.set_batch(np.round(levels * 255).astype(np.uint8))
    runner.invoke()
    assert np.array_equal(runner.interpreter.get_tensor(runner.output["index"]), np.round(levels[..., :1] * 255))


def test_the_softmax_costs_no_xnnpack_partition(trained_classifier, digits8):
    """Measured: the int8 SOFTMAX stays on a builtin kernel beside the QUANTIZE ops that are outside XNNPACK anyway,
    so the graph keeps one partition; in float32 XNNPACK takes it."""
    mobile = mobile_classifier(trained_classifier)
    calibration = mobile_calibration(digits8.x_train[:100])
    logits = tf_keras.Model(mobile.input, mobile.layers[-1].input)
    for mode in ("uint8_io", "float32"):
        with_softmax = xnnpack_coverage(content=to_tflite(mobile, mode, representative_data=calibration))
        without = xnnpack_coverage(content=to_tflite(logits, mode, representative_data=calibration))
        assert with_softmax["partitions"] == without["partitions"] == 1, mode
    assert with_softmax["fully_delegated"]


def test_mediapipe_refuses_what_the_plain_export_writes(tmp_path, trained_classifier, digits8):
    """Why the MediaPipe rows exist: the plain float artifact (gray, no metadata) does not load."""
    path = tmp_path / "plain.tflite"
    path.write_bytes(to_tflite(trained_classifier, "float32"))
    with pytest.raises(UserError, match="MediaPipe refuses"):
        check_in_mediapipe(str(path), to_pixels(digits8.x_test[:5]), CLASS_NAMES)


def test_a_uint8_input_not_at_pixel_scale_is_refused(tmp_path, trained_classifier, digits8, evaluation):
    """Calibrated on dim images only, the input scale is not 1/255: MediaPipe would feed pixels at the wrong scale."""
    dim = dataclasses.replace(evaluation, calibration=digits8.x_train[:50] * 0.5)
    mobile = mobile_classifier(trained_classifier)
    path = tmp_path / "dim.tflite"
    path.write_bytes(to_tflite(mobile, "uint8_io", representative_data=dim.calibration.repeat(3, -1)))
    with pytest.raises(UserError, match="1/255"):
        check_in_mediapipe(str(path), to_pixels(digits8.x_test[:5]), CLASS_NAMES)
