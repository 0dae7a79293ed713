"""The one place keras-ssl chooses its Keras.

tfmot 0.8.1 only understands Keras 2 models, and TensorFlow 2.21 ships Keras 3 as ``tf.keras`` unless
``TF_USE_LEGACY_KERAS=1`` is set *before* TensorFlow is imported.  Every module of ours imports ``tf`` and
``tf_keras`` from here, so the order can never be wrong and a stray Keras 3 model never reaches tfmot.
"""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
# TensorFlow's C++ INFO/WARNING lines drown the progress output users need; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import logging  # noqa: E402
import warnings  # noqa: E402

import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

# TensorFlow's Python INFO lines (SavedModel fingerprints, converter notices) are noise in every run log.
logging.getLogger("tensorflow").setLevel(logging.WARNING)
logging.getLogger("absl").addFilter(
    lambda record: record.levelno >= logging.WARNING or f"{os.sep}tensorflow{os.sep}" not in record.pathname)
warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")

keras = tf_keras

__all__ = ["tf", "tf_keras", "keras"]
