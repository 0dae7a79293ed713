"""Lottery ticket: iterative magnitude pruning with weight rewinding (Frankle & Carbin 2019; rewinding to an early
epoch as in Frankle et al. 2020).

Round 0 trains the dense model.  Each of ``rounds`` rounds then prunes ``prune_per_round`` of each weight matrix's
remaining weights (smallest magnitude, per weight), rewinds the survivors to their saved early values (the initial
weights, or those after epoch k of round 0), and retrains with the mask held fixed, so after round r the sparsity
is 1 - (1 - p) ** r.  The mask is held by a callback that multiplies each masked weight by its 0/1 mask after every
batch: every forward pass sees exactly zero pruned weights and the returned model is plain Keras.
"""
import dataclasses
import numbers
import os

import numpy as np
from absl import logging

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf, tf_keras
from keras_ssl.compress.byo import copy_model
from keras_ssl.training.fit import compile_for_logits, fit_callbacks


@dataclasses.dataclass
class LotteryConfig:
    """Lottery-ticket settings; invalid values raise UserError.

    ``rewind_to`` is ``"init"`` (the weights the search starts from, or ``initial_weights``) or an epoch k of the
    dense round 0 (0 = before training, at most ``epochs_per_round``).  ``learning_rate`` is used when no
    ``compile_fn`` is given.  ``log_dir``/``backup_dir`` get one sub-folder per round (``round0``, ``round1``...).
    """
    rounds: int = 3
    prune_per_round: float = 0.2  # fraction of the weights still remaining that each round removes
    rewind_to: object = "init"
    epochs_per_round: int = 2
    learning_rate: float = 1e-3
    log_dir: str = ""  # TensorBoard run folders, one per round; empty = no logs
    backup_dir: str = ""  # per-epoch backups, one folder per round's fit; empty = none

    def __post_init__(self):
        if self.rounds < 1 or self.epochs_per_round < 1:
            raise UserError(f"lottery ticket needs rounds >= 1 and epochs_per_round >= 1, got {self.rounds} and "
                            f"{self.epochs_per_round}")
        if not 0.0 < self.prune_per_round < 1.0:
            raise UserError(f"prune_per_round={self.prune_per_round} must be in (0, 1) (the share of the remaining "
                            "weights each round prunes), e.g. 0.2")
        epoch = self.rewind_to
        if epoch != "init" and (isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral)
                                or not 0 <= epoch <= self.epochs_per_round):
            raise UserError(f"rewind_to={self.rewind_to!r} must be 'init' or an epoch of the dense round between 0 "
                            f"and epochs_per_round={self.epochs_per_round}")
        if not self.learning_rate > 0:
            raise UserError(f"lottery ticket learning_rate={self.learning_rate} must be positive")

    def target_sparsity(self, round_index):
        """The sparsity every pruned weight has after ``round_index`` rounds: 1 - (1 - p) ** r."""
        return 1.0 - (1.0 - self.prune_per_round) ** round_index

    def for_round(self, round_index):
        """This config with ``log_dir``/``backup_dir`` pointing at the round's own sub-folders (one fit each)."""
        sub = f"round{round_index}"
        return dataclasses.replace(self, log_dir=self.log_dir and os.path.join(self.log_dir, sub),
                                   backup_dir=self.backup_dir and os.path.join(self.backup_dir, sub))


def maskable_weights(model):
    """The weights the ticket prunes: trainable kernels, embeddings and recurrent kernels (2+ dimensions) of a
    model or of one layer."""
    return [w for w in model.trainable_weights if len(w.shape) >= 2]


def magnitude_mask(values, mask, sparsity):
    """A 0/1 mask pruning exactly round(sparsity * size) entries: those already masked first, then the smallest
    ``|values|``, so masks only ever grow (a pruned weight stays pruned)."""
    scores = np.where(mask > 0, np.abs(values), -1.0).ravel()
    order = np.argsort(scores, kind="stable")
    new = np.ones(values.size, dtype=values.dtype)
    new[order[:int(round(sparsity * values.size))]] = 0
    return new.reshape(values.shape)


class HoldMasks(tf_keras.callbacks.Callback):
    """Re-applies fixed 0/1 masks after every batch, so pruned weights stay exactly zero while the rest train."""

    def __init__(self, weights, masks):
        super().__init__()
        self.pairs = [(w, tf.constant(m, dtype=w.dtype)) for w, m in zip(weights, masks)]

    def apply(self):
        """Zeroes the pruned entries of every masked weight."""
        for weight, mask in self.pairs:
            weight.assign(weight * mask)

    def on_train_batch_end(self, batch, logs=None):
        """After the optimizer step: undo whatever it did to pruned weights."""
        self.apply()


class SaveWeightsAt(tf_keras.callbacks.Callback):
    """Keeps a copy of the model's weights at the end of epoch ``epoch`` (1-based): the rewind point."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch
        self.weights = None

    def on_epoch_end(self, epoch, logs=None):
        """Snapshots the weights once Keras's 0-based ``epoch`` + 1 reaches the requested epoch."""
        if epoch + 1 == self.epoch:
            self.weights = self.model.get_weights()


def _check_initial_weights(model, initial_weights):
    shapes = [tuple(w.shape) for w in model.get_weights()]
    given = [tuple(np.shape(w)) for w in initial_weights]
    if shapes != given:
        raise UserError(f"initial_weights do not match model {model.name!r}: {len(given)} arrays shaped {given[:4]}... "
                        f"vs {len(shapes)} shaped {shapes[:4]}...: pass the model's own get_weights() from before "
                        "training")


def lottery_ticket(model, dataset, config, compile_fn=None, initial_weights=None):
    """Finds a sparse "winning ticket" of ``model`` by train / prune / rewind / retrain rounds on ``dataset``.

    ``initial_weights`` (a ``get_weights()`` list) is the rewind point for ``rewind_to="init"``; default: the
    model's weights on entry.  Returns ``(sparse model, history)``: one row per round (round 0 = dense) with the
    target and measured sparsity of the pruned weights and the last epoch's training metrics.  ``model`` is not
    touched; ``compile_fn(model)`` compiles with the task's loss (default: logits + sparse labels).
    """
    compile_fn = compile_fn or (lambda m: compile_for_logits(m, config.learning_rate))
    work = copy_model(model)
    if initial_weights is not None:
        _check_initial_weights(work, initial_weights)
    rewind = [np.array(w) for w in initial_weights] if initial_weights is not None else work.get_weights()
    if config.rewind_to != "init":
        rewind = work.get_weights()  # epoch 0; replaced by the snapshot taken during the dense round
    snapshot = SaveWeightsAt(config.rewind_to) if config.rewind_to not in ("init", 0) else None
    targets = maskable_weights(work)
    if not targets:
        raise UserError(f"model {model.name!r} has no trainable kernel to prune: the lottery ticket needs Dense/Conv/"
                        "Embedding/recurrent weights")
    masks = [np.ones(w.shape, dtype=w.dtype.as_numpy_dtype) for w in targets]
    history = []
    for round_index in range(config.rounds + 1):
        callbacks = [snapshot] if snapshot and not round_index else []
        if round_index:
            masks = [magnitude_mask(w.numpy(), m, config.target_sparsity(round_index)) for w, m in zip(targets, masks)]
            work.set_weights(rewind)
            holder = HoldMasks(targets, masks)
            holder.apply()
            callbacks.append(holder)
        compile_fn(work)  # a fresh optimizer each round, as in the paper
        fit = work.fit(dataset, epochs=config.epochs_per_round, verbose=2,
                       callbacks=callbacks + fit_callbacks(config.for_round(round_index), dataset))
        if snapshot and not round_index:
            if snapshot.weights is None:
                raise UserError(f"the dense round resumed from a backup after epoch {config.rewind_to}, so the rewind "
                                f"point was not saved: delete {config.for_round(0).backup_dir} and run again")
            rewind = snapshot.weights
        row = {"round": round_index, "target_sparsity": config.target_sparsity(round_index),
               "sparsity": _sparsity(targets)}
        row.update({name: float(values[-1]) for name, values in fit.history.items()})
        logging.info("lottery round %d: sparsity %.3f (target %.3f), %s", round_index, row["sparsity"],
                     row["target_sparsity"], {k: v for k, v in row.items() if k not in ("round",)})
        history.append(row)
    return work, history


def _sparsity(weights):
    """Fraction of exact zeros over ``weights`` (the pruned ones)."""
    arrays = [w.numpy() for w in weights]
    return float(sum(np.count_nonzero(a == 0) for a in arrays) / sum(a.size for a in arrays))
