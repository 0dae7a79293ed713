"""Magnitude pruning with tfmot, with a schedule that provably reaches its target on small data.

tfmot's ``PolynomialDecay`` defaults to ``frequency=100``: on a few hundred steps the last update never happens and
the model stops short of the target.  Here the schedule's end step and frequency are derived from the real number
of training steps, the last ~30% of steps fine-tune at full sparsity, and the result is checked layer by layer.

``per_layer`` gives single layers their own target (0.0 leaves a layer dense).  ``m_by_n=(2, 4)`` asks tfmot for
structured sparsity instead: in every group of 4 consecutive weights along the input-channel axis (Dense kernel
axis 0, Conv2D kernel axis 2: the last axis of the TFLite layout) at least 2 are zero, the pattern sparse kernels
accelerate.  tfmot 0.8.1 fixes that mask at the first training step (the schedule is ignored) and supports it only
for rank-2 and rank-4 weights (Dense, Embedding, LSTM kernels, Conv2D); other prunable layers stay dense.
"""
import dataclasses

import numpy as np
import tensorflow_model_optimization as tfmot
from absl import logging
from tensorflow_model_optimization.python.core.sparsity.keras import prune_registry, pruning_utils, pruning_wrapper

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf, tf_keras
from keras_ssl.base.metrics import layer_sparsity
from keras_ssl.compress.byo import check_per_layer, describe_layers, flatten_nested
from keras_ssl.compress.prunable_layers import (made_prunable, with_plain_recurrent_layers,
                                                with_prunable_recurrent_layers)
from keras_ssl.training.fit import FitFields, fit_callbacks

SCHEDULES = ("polynomial", "constant")
M_BY_N_RANKS = (2, 4)  # weight ranks tfmot's m_by_n mask (pruning_utils.weights_rearrange) can lay out


@dataclasses.dataclass
class PruneConfig(FitFields):
    """Magnitude-pruning settings; invalid values raise UserError.

    ``ramp_fraction`` of the training steps ramps sparsity up (the rest fine-tunes at ``target_sparsity``), with at
    most ``max_updates`` mask updates; ``schedule="constant"`` prunes to the target from step 0.  ``per_layer``
    maps layer names to their own target (0.0 = not pruned); ``m_by_n=(m, n)`` prunes m of every n consecutive
    weights instead of to a target (per_layer can then only exclude layers, with 0.0).
    """
    target_sparsity: float = 0.75
    initial_sparsity: float = 0.0
    schedule: str = "polynomial"
    epochs: int = 4
    learning_rate: float = 5e-4
    # Fraction of the training steps over which sparsity ramps up; the rest fine-tunes at the target.
    ramp_fraction: float = 0.7
    max_updates: int = 20
    per_layer: dict = dataclasses.field(default_factory=dict)  # layer name -> its own target; 0.0 = left dense
    m_by_n: tuple = ()  # e.g. (2, 4): structured sparsity, m zeros in every n consecutive weights

    def __post_init__(self):
        if not 0.0 <= self.initial_sparsity <= self.target_sparsity < 1.0:
            raise UserError(f"sparsity must satisfy 0 <= initial ({self.initial_sparsity}) <= "
                            f"target ({self.target_sparsity}) < 1")
        if self.schedule not in SCHEDULES:
            raise UserError(f"unknown pruning schedule {self.schedule!r}: use one of {SCHEDULES}")
        if self.epochs < 1:
            raise UserError(f"pruning epochs={self.epochs} must be at least 1")
        if not isinstance(self.per_layer, dict):
            raise UserError(f"per_layer must map layer names to values, got {type(self.per_layer).__name__}")
        for name, target in self.per_layer.items():
            if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0.0 <= target < 1.0:
                raise UserError(f"per-layer sparsity {target!r} for layer {name!r} is outside [0, 1): give a "
                                "fraction such as 0.5, or 0.0 to leave the layer dense")
        if self.m_by_n:
            m_n = self.m_by_n = tuple(self.m_by_n) if isinstance(self.m_by_n, (tuple, list)) else (self.m_by_n,)
            if len(m_n) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in m_n) \
                    or not 0 < m_n[0] < m_n[1]:
                raise UserError(f"m_by_n={self.m_by_n!r} must be two integers (m, n) with 0 < m < n, e.g. (2, 4)")
            graded = {name: target for name, target in self.per_layer.items() if target > 0}
            if graded:
                raise UserError(f"per-layer targets {graded} conflict with m_by_n={self.m_by_n}: with m_by_n every "
                                "pruned layer gets m/n; per_layer can only exclude layers (0.0)")


def make_schedule(config, total_steps, target=None):
    """A tfmot schedule whose last mask update happens on a step that really runs (steps are 0..total-1).

    ``target`` overrides ``config.target_sparsity`` (a layer's own target from ``per_layer``).
    """
    target = config.target_sparsity if target is None else float(target)
    initial = min(config.initial_sparsity, target)
    ramp_steps = min(int(total_steps * config.ramp_fraction), total_steps - 1)
    if config.schedule == "constant" or ramp_steps < 1:
        # One step of training leaves no room for a ramp: prune to the target at step 0.
        return tfmot.sparsity.keras.ConstantSparsity(target, begin_step=0, frequency=max(1, ramp_steps))
    updates = min(config.max_updates, ramp_steps)
    frequency = ramp_steps // updates
    return tfmot.sparsity.keras.PolynomialDecay(initial, target, begin_step=0, end_step=frequency * updates,
                                                frequency=frequency)


def prune_magnitude(model, dataset, config, compile_fn):
    """Prunes ``model`` while training on ``dataset`` (a batched tf.data.Dataset); returns the stripped model.

    ``compile_fn(model)`` compiles the wrapped model with the task's loss, so one function serves classifier and MLM.
    """
    steps_per_epoch = int(dataset.cardinality())
    if steps_per_epoch < 1:
        raise UserError("pruning needs a finite, non-empty training dataset")
    wrapped = prunable_copy(model, config, steps_per_epoch * config.epochs)
    compile_fn(wrapped)
    callbacks = [tfmot.sparsity.keras.UpdatePruningStep()]
    if config.log_dir:
        callbacks.append(tfmot.sparsity.keras.PruningSummaries(log_dir=config.log_dir))
    # The pruning step, masks and thresholds are layer variables, so the backup carries them; it is saved after
    # UpdatePruningStep re-masks at epoch end.  logs=False: PruningSummaries already is the TensorBoard callback.
    callbacks += fit_callbacks(config, dataset, logs=False)
    wrapped.fit(dataset, epochs=config.epochs, callbacks=callbacks, verbose=2)
    return strip_checked(wrapped, config)


def prunable_copy(model, config, total_steps):
    """A copy of ``model`` with tfmot's pruning wrappers, scheduled over ``total_steps`` training steps; train it
    with ``tfmot.sparsity.keras.UpdatePruningStep``, then ``strip_checked`` it."""
    prunable = with_prunable_recurrent_layers(flatten_nested(model))
    check_layer_names(prunable, config)
    return wrap_prunable_layers(prunable, make_schedule(config, total_steps), config=config, total_steps=total_steps)


def strip_checked(wrapped, config):
    """The plain model inside a trained ``prunable_copy``, once every layer reached its target (else UserError)."""
    per_weight = check_sparsity(wrapped, config.target_sparsity, per_layer=config.per_layer, m_by_n=config.m_by_n)
    stripped = with_plain_recurrent_layers(tfmot.sparsity.keras.strip_pruning(wrapped))
    zeros_kept = sum(np.count_nonzero(w.numpy() == 0) for w in stripped.weights)
    zeros_made = sum(np.count_nonzero(w.numpy() == 0) for w in pruned_weights(wrapped))
    if zeros_kept < zeros_made:
        raise RuntimeError(f"stripping lost sparsity: {zeros_made} zeros pruned, {zeros_kept} left")
    logging.info("pruned %d weights (min sparsity %.3f)", len(per_weight), min(per_weight.values()))
    return stripped


def can_prune(layer):
    """Whether tfmot can wrap ``layer``: a registered layer type or a ``PrunableLayer``."""
    return prune_registry.PruneRegistry.supports(layer) or isinstance(layer, tfmot.sparsity.keras.PrunableLayer)


def check_layer_names(model, config):
    """Refuses ``per_layer`` names that are not layers of ``model``, or that name a layer tfmot cannot prune."""
    check_per_layer(model, config.per_layer, can_mask, "prune")


def can_mask(layer):
    """Whether ``prune_magnitude`` masks weights of ``layer``: what ``per_layer`` may give a non-zero target.  A
    Bidirectional is made prunable first; DepthwiseConv2D is not: tfmot registers it with no prunable weight."""
    return made_prunable(layer) or (can_prune(layer) and bool(_weights_to_mask(layer)))


def _weights_to_mask(layer):
    """The weights tfmot's wrapper would mask in ``layer`` (a built, prunable layer)."""
    prunable = layer if isinstance(layer, tfmot.sparsity.keras.PrunableLayer) \
        else prune_registry.PruneRegistry.make_prunable(layer)
    return prunable.get_prunable_weights()


def _m_by_n_supported(layer):
    """Whether every weight tfmot would mask in ``layer`` has a rank the m_by_n mask supports (2 or 4)."""
    return all(len(w.shape) in M_BY_N_RANKS for w in _weights_to_mask(layer))


def wrap_prunable_layers(model, schedule, config=None, total_steps=None):
    """Wraps every layer tfmot can prune; layers it cannot (e.g. TFOpLambda, Normalization in keras.applications
    models) stay as they are, each named in a log line, instead of failing the whole model.

    With a ``config``, layers with a ``per_layer`` target get their own schedule over ``total_steps`` (0.0: not
    wrapped) and ``config.m_by_n`` is passed to tfmot (layers whose weights it cannot lay out stay dense).
    """
    config = config or PruneConfig()
    skipped = [layer for layer in model.layers
               if not can_prune(layer) and not isinstance(layer, tf_keras.layers.InputLayer)]
    if skipped:
        logging.warning("not pruned (tfmot cannot wrap them; they stay dense): %s", describe_layers(skipped))
    excluded = [name for name, target in config.per_layer.items() if target == 0]
    if excluded:
        logging.info("not pruned (per-layer sparsity 0.0): %s", excluded)
    if config.m_by_n:
        no_m_by_n = [layer for layer in model.layers if can_prune(layer) and not _m_by_n_supported(layer)]
        if no_m_by_n:
            logging.warning("not pruned (tfmot's m_by_n mask needs rank-2 or rank-4 weights): %s",
                            describe_layers(no_m_by_n))

    def wrap(layer):
        if not can_prune(layer) or isinstance(layer, tf_keras.layers.InputLayer) or layer.name in excluded:
            return layer
        if config.m_by_n:
            if not _m_by_n_supported(layer):
                return layer
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule,
                                                            sparsity_m_by_n=config.m_by_n)
        own = schedule
        if layer.name in config.per_layer:
            own = make_schedule(config, total_steps, target=config.per_layer[layer.name])
        return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=own)

    # Returning the layer objects themselves (wrapped or not) keeps their weights: ``model`` is already a copy.
    return tf_keras.models.clone_model(model, clone_function=wrap)


def pruned_weights(wrapped_model):
    """The variables the pruning wrappers mask (kernels, embeddings, recurrent kernels)."""
    return [weight for layer in wrapped_model.layers if isinstance(layer, pruning_wrapper.PruneLowMagnitude)
            for weight, _, _ in layer.pruning_vars]


def m_by_n_holds(weight, m_by_n):
    """Whether every group of n consecutive values along tfmot's m_by_n axis (the input channels) has >= m zeros.

    A last, partial group counts its missing values as zeros, as tfmot's mask does (it pads with zeros).
    """
    m, n = m_by_n
    rows = pruning_utils.weights_rearrange(tf.convert_to_tensor(weight)).numpy()
    pad = (-rows.shape[1]) % n
    groups = np.pad(rows, [(0, 0), (0, pad)]).reshape(rows.shape[0], -1, n)
    return bool(np.all(np.count_nonzero(groups == 0, axis=-1) >= m))


def check_sparsity(wrapped_model, target, tolerance=0.01, per_layer=None, m_by_n=()):
    """Each masked weight's sparsity, by name; raises if any stayed short of its layer's target (or none was pruned).

    ``per_layer`` (layer name -> target) overrides ``target`` for those layers; with ``m_by_n`` each weight must
    hold the m-of-n pattern instead.
    """
    per_layer = per_layer or {}
    per_weight, short = {}, {}
    for layer in wrapped_model.layers:
        if not isinstance(layer, pruning_wrapper.PruneLowMagnitude):
            continue
        own = per_layer.get(layer.layer.name, target)
        for weight, _, _ in layer.pruning_vars:
            value = float(np.mean(weight.numpy() == 0))
            per_weight[weight.name] = value
            logging.info("sparsity %-50s %.3f (target %s)", weight.name, value, m_by_n or f"{own:.2f}")
            if m_by_n and not m_by_n_holds(weight, m_by_n):
                short[weight.name] = f"not {m_by_n[0]}:{m_by_n[1]}"
            elif not m_by_n and value < own - tolerance:
                short[weight.name] = f"{value:.3f} < {own:.2f}"
    if not per_weight:
        raise RuntimeError("no weight was pruned: the model has no layer tfmot can prune")
    if short:
        raise RuntimeError(f"pruning stopped short of its targets: {short}")
    return per_weight


def sparsity_report(model):
    """One row per matrix-like weight (layer, weight, shape, sparsity, zeros, size): what pruning left in a model.

    Works on plain and wrapped models; a wrapper's masks are skipped so each weight shows once.
    """
    rows = []
    for layer in model.layers:
        inner = layer.layer if isinstance(layer, pruning_wrapper.PruneLowMagnitude) else layer
        for name, value in layer_sparsity(inner).items():
            weight = next(w for w in inner.weights if w.name == name)
            size = int(np.prod(weight.shape))
            rows.append({"layer": inner.name, "weight": name, "shape": list(weight.shape), "sparsity": value,
                         "zeros": int(round(value * size)), "size": size})
    return rows
