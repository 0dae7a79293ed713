"""Proves an artifact matches its Keras model by running it in LiteRT, one input at a time as a phone would.

Agreement is top-1 (the prediction a user sees), max |difference| is on the raw outputs (dequantised for integer
outputs), and accuracy is the task's own score of the artifact's outputs, beside the Keras model's.
"""
import numpy as np

from tflite_export.runner import TFLiteModel


def argmax_top1(outputs):
    """The default ``top1``: the argmax over the last axis."""
    return np.argmax(outputs, axis=-1)


def compare_outputs(outputs, reference, top1=argmax_top1, score=None):
    """Agreement of ``outputs`` with the Keras ``reference``; accuracy of both when ``score`` is given."""
    outputs, reference = np.asarray(outputs, np.float32), np.asarray(reference, np.float32)
    result = {"top1_agreement": float(np.mean(top1(outputs) == top1(reference))),
              "max_abs_diff": float(np.abs(outputs - reference).max())}
    if score is not None:
        result["accuracy"] = score(outputs)
        result["keras_accuracy"] = score(reference)
        result["accuracy_drop_points"] = round(100 * (result["keras_accuracy"] - result["accuracy"]), 3)
    return result


def validate_tflite(path, reference, inputs, top1=argmax_top1, score=None, max_drop_points=1.0):
    """Runs the .tflite at ``path`` on ``inputs`` and compares with ``reference`` (the Keras outputs).

    ``passed`` holds when accuracy is within ``max_drop_points`` of Keras (or, without a score, when top-1 agrees
    on at least ``MIN_UNSCORED_AGREEMENT`` of inputs).  Returns (result dict, artifact outputs).
    """
    outputs = TFLiteModel(model_path=path, num_threads=1).predict(inputs)
    return judge(compare_outputs(outputs, reference, top1, score), max_drop_points), outputs


# Without labels only agreement can be judged; int8 flips a few near-tie predictions even when accuracy holds.
MIN_UNSCORED_AGREEMENT = 0.97


def judge(result, max_drop_points=1.0):
    """Adds ``passed``: accuracy within ``max_drop_points`` of the source, or, when there is no score (no labels),
    top-1 agreement of at least ``MIN_UNSCORED_AGREEMENT``."""
    if "accuracy" in result:
        result["passed"] = result["accuracy_drop_points"] <= max_drop_points
    else:
        result["passed"] = result["top1_agreement"] >= MIN_UNSCORED_AGREEMENT
    result["max_drop_points"] = max_drop_points
    return result
