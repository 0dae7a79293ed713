"""The one place keras-ssl chooses its Keras.

tfmot 0.8.1 only understands Keras 2 models, and TensorFlow 2.21 ships Keras 3 as ``tf.keras`` unless
``TF_USE_LEGACY_KERAS=1`` is set *before* TensorFlow is imported.  Every module of ours imports ``tf`` and
``tf_keras`` from here, so the order can never be wrong and a stray Keras 3 model never reaches tfmot.

Importing this module changes no logging or warnings state: quieting TensorFlow is the binaries' choice
(``keras_ssl.cli.run.quiet_logs``), not a library's.
"""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"

import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

keras = tf_keras

__all__ = ["tf", "tf_keras", "keras"]
