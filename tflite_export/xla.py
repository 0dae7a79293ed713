"""XLA (``jit_compile=True``) for serving on TensorFlow: a compiled function, a SavedModel whose ``serving_default``
is compiled, a check that a SavedModel really is, and a fair eager / tf.function / XLA latency comparison.

Inference only, on purpose: ``jit_compile`` made BiLSTM *training* much slower, while at inference it made the
BiLSTM MLM's batch-1 calls faster than tf.function (docs/export.md has both).  Recurrent models compile on CPU at any
batch (the LSTM's while-loop is a static-length XLA loop); a model that does not compile raises a UserError at
export time instead of at the first request.
"""
import os
import shutil
import tempfile
import time

import numpy as np

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf

_MUST_COMPILE = "_XlaMustCompile"
_CALL_OPS = ("PartitionedCall", "StatefulPartitionedCall")


def _input_spec(model, batch_size):
    if len(model.inputs) != 1:
        raise UserError(f"model {model.name!r} has {len(model.inputs)} inputs; XLA export handles one input")
    t = model.inputs[0]
    return tf.TensorSpec((batch_size,) + tuple(t.shape[1:]), t.dtype, name=t.name.split(":")[0])


def _compile_now(fn, spec, model):
    """XLA compiles on first call: do it here on zeros so an uncompilable op fails at export, naming the model."""
    shape = [1 if d is None else d for d in spec.shape]
    try:
        fn(tf.zeros(shape, spec.dtype))
    except (tf.errors.OpError, ValueError) as e:
        raise UserError(f"model {model.name!r} cannot be XLA-compiled on this machine: "
                        f"{str(e).strip().splitlines()[0]}; serve it without XLA (plain SavedModel or TFLite)"
                        ) from None


def xla_function(model, batch_size=1):
    """A compiled ``tf.function`` for inputs of shape (batch_size, *model input shape), already compiled once."""
    spec = _input_spec(model, batch_size)

    @tf.function(jit_compile=True, input_signature=[spec])
    def serve(x):
        return model(x, training=False)

    _compile_now(serve, spec, model)
    return serve


def _swap_into_place(staged, path):
    """Renames ``staged`` to ``path``; an old ``path`` is moved aside first and deleted only once the new one is in."""
    if not os.path.lexists(path):
        os.replace(staged, path)
        return
    old = tempfile.mkdtemp(dir=os.path.dirname(path), prefix="." + os.path.basename(path) + ".old-")
    previous = os.path.join(old, "previous")
    os.replace(path, previous)
    try:
        os.replace(staged, path)
    except BaseException:
        os.replace(previous, path)
        os.rmdir(old)
        raise
    shutil.rmtree(old, ignore_errors=True)


def save_xla_saved_model(model, path, batch_size=None, overwrite=False):
    """Writes a SavedModel whose ``serving_default`` is XLA-compiled: ``{input name: x}`` → ``{"logits": ...}``.

    Only the variables are saved alongside the function, not the Keras layers: that made saving and loading much
    faster than saving the model object itself (docs/export.md, "Measurements behind the code").
    """
    path = os.path.abspath(path)
    if os.path.lexists(path) and not overwrite:
        raise UserError(f"{path} already exists: choose another path or pass overwrite=True")
    spec = _input_spec(model, batch_size)

    @tf.function(jit_compile=True, input_signature=[spec])
    def serve(x):
        return {"logits": model(x, training=False)}

    _compile_now(serve, spec, model)
    module = tf.Module()
    module.model_variables = list(model.variables)
    module.serve = serve
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    staged = tempfile.mkdtemp(dir=parent, prefix="." + os.path.basename(path) + ".tmp-")
    try:
        tf.saved_model.save(module, staged, signatures={"serving_default": serve})
        _swap_into_place(staged, path)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return path


def is_xla_compiled(saved_model_path):
    """True when ``serving_default`` itself (or the function it calls) carries ``_XlaMustCompile=True``.

    Nested functions are not searched: a model with one jit-compiled layer is not an XLA-served model.
    """
    try:
        signature = tf.saved_model.load(saved_model_path).signatures["serving_default"]
    except (OSError, ValueError, KeyError) as e:
        raise UserError(f"cannot load SavedModel {saved_model_path} with a serving_default signature: "
                        f"{str(e).strip().splitlines()[0]}") from None

    def must_compile(attrs):
        return _MUST_COMPILE in attrs and attrs[_MUST_COMPILE].b

    if must_compile(signature.function_def.attr):
        return True
    graph = signature.graph.as_graph_def()
    library = {f.signature.name: f for f in graph.library.function}
    for node in graph.node:
        if node.op in _CALL_OPS:
            called = library.get(node.attr["f"].func.name)
            if must_compile(node.attr) or (called is not None and must_compile(called.attr)):
                return True
    return False


def _p50_us(samples):
    return float(np.median(samples) * 1e6)


def inference_latency(model, example, runs=200, warmup=20, rounds=5):
    """Batch-1 p50 in µs of eager, tf.function and XLA calls, each including ``.numpy()`` of the output.

    The modes take turns over ``rounds`` rounds, so a noisy moment on the machine hits all three alike.
    """
    spec = _input_spec(model, 1)
    x = np.asarray(example)
    if x.ndim == len(spec.shape) - 1:
        x = x[None]
    if tuple(x.shape) != tuple(spec.shape):
        raise UserError(f"inference_latency needs one example of shape {tuple(spec.shape[1:])}, got {x.shape}")
    x = tf.constant(x.astype(spec.dtype.as_numpy_dtype))
    graph_fn = tf.function(lambda t: model(t, training=False), input_signature=[spec])
    modes = {"eager_us": lambda t: model(t, training=False), "tf_function_us": graph_fn,
             "xla_us": xla_function(model, 1)}
    for fn in modes.values():
        for _ in range(warmup):
            fn(x).numpy()
    samples = {name: [] for name in modes}
    per_round = max(1, runs // rounds)
    for _ in range(rounds):
        for name, fn in modes.items():
            for _ in range(per_round):
                start = time.perf_counter()
                fn(x).numpy()
                samples[name].append(time.perf_counter() - start)
    return {name: _p50_us(times) for name, times in samples.items()}
