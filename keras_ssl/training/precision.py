"""Mixed-precision *training* whose exported models stay float32.

Mixed precision (float16/bfloat16 compute, float32 variables) is a training-speed option only: the TFLite
float32/fp16/int8 converters and tfmot's prune/cluster/QAT wrappers expect float32 layers, so a model trained
mixed goes through ``as_float32`` (same weights, float32 compute) before it is exported or compressed.

Keras fixes a layer's policy when the layer is *created*, so models must be built inside ``precision_policy``;
changing the global policy afterwards does nothing to an existing model.
"""
import contextlib

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf, tf_keras

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
# Serialized policies: a plain name ("float32") or, for mixed ones, {"class_name": "Policy", "config": {...}}.
_POLICY_CLASSES = ("Policy", "DTypePolicy")


@contextlib.contextmanager
def precision_policy(name):
    """Sets the global Keras dtype policy to ``name`` for the block, restoring the previous one even on error."""
    if name not in PRECISIONS:
        raise UserError(f"unknown precision {name!r}: use one of {PRECISIONS}")
    previous = tf_keras.mixed_precision.global_policy()
    tf_keras.mixed_precision.set_global_policy(name)
    try:
        yield tf_keras.mixed_precision.global_policy()
    finally:
        tf_keras.mixed_precision.set_global_policy(previous)


def _all_layers(model):
    """Every layer, nested ones too (a Bidirectional's LSTMs and cells carry their own policies)."""
    return [m for m in model.submodules if isinstance(m, tf_keras.layers.Layer)]


def is_mixed(model):
    """True if any layer computes in a floating dtype other than float32 (int inputs such as token ids don't count)."""
    for layer in _all_layers(model):
        dtype = tf.as_dtype(layer.compute_dtype) if layer.compute_dtype else None
        if dtype is not None and dtype.is_floating and dtype != tf.float32:
            return True
    return False


def _policy_name(value):
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and value.get("class_name") in _POLICY_CLASSES:
        return value.get("config", {}).get("name")
    return None


def _is_float_policy(value):
    name = _policy_name(value)
    if name is None:
        return False
    try:
        return tf.as_dtype(tf_keras.mixed_precision.Policy(name).compute_dtype).is_floating
    except (TypeError, ValueError):
        return False


def _float32_config(node):
    """A copy of a (model or layer) config with every floating dtype policy set to "float32", at any depth.

    InputLayers are left alone: their ``dtype`` is the input tensor's dtype (int32 token ids must stay int32).
    """
    if isinstance(node, list):
        return [_float32_config(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("class_name") == "InputLayer":
        return node
    out = {}
    for key, value in node.items():
        if key == "dtype" and _is_float_policy(value):
            out[key] = "float32"
        else:
            out[key] = _float32_config(value)
    return out


def as_float32(model):
    """The same model (name, inputs, weights) with every layer computing in float32; uncompiled.

    Mixed layers keep float32 variables, so the weights transfer as they are.  A model that is already float32 is
    returned unchanged (the same object).
    """
    if not is_mixed(model):
        return model
    try:
        config = model.get_config()
    except NotImplementedError:
        raise UserError(f"cannot rebuild model {model.name!r} in float32: it has no get_config (subclassed model); "
                        "build it inside precision_policy('float32') and copy the weights instead") from None
    with precision_policy("float32"):
        rebuilt = model.__class__.from_config(_float32_config(config))
    rebuilt.set_weights(model.get_weights())
    return rebuilt
