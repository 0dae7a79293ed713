"""Magnitude pruning with tfmot, with a schedule that provably reaches its target on small data.

tfmot's ``PolynomialDecay`` defaults to ``frequency=100``: on a few hundred steps the last update never happens and
the model stops short of the target.  Here the schedule's end step and frequency are derived from the real number
of training steps, the last ~30% of steps fine-tune at full sparsity, and the result is checked layer by layer.
"""
import dataclasses

import numpy as np
import tensorflow_model_optimization as tfmot
from absl import logging
from tensorflow_model_optimization.python.core.sparsity.keras import prune_registry, pruning_wrapper

from keras_ssl.compress.byo import describe_layers, flatten_nested
from keras_ssl.compress.prunable_layers import with_plain_recurrent_layers, with_prunable_recurrent_layers
from keras_ssl.errors import UserError
from keras_ssl.keras import tf_keras
from keras_ssl.ssl.training import fit_callbacks

SCHEDULES = ("polynomial", "constant")


@dataclasses.dataclass
class PruneConfig:
    """Magnitude-pruning settings; invalid values raise UserError.

    ``ramp_fraction`` of the training steps ramps sparsity up (the rest fine-tunes at ``target_sparsity``), with at
    most ``max_updates`` mask updates; ``schedule="constant"`` prunes to the target from step 0.
    """
    target_sparsity: float = 0.75
    initial_sparsity: float = 0.0
    schedule: str = "polynomial"
    epochs: int = 4
    learning_rate: float = 5e-4
    # Fraction of the training steps over which sparsity ramps up; the rest fine-tunes at the target.
    ramp_fraction: float = 0.7
    max_updates: int = 20
    log_dir: str = ""  # TensorBoard: losses, and tfmot's per-layer sparsity and threshold at each epoch
    backup_dir: str = ""  # per-epoch backup (weights, masks, pruning step) a killed run resumes from; empty = none

    def __post_init__(self):
        if not 0.0 <= self.initial_sparsity <= self.target_sparsity < 1.0:
            raise UserError(f"sparsity must satisfy 0 <= initial ({self.initial_sparsity}) <= "
                            f"target ({self.target_sparsity}) < 1")
        if self.schedule not in SCHEDULES:
            raise UserError(f"unknown pruning schedule {self.schedule!r}: use one of {SCHEDULES}")
        if self.epochs < 1:
            raise UserError(f"pruning epochs={self.epochs} must be at least 1")


def make_schedule(config, total_steps):
    """A tfmot schedule whose last mask update happens on a step that really runs (steps are 0..total-1)."""
    ramp_steps = min(int(total_steps * config.ramp_fraction), total_steps - 1)
    if config.schedule == "constant" or ramp_steps < 1:
        # One step of training leaves no room for a ramp: prune to the target at step 0.
        return tfmot.sparsity.keras.ConstantSparsity(config.target_sparsity, begin_step=0,
                                                     frequency=max(1, ramp_steps))
    updates = min(config.max_updates, ramp_steps)
    frequency = ramp_steps // updates
    return tfmot.sparsity.keras.PolynomialDecay(config.initial_sparsity, config.target_sparsity, begin_step=0,
                                                end_step=frequency * updates, frequency=frequency)


def prune_magnitude(model, dataset, config, compile_fn):
    """Prunes ``model`` while training on ``dataset`` (a batched tf.data.Dataset); returns the stripped model.

    ``compile_fn(model)`` compiles the wrapped model with the task's loss, so one function serves classifier and MLM.
    """
    steps_per_epoch = int(dataset.cardinality())
    if steps_per_epoch < 1:
        raise UserError("pruning needs a finite, non-empty training dataset")
    schedule = make_schedule(config, steps_per_epoch * config.epochs)
    prunable = with_prunable_recurrent_layers(flatten_nested(model))
    wrapped = wrap_prunable_layers(prunable, schedule)
    compile_fn(wrapped)
    callbacks = [tfmot.sparsity.keras.UpdatePruningStep()]
    if config.log_dir:
        callbacks.append(tfmot.sparsity.keras.PruningSummaries(log_dir=config.log_dir))
    # The pruning step, masks and thresholds are layer variables, so the backup carries them; it is saved after
    # UpdatePruningStep re-masks at epoch end.  logs=False: PruningSummaries already is the TensorBoard callback.
    callbacks += fit_callbacks(config, dataset, logs=False)
    wrapped.fit(dataset, epochs=config.epochs, callbacks=callbacks, verbose=2)
    per_weight = check_sparsity(wrapped, config.target_sparsity)
    stripped = with_plain_recurrent_layers(tfmot.sparsity.keras.strip_pruning(wrapped))
    zeros_kept = sum(np.count_nonzero(w.numpy() == 0) for w in stripped.weights)
    zeros_made = sum(np.count_nonzero(w.numpy() == 0) for w in pruned_weights(wrapped))
    if zeros_kept < zeros_made:
        raise RuntimeError(f"stripping lost sparsity: {zeros_made} zeros pruned, {zeros_kept} left")
    logging.info("pruned %d weights to sparsity >= %.3f (min %.3f)", len(per_weight), config.target_sparsity,
                 min(per_weight.values()))
    return stripped


def can_prune(layer):
    """Whether tfmot can wrap ``layer``: a registered layer type or a ``PrunableLayer``."""
    return prune_registry.PruneRegistry.supports(layer) or isinstance(layer, tfmot.sparsity.keras.PrunableLayer)


def wrap_prunable_layers(model, schedule):
    """Wraps every layer tfmot can prune; layers it cannot (e.g. TFOpLambda, Normalization in keras.applications
    models) stay as they are, each named in a log line, instead of failing the whole model."""
    skipped = [layer for layer in model.layers
               if not can_prune(layer) and not isinstance(layer, tf_keras.layers.InputLayer)]
    if skipped:
        logging.warning("not pruned (tfmot cannot wrap them; they stay dense): %s", describe_layers(skipped))

    def wrap(layer):
        if can_prune(layer) and not isinstance(layer, tf_keras.layers.InputLayer):
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer

    # Returning the layer objects themselves (wrapped or not) keeps their weights: ``model`` is already a copy.
    return tf_keras.models.clone_model(model, clone_function=wrap)


def pruned_weights(wrapped_model):
    """The variables the pruning wrappers mask (kernels, embeddings, recurrent kernels)."""
    return [weight for layer in wrapped_model.layers if isinstance(layer, pruning_wrapper.PruneLowMagnitude)
            for weight, _, _ in layer.pruning_vars]


def check_sparsity(wrapped_model, target, tolerance=0.01):
    """Each masked weight's sparsity, by name; raises if any stayed short of the target (or none was pruned)."""
    per_weight = {w.name: float(np.mean(w.numpy() == 0)) for w in pruned_weights(wrapped_model)}
    if not per_weight:
        raise RuntimeError("no weight was pruned: the model has no layer tfmot can prune")
    for name, value in per_weight.items():
        logging.info("sparsity %-50s %.3f", name, value)
    short = {name: value for name, value in per_weight.items() if value < target - tolerance}
    if short:
        raise RuntimeError(f"pruning stopped short of {target:.2f}: {short}")
    return per_weight
