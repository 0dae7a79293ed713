"""Epoch-keyed tf.data pipelines: each epoch's order (and the MLM's masks) is a pure function of (seed, epoch, step).

Why not ``shuffle(reshuffle_each_iteration=True)`` / ``Dataset.random(rerandomize_each_iteration=True)``: they draw
each pass's seeds from a generator that counts the iterators made from one Dataset object.  A run resumed after a
kill (``BackupAndRestore``) builds a new Dataset, so its epoch k would replay epoch 0's order and masks, and the
resumed run would train on different batches than an uninterrupted one.  Here the epoch number is a variable read
when a pass starts: ``EpochSync`` (added by ``keras_ssl.training.fit.fit_callbacks``) sets it to Keras's epoch in
``on_epoch_begin``, before the first batch of that epoch is read (tf.data starts work on the first ``next``, not on
``iter``; ``tests/test_fault_tolerance.py`` checks it).  Used without the callback, the variable advances by one per
pass, so plain ``fit`` calls and ``next(iter(ds))`` still get a new order and new masks each epoch.
"""
import math

from keras_ssl.base.keras import tf, tf_keras

EPOCH_ATTRIBUTE = "keras_ssl_epoch"  # the tf.Variable a keyed dataset reads its epoch from


def keyed_batches(num_examples, batch_size, seed, shuffle=True, passes=1):
    """(dataset of (indices, epoch, step) batches for one epoch of ``passes`` passes over the data, epoch variable).

    Each pass's order is a stateless permutation of ``num_examples`` seeded by (seed, epoch * passes + pass); the
    cardinality is known (Keras progress bars and the pruning schedule need it).  ``passes`` > 1 makes one Keras
    epoch of a tiny data set long enough to be worth its fixed cost (callbacks, backup, a new iterator).
    """
    with tf.device("/cpu:0"):
        epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_epoch")
    steps_per_pass = max(1, math.ceil(num_examples / batch_size))
    steps = steps_per_pass * passes
    seed = tf.constant(seed, tf.int64)

    def one_epoch(_):
        epoch = epoch_var.assign_add(1) - 1

        def one_pass(index):
            order = tf.range(num_examples, dtype=tf.int32)
            if shuffle:
                key = epoch * passes + index
                order = tf.argsort(tf.random.stateless_uniform([num_examples], tf.stack([seed, key])))
            return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

        batches = tf.data.Dataset.range(passes).flat_map(one_pass)
        return tf.data.Dataset.zip((batches, tf.data.Dataset.range(steps))).map(lambda idx, step: (idx, epoch, step))

    ds = tf.data.Dataset.range(1).flat_map(one_epoch).apply(tf.data.experimental.assert_cardinality(steps))
    return ds, epoch_var


def step_seed(seed, epoch, step):
    """A shape-[2] stateless seed for one batch, distinct per (seed, epoch, step)."""
    return tf.random.experimental.stateless_fold_in(tf.stack([tf.constant(seed, tf.int64), epoch]), step)


def with_epoch(dataset, epoch_var):
    """Tags the finished ``dataset`` with its epoch variable, so ``fit_callbacks`` can keep it in step with Keras."""
    setattr(dataset, EPOCH_ATTRIBUTE, epoch_var)
    return dataset


def array_dataset(arrays, batch_size, seed=0, shuffle=True, passes=1):
    """Batches of a tuple of same-length numpy ``arrays``, reshuffled each pass in a (seed, epoch)-keyed order;
    ``passes`` passes per epoch."""
    tensors = tuple(tf.constant(a) for a in arrays)
    ds, epoch_var = keyed_batches(len(arrays[0]), batch_size, seed, shuffle, passes)
    ds = ds.map(lambda idx, epoch, step: tuple(tf.gather(t, idx) for t in tensors))
    return ds, epoch_var


class EpochSync(tf_keras.callbacks.Callback):
    """Sets a keyed dataset's epoch to the one Keras starts, so a resumed fit reads the batches an uninterrupted
    one would (Keras resumes at the backed-up epoch; the dataset alone would restart at 0)."""

    def __init__(self, epoch_var):
        super().__init__()
        self.epoch_var = epoch_var

    def on_epoch_begin(self, epoch, logs=None):
        """Runs after Keras made the epoch's iterator and before its first batch is read."""
        self.epoch_var.assign(epoch)


def epoch_sync(dataset):
    """``[EpochSync]`` for a dataset built here, ``[]`` for anything else (numpy arrays, other datasets)."""
    epoch_var = getattr(dataset, EPOCH_ATTRIBUTE, None)
    return [EpochSync(epoch_var)] if epoch_var is not None else []


def shard_by_data(dataset):
    """``dataset`` with multi-worker auto-sharding by element (DATA) instead of by file.

    Datasets built from in-memory tensors have no files to split, so the default AUTO policy falls back to DATA
    with a warning; saying it explicitly keeps logs clean.  Each worker then keeps its own slice of every global
    batch, which is only correct because our shuffles and masks are seeded (every worker sees the same order).
    Outside a multi-worker strategy the option is ignored.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
