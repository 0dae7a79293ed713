"""The text task's data, in memory or streamed from files: vocabulary, held-out masked set, training batches.

Both paths give the same ``TextSplit``, so pretraining, pruning, QAT, export and the benchmark do not care which one
ran.  In memory (the default): every document is tokenised and windowed, then a seeded permutation picks the test
windows.  Streamed (``TextTaskConfig.stream``, for corpora larger than memory): the vocabulary is counted block by
block, the test set is a seeded content hash (``keras_ssl.data.stream_split``), and training batches are read from
the files every epoch; memory stays bounded by the test set and the vocabulary.
"""
import dataclasses
import math
from typing import Callable

import numpy as np
from absl import logging

from keras_ssl.base.errors import UserError
from keras_ssl.data.masking import fixed_masked_set, guess_accuracy, mlm_dataset
from keras_ssl.data.stream_split import Holdout, holdout_rate, scan
from keras_ssl.data.streaming import count_words, streaming_mlm_dataset
from keras_ssl.data.text import load_corpus
from keras_ssl.data.tokenizer import NUM_SPECIAL, Vocabulary, to_sequences


@dataclasses.dataclass
class TextSplit:
    """A held-out masked set to score every artifact on, and the training side as a dataset factory.

    ``train_dataset(batch_size, seed)`` returns masked batches with a known cardinality; ``unigram_token`` is the most
    frequent real word of the training windows (the baseline guess); ``calibration`` are training windows.
    """
    eval_set: tuple  # (inputs, labels, weights), numpy
    calibration: np.ndarray
    num_train: int
    num_test: int
    unigram_token: int
    train_dataset: Callable
    streamed: bool = False
    validation: tuple = None  # (inputs, labels, weights) held out of training, for the search (in memory only)

    def unigram_accuracy(self):
        """Masked-token accuracy of always guessing ``unigram_token``: the floor an MLM must beat."""
        _, labels, weights = self.eval_set
        return guess_accuracy(self.unigram_token, labels, weights)


def split_sequences(sequences, test_fraction, max_eval, seed):
    """Seeded (train, test) split of a numpy array of sequences; at least 1 and at most ``max_eval`` test rows.

    Raises UserError for fewer than 4 sequences.
    """
    if len(sequences) < 4:
        raise UserError(f"the text corpus gives only {len(sequences)} sequences: at least 4 are needed "
                        "(add text or lower --seq_len)")
    order = np.random.default_rng(seed).permutation(len(sequences))
    n_test = min(max(1, int(len(sequences) * test_fraction)), max_eval)
    return sequences[order[n_test:]], sequences[order[:n_test]]


def _masked(test, vocab, seed):
    inputs, labels, weights = fixed_masked_set(test, len(vocab), seed=seed)
    if not (weights > 0).any():
        raise UserError("the held-out text has no maskable word: add text or raise --vocab_size")
    return inputs, labels, weights


def in_memory_split(docs, vocab, seq_len, task, seed, num_calibration, validation=False):
    """The split of tokenised ``docs`` (``task`` is a TextTaskConfig); ``validation`` also holds out as many windows
    as the test set from the training windows, masked ``task.validation_masks`` times over."""
    train, test = split_sequences(to_sequences(docs, vocab, seq_len), task.test_fraction, task.max_eval_sequences,
                                  seed)
    held_out = None
    if validation:
        train, val = split_sequences(train, task.test_fraction, task.max_eval_sequences, seed + 1)
        draws = [_masked(val, vocab, seed + 1 + 1000 * k) for k in range(task.validation_masks)]
        held_out = tuple(np.concatenate(parts) for parts in zip(*draws))
    ids = train.ravel()
    return TextSplit(eval_set=_masked(test, vocab, seed), calibration=train[:num_calibration], num_train=len(train),
                     num_test=len(test), unigram_token=int(np.bincount(ids[ids >= NUM_SPECIAL]).argmax()),
                     train_dataset=lambda batch_size, s: mlm_dataset(train, len(vocab), batch_size, seed=s),
                     validation=held_out)


def streamed_split(paths, vocab, seq_len, task, seed, num_calibration, num_tokens):
    """The split of ``paths`` read as a stream (one scan now, then one pass per training epoch)."""
    holdout = Holdout(seed, holdout_rate(num_tokens, seq_len, task.test_fraction, task.max_eval_sequences))
    found = scan(paths, vocab, seq_len, holdout, task.max_eval_sequences, num_calibration)
    logging.info("streamed split: %d training windows, %d held out (hash rate %.4g), %d used as the test set",
                 found.num_train, found.num_held_out, holdout.rate, len(found.test))

    def train_dataset(batch_size, s):
        return streaming_mlm_dataset(paths, vocab, seq_len, batch_size, seed=s, keep=holdout.is_train,
                                     steps=math.ceil(found.num_train / batch_size), validate=False)

    return TextSplit(eval_set=_masked(found.test, vocab, seed), calibration=found.calibration,
                     num_train=found.num_train, num_test=len(found.test),
                     unigram_token=int(found.token_counts.argmax()), train_dataset=train_dataset, streamed=True)


def load_text(task, text_files=(), seed=0, num_calibration=100, validation=False, vocab=None):
    """(vocabulary, TextSplit) for a TextTaskConfig over ``text_files`` (empty: the built-in corpus); ``validation``
    also holds out a masked validation set (in memory only); ``vocab`` given (an artifact's vocab.txt) is used as is."""
    if task.stream:
        if not text_files:
            raise UserError("--stream_text reads --text_files: pass one or more UTF-8 files (the built-in corpus is "
                            "small enough to load whole)")
        if task.max_docs:
            logging.info("max_docs=%d does not apply to a streamed corpus: every file is read", task.max_docs)
        counts, num_tokens = count_words(text_files)
        vocab = vocab or Vocabulary.from_counts(counts, task.mlm.vocab_size)
        return vocab, streamed_split(text_files, vocab, task.mlm.seq_len, task, seed, num_calibration, num_tokens)
    docs = load_corpus(text_files)
    if task.max_docs:
        docs = docs[:task.max_docs]
    vocab = vocab or Vocabulary.build(docs, task.mlm.vocab_size)
    return vocab, in_memory_split(docs, vocab, task.mlm.seq_len, task, seed, num_calibration, validation=validation)
