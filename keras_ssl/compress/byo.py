"""Bring-your-own-model support: what tfmot needs from a model users built, made explicit.

tfmot's wrappers take flat functional models only: ``quantize_model`` refuses a Model nested in a Model and
``prune_low_magnitude`` does not look inside one.  ``flatten_nested`` re-traces a functional model so every
nested functional/Sequential sub-model's layers sit at the top level (same layer objects, so the weights are
shared, not copied).  Subclassed models have no graph to re-trace and are refused with what to do instead.
"""
from absl import logging

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf, tf_keras


def is_graph_model(model):
    """True for functional and built Sequential models: the only kind tfmot can wrap or we can re-trace."""
    return isinstance(model, tf_keras.Model) and getattr(model, "_is_graph_network", False)


def has_nested_models(model):
    """True if any top-level layer is itself a Model (deeper nesting is found while flattening)."""
    return any(isinstance(layer, tf_keras.Model) for layer in model.layers)


def _check_graph(model, role):
    if not is_graph_model(model):
        raise UserError(f"{role} {model.name!r} is a subclassed Keras model: tfmot can only wrap functional or "
                        "Sequential models; rebuild it with the functional API (tf_keras.Model(inputs, outputs))")


def _run_graph(model, inputs):
    """Calls ``model``'s layers one by one on ``inputs`` (a list of tensors), descending into nested models.

    Mirrors tf_keras' ``Functional._run_internal_graph``, except that a nested graph model is run layer by layer
    instead of as one call, so its layers end up in the outer graph.
    """
    tensors = {str(id(t)): x for t, x in zip(model.inputs, inputs)}
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            if node.is_input or any(t_id not in tensors for t_id in node.flat_input_ids):
                continue
            # map_arguments pops one entry per use of a tensor, so give each id as many copies as it is used.
            uses = {t_id: node.flat_input_ids.count(t_id) for t_id in node.flat_input_ids}
            args, kwargs = node.map_arguments({t_id: [tensors[t_id]] * n for t_id, n in uses.items()})
            layer = node.layer
            if isinstance(layer, tf_keras.Model):
                _check_graph(layer, "nested model")
                flat_args = tf.nest.flatten(args)
                outputs = _run_graph(layer, flat_args)
                outputs = outputs[0] if len(outputs) == 1 else outputs
            else:
                outputs = layer(*args, **kwargs)
            for t_id, x in zip(node.flat_output_ids, tf.nest.flatten(outputs)):
                tensors[t_id] = x
    return [tensors[str(id(t))] for t in model.outputs]


def flatten_nested(model):
    """``model`` itself when it has no nested model, else a flat functional model over the same layers."""
    _check_graph(model, "model")
    if not has_nested_models(model):
        return model
    inputs = [tf_keras.Input(t.shape[1:], batch_size=t.shape[0], dtype=t.dtype, name=name)
              for t, name in zip(model.inputs, model.input_names)]
    outputs = _run_graph(model, inputs)
    flat = tf_keras.Model(inputs, outputs[0] if len(outputs) == 1 else outputs, name=model.name)
    nested = [layer.name for layer in model.layers if isinstance(layer, tf_keras.Model)]
    logging.info("flattened nested models %s of %r: %d layers at top level", nested, model.name, len(flat.layers))
    return flat


def describe_layers(layers, per_type=3):
    """"3 TFOpLambda (tf.math.multiply, ...), 1 Rescaling (rescaling)": a log-sized list of layers by type."""
    by_type = {}
    for layer in layers:
        by_type.setdefault(type(layer).__name__, []).append(layer.name)
    parts = []
    for kind, names in sorted(by_type.items(), key=lambda item: -len(item[1])):
        shown = ", ".join(names[:per_type]) + (", ..." if len(names) > per_type else "")
        parts.append(f"{len(names)} {kind} ({shown})")
    return "; ".join(parts)


def check_per_layer(model, per_layer, supported, what):
    """Refuses ``per_layer`` names that are not layers of ``model``, or whose layer ``supported(layer)`` says the
    technique cannot touch (a per-layer value of 0 means "leave it alone" and is always allowed)."""
    names = [layer.name for layer in model.layers if not isinstance(layer, tf_keras.layers.InputLayer)]
    unknown = sorted(set(per_layer) - set(names))
    if unknown:
        raise UserError(f"per-layer {what} names {unknown} that are not layers of model {model.name!r}; valid "
                        f"names: {names}")
    for name, value in per_layer.items():
        layer = model.get_layer(name)
        if value and not supported(layer):
            raise UserError(f"layer {name!r} ({type(layer).__name__}) has no weights tfmot can {what}: remove it "
                            "from per_layer or set it to 0")


def copy_model(model):
    """A fresh copy of a functional/Sequential model with the same weights, so a technique never changes the
    caller's model."""
    copy = tf_keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy
