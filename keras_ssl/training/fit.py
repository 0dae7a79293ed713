"""Shared training settings and the small helpers every stage uses (datasets, compile, accuracy)."""
import dataclasses
import math

import numpy as np

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf, tf_keras
from keras_ssl.data.epochs import array_dataset, epoch_sync, shard_by_data, with_epoch
from keras_ssl.training.backup import CheckedBackupAndRestore


@dataclasses.dataclass
class FitFields:
    """The fields every training step's config shares (each step sets its own defaults for the first two).

    ``log_dir`` enables TensorBoard for the step's fit (losses and metrics per epoch; empty = no logs);
    ``backup_dir`` holds its per-epoch backup (weights, optimizer and the technique's state: masks, centroids,
    quantizer ranges) that a rerun after a kill resumes from (see ``fit_callbacks``; empty = none).
    """
    epochs: int = 1
    learning_rate: float = 1e-3
    log_dir: str = ""
    backup_dir: str = ""


LR_SCHEDULES = ("constant", "cosine")


@dataclasses.dataclass
class TrainConfig(FitFields):
    """Settings for one Keras training stage; invalid values raise UserError.

    ``min_steps`` lengthens the epochs of small datasets (see ``schedule_for``); ``log_dir`` enables TensorBoard;
    ``backup_dir`` per-epoch backups that let a killed fit resume (one folder per fit: it holds one model's state).
    """
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 1e-3
    # Tiny label subsets still get this many optimizer steps (1% of digits is one batch per pass).
    min_steps: int = 0
    # "cosine": the rate decays to 0 over the fit (Keras' CosineDecay).  On Fashion-MNIST it lifted the 2-conv
    # classifier from 91.1% to 92.1% test accuracy in 15 epochs (docs/results.md).
    lr_schedule: str = "constant"
    seed: int = 0
    verbose: int = 2

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1:
            raise UserError(f"epochs ({self.epochs}) and batch_size ({self.batch_size}) must be positive")
        if not self.learning_rate > 0:
            raise UserError(f"learning_rate={self.learning_rate} must be positive")
        if self.lr_schedule not in LR_SCHEDULES:
            raise UserError(f"unknown lr_schedule {self.lr_schedule!r}: use one of {', '.join(LR_SCHEDULES)}")

    def learning_rate_for(self, total_steps):
        """What the optimizer takes: the constant rate, or a schedule over ``total_steps`` steps."""
        if self.lr_schedule == "cosine":
            return tf_keras.optimizers.schedules.CosineDecay(self.learning_rate, decay_steps=max(1, total_steps))
        return self.learning_rate

    def schedule_for(self, num_examples):
        """(epochs, passes over the data per epoch) to train on ``num_examples``: ``epochs`` epochs, each of enough
        passes that together they reach ``min_steps`` steps.  Repeating a tiny subset within an epoch rather than
        running hundreds of one-step epochs: every Keras epoch has a fixed cost (callbacks, a backup, a new
        iterator), which dominated the demo's label-fraction study (docs/results.md)."""
        steps_per_pass = max(1, math.ceil(num_examples / self.batch_size))
        return self.epochs, max(1, math.ceil(self.min_steps / (steps_per_pass * self.epochs)))


def tensorboard(log_dir, *extra):
    """Keras TensorBoard callback writing under ``log_dir`` (nothing when it is empty): ``tensorboard --logdir``."""
    return [tf_keras.callbacks.TensorBoard(log_dir=log_dir, update_freq="epoch", profile_batch=0), *extra] \
        if log_dir else list(extra)


def fit_callbacks(config, data=None, logs=True):
    """The callbacks of every keras_ssl fit on ``data``: TensorBoard (``config.log_dir``, unless ``logs`` is False),
    the epoch sync of keyed datasets (resumed runs see the same batches), and, last so it saves after the others'
    epoch-end work (e.g. pruning's re-mask), per-epoch backup and resume in ``config.backup_dir``."""
    callbacks = tensorboard(config.log_dir if logs else "", *epoch_sync(data))
    if config.backup_dir:
        callbacks.append(CheckedBackupAndRestore(config.backup_dir))
    return callbacks


def classification_dataset(x, y, batch_size, seed=0, shuffle=True, passes=1):
    """Batched (float32 images, int64 labels) tf.data pipeline, reshuffled each pass when ``shuffle``, in an order
    keyed on (seed, epoch) so a resumed fit sees the same batches (see ``keras_ssl.data.epochs``); ``passes``
    passes over the data make one epoch."""
    ds, epoch_var = array_dataset((x.astype(np.float32), y.astype(np.int64)), batch_size, seed, shuffle, passes)
    return with_epoch(shard_by_data(ds.prefetch(tf.data.AUTOTUNE)), epoch_var)  # multi-worker: shard by element


def compile_for_logits(model, learning_rate, sparse_weighted=False):
    """Compiles a logits model for sparse labels; ``sparse_weighted`` counts accuracy only where weight > 0 (MLM).
    ``learning_rate`` is a number or a Keras schedule."""
    metric = tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    model.compile(optimizer=tf_keras.optimizers.Adam(learning_rate),
                  loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  weighted_metrics=[metric] if sparse_weighted else None,
                  metrics=None if sparse_weighted else [metric])
    return model


def classifier_accuracy(model, x, y, batch_size=256):
    """Top-1 accuracy of a classifier on ``(x, y)``; the outputs may be logits or probabilities."""
    logits = model.predict(x, batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(logits, axis=-1) == y))


def masked_token_accuracy(logits, labels, weights):
    """Top-1 accuracy at positions with weight > 0 only; UserError when there are none."""
    chosen = weights > 0
    if not chosen.any():
        raise UserError("no masked positions to score: the evaluation sequences are all padding")
    return float(np.mean(np.argmax(logits, axis=-1)[chosen] == labels[chosen]))
