"""A held-out split of a streamed corpus, decided per window by its content, and the one pass that measures it.

The in-memory split permutes all windows and takes the first ``n`` as test; a stream cannot.  Here a window is held
out when a seeded hash of its token ids falls under ``rate``: the decision needs nothing but the window, so the
pass that collects the test set and the training stream (``streaming_mlm_dataset(keep=holdout.is_train)``) agree
without sharing state, whatever the shard, order or block size.  Identical windows go the same way, so a repeated
paragraph cannot leak from training into the test set.

``scan`` reads the stream once, before training: it collects the first ``max_eval`` held-out windows (the test set),
the first calibration windows, the number of training windows (a known step count: pruning schedules and progress
bars need one) and the unigram counts for the baseline, in memory bounded by the test set and the vocabulary.
"""
import dataclasses

import numpy as np

from keras_ssl.base.errors import UserError
from keras_ssl.data.streaming import stream_windows
from keras_ssl.data.text_shards import BLOCK_BYTES, shard_pieces
from keras_ssl.data.tokenizer import NUM_SPECIAL

_HASH_BUCKETS = 1 << 20


@dataclasses.dataclass(frozen=True)
class Holdout:
    """Holds out the windows whose seeded hash is below ``rate`` (a fraction of all windows, in expectation)."""
    seed: int
    rate: float

    def buckets(self, windows):
        """A pseudo-random bucket in [0, 2**20) per window row: a seeded multiply-add hash of its ids (vectorised)."""
        rng = np.random.default_rng([self.seed, 0x5EED])
        multipliers = rng.integers(1, 1 << 61, windows.shape[1], dtype=np.uint64) | np.uint64(1)
        with np.errstate(over="ignore"):  # wrap-around is the point of the hash
            mixed = (windows.astype(np.uint64) * multipliers).sum(axis=1, dtype=np.uint64)
            mixed ^= mixed >> np.uint64(29)
            mixed *= np.uint64(0xBF58476D1CE4E5B9)
            mixed ^= mixed >> np.uint64(32)
        return (mixed % np.uint64(_HASH_BUCKETS)).astype(np.int64)

    def is_test(self, windows):
        """Bool per row: held out."""
        return self.buckets(windows) < int(round(self.rate * _HASH_BUCKETS))

    def is_train(self, windows):
        """Bool per row: used for training (the complement of ``is_test``)."""
        return ~self.is_test(windows)


@dataclasses.dataclass
class StreamSplit:
    """What ``scan`` measured: test windows, calibration windows, training window count and unigram counts."""
    test: np.ndarray
    calibration: np.ndarray
    num_train: int
    num_held_out: int
    token_counts: np.ndarray  # per token id, over the training windows


def holdout_rate(num_tokens, seq_len, test_fraction, max_eval):
    """The hash rate that holds out about 1.5x ``max_eval`` windows (so the test set fills up across the corpus),
    and never more than ``test_fraction`` of them: a large corpus gives training everything but a few hundred."""
    windows = max(1, num_tokens // seq_len)
    return min(test_fraction, 1.5 * max_eval / windows)


def scan(paths, vocab, seq_len, holdout, max_eval, num_calibration, block_bytes=BLOCK_BYTES):
    """One pass over every file: see the module docstring.  UserError when nothing is held out or left to train."""
    test, calibration, num_train, num_held_out = [], [], 0, 0
    counts = np.zeros(len(vocab), np.int64)
    for windows in stream_windows(shard_pieces(paths), vocab, seq_len, block_bytes):
        held_out = holdout.is_test(windows)
        train = windows[~held_out]
        num_train += len(train)
        num_held_out += int(held_out.sum())
        counts += np.bincount(train.ravel(), minlength=len(vocab))
        if sum(map(len, test)) < max_eval:
            test.append(windows[held_out])
        if sum(map(len, calibration)) < num_calibration:
            calibration.append(train)
    if not num_train or not num_held_out:
        raise UserError(f"the streamed corpus gives {num_train} training and {num_held_out} held-out windows of "
                        f"{seq_len} tokens: both must be at least 1 (add text, lower --seq_len or raise "
                        "test_fraction)")
    counts[:NUM_SPECIAL] = 0
    return StreamSplit(test=np.concatenate(test)[:max_eval], calibration=np.concatenate(calibration)[:num_calibration],
                       num_train=num_train, num_held_out=num_held_out, token_counts=counts)
