"""What a model contains, as the exporter and the compression steps need to know it."""
from keras_ssl.base.keras import tf_keras


def walk_layers(layer):
    """``layer`` and every layer it holds (sub-models, Bidirectional halves, wrapped layers), depth first."""
    yield layer
    for attr in ("layers", "forward_layer", "backward_layer", "layer"):
        child = getattr(layer, attr, None)
        for sub in child if isinstance(child, list) else [child] if child is not None else []:
            yield from walk_layers(sub)


def recurrent_layer_names(model):
    """Top-level layers that are or hold an RNN (a Bidirectional wraps two)."""
    return [layer.name for layer in model.layers
            if any(isinstance(sub, tf_keras.layers.RNN) for sub in walk_layers(layer))]


def has_recurrent_layers(model):
    """Whether any top-level layer is or wraps an RNN: such models convert at batch 1."""
    return bool(recurrent_layer_names(model))
