"""BERT-style masking as a seeded tf.data pipeline.

15% of the real tokens (not padding or special ids) are chosen; of those 80% become [MASK], 10% a random word and
10% stay as they are.  Labels are the original ids; the sample weight is 1 exactly at the chosen positions, so the
loss and the masked-token accuracy only count what the model had to predict.  Masks are redrawn every epoch
(dynamic masking) yet reproducible from one seed: each batch's masks are keyed on (seed, epoch, step).
"""
import dataclasses

import numpy as np

from keras_ssl.base.keras import tf
from keras_ssl.data.epochs import keyed_batches, shard_by_data, step_seed, with_epoch
from keras_ssl.data.tokenizer import MASK_ID, NUM_SPECIAL


@dataclasses.dataclass(frozen=True)
class MaskingConfig:
    """BERT masking rates, as fractions.

    ``mask_rate`` of the real tokens are chosen; of those, ``mask_token_fraction`` become [MASK],
    ``random_token_fraction`` a random word, and the rest stay as they are.
    """
    mask_rate: float = 0.15
    mask_token_fraction: float = 0.8
    random_token_fraction: float = 0.1


def mask_tokens(token_ids, seed, vocab_size, config=None):
    """Returns (inputs, labels, sample_weights) for int32 ``token_ids`` of any shape; ``seed`` is a shape-[2] int."""
    config = MaskingConfig() if config is None else config
    token_ids = tf.convert_to_tensor(token_ids, tf.int32)
    shape = tf.shape(token_ids)
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
    choose = tf.random.stateless_uniform(shape, seeds[0])
    action = tf.random.stateless_uniform(shape, seeds[1])
    random_ids = tf.random.stateless_uniform(shape, seeds[2], minval=NUM_SPECIAL, maxval=vocab_size, dtype=tf.int32)
    selected = (token_ids >= NUM_SPECIAL) & (choose < config.mask_rate)
    to_mask = selected & (action < config.mask_token_fraction)
    to_random = selected & ~to_mask & (action < config.mask_token_fraction + config.random_token_fraction)
    inputs = tf.where(to_mask, MASK_ID, tf.where(to_random, random_ids, token_ids))
    return inputs, token_ids, tf.cast(selected, tf.float32)


def mlm_dataset(sequences, vocab_size, batch_size, seed=0, shuffle=True, config=None):
    """A tf.data pipeline of masked batches; order and masks change each epoch and are a pure function of
    (seed, epoch, step), so a run resumed from a backup sees the batches an uninterrupted one does (see epochs.py)."""
    config = MaskingConfig() if config is None else config
    ds, epoch_var = keyed_batches(len(sequences), batch_size, seed, shuffle)
    table = tf.constant(np.asarray(sequences, np.int32))

    def masked_batch(idx, epoch, step):
        inputs, labels, weights = mask_tokens(tf.gather(table, idx), step_seed(seed, epoch, step), vocab_size, config)
        return inputs, labels, normalize_weights(weights)

    ds = ds.map(masked_batch, num_parallel_calls=tf.data.AUTOTUNE)
    return with_epoch(shard_by_data(ds.prefetch(tf.data.AUTOTUNE)), epoch_var)  # multi-worker: shard by element


def normalize_weights(weights):
    """Rescales a batch's 0/1 weights to mean 1.

    Keras divides a weighted loss by the number of positions, not by the weight sum; with 15% of positions masked
    the gradient would be ~7x too small and the MLM stalls at the unigram guess.  After this, the loss is the mean
    over masked positions.  Weighted accuracy is unchanged (it normalises by the weights itself).
    """
    weights = tf.convert_to_tensor(weights, tf.float32)
    total = tf.reduce_sum(weights)
    return tf.math.divide_no_nan(weights * tf.cast(tf.size(weights), tf.float32), total)


def fixed_masked_set(sequences, vocab_size, seed=0, config=None):
    """One frozen draw of masks as numpy arrays, so every artifact is scored on the same masked positions."""
    config = MaskingConfig() if config is None else config
    inputs, labels, weights = mask_tokens(np.asarray(sequences, np.int32), [seed, 1], vocab_size, config)
    return inputs.numpy(), labels.numpy(), weights.numpy()


def guess_accuracy(token_id, labels, weights):
    """Masked-token accuracy of always guessing ``token_id``."""
    return float(np.mean(labels[weights > 0] == token_id))


def unigram_accuracy(train_sequences, labels, weights):
    """Masked-token accuracy of always guessing the most frequent real word: the floor an MLM must beat.

    Returns (accuracy, token id)."""
    ids = np.asarray(train_sequences).ravel()
    most_common = int(np.bincount(ids[ids >= NUM_SPECIAL]).argmax())
    return guess_accuracy(most_common, labels, weights), most_common
