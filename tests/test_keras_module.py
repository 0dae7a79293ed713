import os
import re

# `import keras`, `from keras...`, `import tf_keras`, `from tensorflow import keras`; not `import keras_ssl`.
DIRECT_KERAS = re.compile(r"(import (keras|tf_keras)\b|from keras[. ]|from tensorflow import keras\b)")


def test_legacy_keras_is_selected_before_tensorflow():
    from keras_ssl.base.keras import tf, tf_keras

    assert os.environ["TF_USE_LEGACY_KERAS"] == "1"
    assert tf_keras.__version__.startswith("2.")
    # tf.keras must resolve to the same Keras 2 that tfmot understands, not Keras 3.
    assert tf.keras.layers.Dense.__module__.startswith("tf_keras")


def test_no_module_imports_keras_directly():
    """All code takes Keras from keras_ssl.base.keras; a stray `import keras` would mix Keras 3 objects in."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    offenders = []
    for folder in ("keras_ssl", "tflite_export", "experiments", "studies"):
        for dirpath, _, files in os.walk(os.path.join(root, folder)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(dirpath, name)
                    for line in open(path, encoding="utf-8"):
                        stripped = line.strip()
                        if DIRECT_KERAS.match(stripped):
                            offenders.append(f"{path}: {stripped}")
    assert offenders == [os.path.join(root, "keras_ssl", "base", "keras.py") + ": import tf_keras  # noqa: E402"]
