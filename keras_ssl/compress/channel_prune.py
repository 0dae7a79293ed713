"""Channel (filter / unit) pruning that rebuilds a genuinely smaller dense model, then fine-tunes it.

Magnitude pruning (``prune.py``) zeroes weights but keeps every tensor's shape, so the model only shrinks once
compressed and runs no faster on dense kernels.  Here whole Conv filters and Dense units are removed: each prunable
layer's outputs are ranked by the L1 (or L2) norm of their weights, the top ``keep_fraction`` are kept, and the next
layer's input weights are sliced to match (through pooling, dropout, activations, BatchNormalization and Flatten,
whose (h, w, c) rows are selected channel by channel).  The last Conv/Dense layer (the logits) is never pruned, so
the output shape stays.  With every channel kept the rebuilt model computes exactly what the original did.

Only single chains of layers are handled (the classifier, Dense stacks, Sequential models); a branchy graph or a
layer that mixes channels in a way that cannot be sliced is refused with a UserError naming it.
"""
import dataclasses
import numbers

import numpy as np
from absl import logging

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf, tf_keras
from keras_ssl.base.metrics import count_params
from keras_ssl.compress.byo import flatten_nested
from keras_ssl.training.fit import FitFields, compile_for_logits, fit_callbacks

CRITERIA = ("l1", "l2")
L = tf_keras.layers
# Layers whose output channels are computed by a kernel with outputs on its last axis and inputs on the one before.
CONV_TYPES = (L.Conv1D, L.Conv2D, L.Conv3D)
# Layers that act on each channel separately and carry no weights: pruned channels pass straight through.
CHANNELWISE_TYPES = (L.Dropout, L.Activation, L.ReLU, L.LeakyReLU, L.ELU, L.GaussianNoise, L.GaussianDropout,
                     L.ActivityRegularization, L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D, L.AveragePooling1D,
                     L.AveragePooling2D, L.AveragePooling3D, L.GlobalAveragePooling1D, L.GlobalAveragePooling2D,
                     L.GlobalAveragePooling3D, L.GlobalMaxPooling1D, L.GlobalMaxPooling2D, L.GlobalMaxPooling3D,
                     L.UpSampling1D, L.UpSampling2D, L.UpSampling3D, L.ZeroPadding1D, L.ZeroPadding2D,
                     L.ZeroPadding3D, L.Cropping1D, L.Cropping2D, L.Cropping3D)


@dataclasses.dataclass
class ChannelPruneConfig(FitFields):
    """Channel-pruning settings; invalid values raise UserError.

    ``keep_fraction`` is the share of filters/units every prunable layer keeps (a float in (0, 1]), or a dict
    layer name -> share, in which case only the named layers are pruned.  ``epochs`` of fine-tuning follow the
    rebuild (0 returns the sliced model as is); ``learning_rate`` is used when no ``compile_fn`` is given.
    """
    keep_fraction: object = 0.5
    criterion: str = "l1"
    epochs: int = 3
    learning_rate: float = 1e-3

    def __post_init__(self):
        if isinstance(self.keep_fraction, dict):
            self.keep_fraction = dict(self.keep_fraction)
            for name, fraction in self.keep_fraction.items():
                _check_fraction(fraction, f"keep_fraction[{name!r}]")
        else:
            _check_fraction(self.keep_fraction, "keep_fraction")
        if self.criterion not in CRITERIA:
            raise UserError(f"unknown channel ranking criterion {self.criterion!r}: use one of {CRITERIA}")
        if self.epochs < 0:
            raise UserError(f"channel pruning epochs={self.epochs} must be >= 0 (0 = no fine-tuning)")
        if not self.learning_rate > 0:
            raise UserError(f"channel pruning learning_rate={self.learning_rate} must be positive")

    def fraction_for(self, name):
        """The share of ``name``'s filters/units to keep: the global fraction, or the dict's (1.0 if absent)."""
        if isinstance(self.keep_fraction, dict):
            return float(self.keep_fraction.get(name, 1.0))
        return float(self.keep_fraction)


def _check_fraction(value, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < value <= 1.0:
        raise UserError(f"{what}={value!r} must be a number in (0, 1] (the share of filters/units a layer keeps): "
                        "pass e.g. 0.5, or 1.0 to leave a layer whole")


@dataclasses.dataclass
class ChainStep:
    """One layer of a single-chain model: the layer, its input and output shapes, and its call's kwargs."""
    layer: object
    input_shape: tuple
    output_shape: tuple
    call_kwargs: dict


def chain_steps(model, what):
    """``model``'s layers as a single chain (input -> layer -> ... -> output), as ``ChainStep``s in call order.

    UserError (naming the layer) for several inputs/outputs, layers running side by side or taking several inputs:
    ``what`` names the technique in the message.
    """
    model = flatten_nested(model)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UserError(f"{what} handles single-input, single-output models; {model.name!r} has "
                        f"{len(model.inputs)} inputs and {len(model.outputs)} outputs: prune it with prune_magnitude")
    steps, previous = [], None
    for depth in sorted(model._nodes_by_depth, reverse=True):
        nodes = model._nodes_by_depth[depth]
        if len(nodes) != 1:
            names = sorted(node.layer.name for node in nodes)
            raise UserError(f"{what} needs a single chain of layers, but layers {names} of {model.name!r} run side "
                            "by side (a branchy graph): prune it with prune_magnitude instead")
        node = nodes[0]
        if node.is_input:
            previous = tf.nest.flatten(node.outputs)[0]
            continue
        inputs = node.keras_inputs
        if len(inputs) != 1 or inputs[0] is not previous:
            raise UserError(f"{what} needs a single chain of layers, but layer {node.layer.name!r} of {model.name!r} "
                            f"takes {len(inputs)} inputs or skips a layer (a branchy graph): prune it with "
                            "prune_magnitude instead")
        outputs = tf.nest.flatten(node.outputs)
        steps.append(ChainStep(node.layer, tuple(previous.shape), tuple(outputs[0].shape), dict(node.call_kwargs)))
        previous = outputs[0]
    return steps


def rebuild_chain(model, configs):
    """A new functional model over ``model``'s input: ``configs`` is one ``(layer, config, weights, kwargs)`` per
    layer in call order; each layer is made fresh from ``config`` (so nothing is shared with ``model``) and given
    ``weights`` (None keeps its fresh initialisation).  Returns the model; layer names are the originals'."""
    model = flatten_nested(model)
    spec = model.inputs[0]
    inputs = tf_keras.Input(spec.shape[1:], batch_size=spec.shape[0], dtype=spec.dtype, name=model.input_names[0])
    x = inputs
    made = []
    for layer, config, weights, kwargs in configs:
        new = type(layer).from_config(config)
        try:
            x = new(x, **kwargs)
        except (ValueError, TypeError) as e:
            raise UserError(f"layer {layer.name!r} cannot take the rebuilt input shape {tuple(x.shape)} "
                            f"({str(e).splitlines()[0]}): change the pruning settings for the layers before it") \
                from None
        made.append((new, weights))
    rebuilt = tf_keras.Model(inputs, x, name=model.name)
    for new, weights in made:
        if weights is not None:
            new.set_weights(weights)
    return rebuilt


def _is_conv(layer):
    return type(layer) in CONV_TYPES


def _has_units(layer):
    """Dense, and ungrouped channels_last Conv 1D/2D/3D: the layers whose output channels can be dropped (others,
    e.g. grouped convs, are copied whole and refused only if dropped channels reach them)."""
    if _is_conv(layer):
        return layer.groups == 1 and layer.data_format == "channels_last"
    return type(layer) is L.Dense


def prunable_layer_names(steps):
    """Names of the layers channel pruning may shrink: every Conv/Dense except the last (the output layer)."""
    weighted = [step.layer.name for step in steps if _has_units(step.layer)]
    return weighted[:-1]


def _ranking(kernel, criterion):
    """One score per output channel (the kernel's last axis): the L1 or L2 norm of its weights."""
    flat = np.abs(kernel.reshape(-1, kernel.shape[-1]))
    return flat.sum(axis=0) if criterion == "l1" else np.sqrt((flat ** 2).sum(axis=0))


def _check_channels_last(step, what):
    layer = step.layer
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise UserError(f"layer {layer.name!r} uses data_format={layer.data_format!r}: {what} slices channels on the "
                        "last axis only; rebuild the model with channels_last")


def _slice_units(step, kept_in, fraction, criterion):
    """(config, weights, kept output channels or None) for a Conv/Dense layer given its kept input channels
    (None = all); the top ``fraction`` of its outputs by ``criterion`` are kept, in their original order."""
    layer = step.layer
    weights = layer.get_weights()
    kernel = weights[0]
    if kept_in is not None:
        kernel = np.take(kernel, kept_in, axis=-2)
    config = layer.get_config()
    units = kernel.shape[-1]
    keep = max(1, int(round(fraction * units)))
    if keep >= units:
        return config, [kernel] + weights[1:], None
    kept = np.sort(np.argsort(-_ranking(kernel, criterion), kind="stable")[:keep])
    config["filters" if _is_conv(layer) else "units"] = keep
    sliced = [np.take(kernel, kept, axis=-1)] + [np.take(w, kept, axis=-1) for w in weights[1:]]
    return config, sliced, kept


def _pass_channels(step, kept, source):
    """(weights, kept channels after the layer) for a layer that passes channels through, or UserError naming it
    and ``source``, the pruned layer whose channels reach it."""
    layer = step.layer
    if isinstance(layer, L.Flatten):
        _check_channels_last(step, "channel pruning")
        positions = np.arange(int(np.prod(step.input_shape[1:]))).reshape(step.input_shape[1:])
        return None, positions[..., kept].ravel()  # rows laid out (h, w, c): keep channel c at every position
    if isinstance(layer, CHANNELWISE_TYPES):
        _check_channels_last(step, "channel pruning")
        return None, kept
    if isinstance(layer, L.BatchNormalization):
        last = len(step.input_shape) - 1
        if sorted(a % (last + 1) for a in layer.axis) != [last]:
            raise UserError(f"BatchNormalization {layer.name!r} normalizes axes {list(layer.axis)}, not the channel "
                            f"axis: channel pruning cannot slice it; leave {source!r} whole "
                            f"(keep_fraction={{{source!r}: 1.0, ...}})")
        return [np.take(w, kept, axis=-1) for w in layer.get_weights()], kept
    raise UserError(f"channel pruning cannot pass dropped channels through layer {layer.name!r} "
                    f"({type(layer).__name__}): leave {source!r} whole (keep_fraction={{{source!r}: 1.0, ...}}) "
                    "or use prune_magnitude")


def shrink_channels(model, config):
    """The smaller model (not yet fine-tuned) and the kept output channels of each pruned layer, by name.

    Never touches ``model``.  A layer whose rounded share keeps all channels is copied whole (absent from the dict).
    """
    steps = chain_steps(model, "channel pruning")
    prunable = prunable_layer_names(steps)
    if isinstance(config.keep_fraction, dict):
        unknown = sorted(set(config.keep_fraction) - set(prunable))
        if unknown:
            raise UserError(f"keep_fraction names layers {unknown} that channel pruning cannot shrink in "
                            f"{model.name!r}: prunable layers are {prunable} (the output layer is never pruned)")
    plan, kept_by_layer, kept, source = [], {}, None, None
    for step in steps:
        layer = step.layer
        if _has_units(layer):
            fraction = config.fraction_for(layer.name) if layer.name in prunable else 1.0
            layer_config, weights, kept = _slice_units(step, kept, fraction, config.criterion)
            if kept is not None:
                kept_by_layer[layer.name], source = kept, layer.name
                logging.info("channel pruning %-24s keeps %d of %d", layer.name, len(kept),
                             layer.get_weights()[0].shape[-1])
        elif kept is None:
            layer_config, weights = layer.get_config(), layer.get_weights()  # no channel dropped: copied as is
        else:
            weights, kept = _pass_channels(step, kept, source)
            layer_config = layer.get_config()
        plan.append((layer, layer_config, weights, step.call_kwargs))
    return rebuild_chain(model, plan), kept_by_layer


def prune_channels(model, dataset, config, compile_fn=None):
    """Removes the lowest-norm filters/units of every prunable layer, rebuilds a smaller dense model with the kept
    weights, and fine-tunes it ``config.epochs`` on ``dataset``; returns the new plain Keras model.

    ``compile_fn(model)`` compiles with the task's loss (default: logits + sparse labels at ``learning_rate``).
    """
    small, _ = shrink_channels(model, config)
    logging.info("channel pruning: %d -> %d parameters", count_params(model), count_params(small))
    return refit(small, dataset, config, compile_fn, "channel pruning")


def refit(model, dataset, config, compile_fn, what):
    """Trains a rebuilt (smaller) model ``config.epochs`` on ``dataset``: its kept weights need to adapt to what was
    removed.  ``compile_fn`` defaults to logits + sparse labels at ``config.learning_rate``."""
    if config.epochs:
        if dataset is None:
            raise UserError(f"{what} with epochs > 0 needs a training dataset for the re-fit: pass one, or set "
                            "epochs=0")
        (compile_fn or (lambda m: compile_for_logits(m, config.learning_rate)))(model)
        model.fit(dataset, epochs=config.epochs, callbacks=fit_callbacks(config, dataset), verbose=2)
    return model
