"""Layer pruning: remove whole conv blocks or shape-preserving layers, keep the other weights, and re-fit.

Two ways, for single-chain models like the classifier:

* ``drop_last_blocks=k`` removes the last k conv blocks (a Conv and the pooling/normalisation/activation layers
  after it, up to the next Conv or the Flatten/Dense head).  The head now sees a different feature map, so its
  first weighted layer (and any BatchNorm before it) starts from fresh weights; every other layer keeps its own.
* ``remove=(names...)`` removes named layers whose input and output shapes are equal (Dropout, BatchNorm, a square
  Dense...), so every remaining weight still fits where it was.
"""
import dataclasses

from absl import logging

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf_keras
from keras_ssl.base.metrics import count_params
from keras_ssl.compress.channel_prune import chain_steps, rebuild_chain, refit
from keras_ssl.training.fit import FitFields

L = tf_keras.layers
CONV_TYPES = (L.Conv1D, L.Conv2D, L.Conv3D, L.SeparableConv1D, L.SeparableConv2D, L.DepthwiseConv1D,
              L.DepthwiseConv2D)


@dataclasses.dataclass
class LayerPruneConfig(FitFields):
    """Layer-pruning settings (give exactly one of ``remove`` and ``drop_last_blocks``); invalid values raise UserError.

    ``epochs`` of re-fitting follow the removal (0 returns the rebuilt model as is); ``learning_rate`` is used when
    no ``compile_fn`` is given.
    """
    remove: tuple = ()
    drop_last_blocks: int = 0
    epochs: int = 3
    learning_rate: float = 1e-3

    def __post_init__(self):
        self.remove = (self.remove,) if isinstance(self.remove, str) else tuple(self.remove)
        if self.drop_last_blocks < 0:
            raise UserError(f"drop_last_blocks={self.drop_last_blocks} must be >= 0")
        if bool(self.remove) == bool(self.drop_last_blocks):
            raise UserError("layer pruning needs exactly one of remove=(layer names) and drop_last_blocks=k, got "
                            f"remove={self.remove} and drop_last_blocks={self.drop_last_blocks}")
        if self.epochs < 0:
            raise UserError(f"layer pruning epochs={self.epochs} must be >= 0 (0 = no re-fit)")
        if not self.learning_rate > 0:
            raise UserError(f"layer pruning learning_rate={self.learning_rate} must be positive")


def conv_blocks(steps):
    """The chain's conv blocks, each a list of layer names: a Conv and the same-rank, kernel-free or normalising
    layers after it (pooling, BatchNorm, activation, dropout), stopping at the next Conv, Dense or a rank change."""
    blocks, current = [], None
    for step in steps:
        layer = step.layer
        if isinstance(layer, CONV_TYPES):
            current = [layer.name]
            blocks.append(current)
        elif current is not None and not isinstance(layer, L.Dense) and len(step.output_shape) == len(
                step.input_shape):
            current.append(layer.name)
        else:
            current = None
    return blocks


def removable_layer_names(steps):
    """Names of the layers ``remove`` accepts: those whose output shape equals their input shape."""
    return [step.layer.name for step in steps if tuple(step.input_shape) == tuple(step.output_shape)]


def _names_to_remove(steps, config, model_name):
    if config.drop_last_blocks:
        blocks = conv_blocks(steps)
        if config.drop_last_blocks > len(blocks):
            raise UserError(f"drop_last_blocks={config.drop_last_blocks} but {model_name!r} has {len(blocks)} conv "
                            f"blocks {blocks}: drop at most {len(blocks)}")
        return [name for block in blocks[len(blocks) - config.drop_last_blocks:] for name in block], True
    names = [step.layer.name for step in steps]
    removable = removable_layer_names(steps)
    unknown = [name for name in config.remove if name not in names]
    if unknown:
        raise UserError(f"remove names unknown layers {unknown} of {model_name!r}: layers that can be removed "
                        f"(input shape == output shape) are {removable}")
    for step in steps:
        if step.layer.name in config.remove and step.layer.name not in removable:
            raise UserError(f"layer {step.layer.name!r} changes the shape {step.input_shape} -> {step.output_shape}, "
                            f"so removing it alone breaks the model: removable layers are {removable}; use "
                            "drop_last_blocks=k to remove conv blocks")
    return list(config.remove), False


def remove_layers(model, config):
    """The model without the layers ``config`` selects (not yet re-fitted), and the removed layer names.

    Never touches ``model``.  After dropped blocks, the head's first weighted layer and any weighted layer before it
    restart from fresh weights; all other layers keep theirs.
    """
    steps = chain_steps(model, "layer pruning")
    removed, reset_head = _names_to_remove(steps, config, model.name)
    plan, stale = [], False
    for step in steps:
        layer = step.layer
        if layer.name in removed:
            stale = stale or reset_head
            continue
        weights = layer.get_weights()
        if stale and weights:
            logging.info("layer pruning: %r sees a new feature map, so it starts from fresh weights", layer.name)
            weights = None
            stale = not hasattr(layer, "kernel")  # the first kernel layer absorbs the change
        plan.append((layer, layer.get_config(), weights, step.call_kwargs))
    return rebuild_chain(model, plan), removed


def prune_layers(model, dataset, config, compile_fn=None):
    """Removes whole layers/blocks (see ``LayerPruneConfig``), keeps the remaining weights, and re-fits
    ``config.epochs`` on ``dataset``; returns the new plain Keras model.

    ``compile_fn(model)`` compiles with the task's loss (default: logits + sparse labels at ``learning_rate``).
    """
    small, removed = remove_layers(model, config)
    logging.info("layer pruning removed %s: %d -> %d layers, %d -> %d parameters", removed, len(model.layers),
                 len(small.layers), count_params(model), count_params(small))
    if count_params(small) >= count_params(model):
        logging.warning("layer pruning made %r larger (%d -> %d parameters): the head now sees a bigger feature map; "
                        "drop fewer blocks or add pooling", model.name, count_params(model), count_params(small))
    return refit(small, dataset, config, compile_fn, "layer pruning")
