"""Text corpora streamed from files, never loaded whole: a vocabulary counted block by block, and a tf.data MLM
pipeline sharded per worker that yields what ``mlm_dataset`` yields.

Each file is one document, as in ``load_text_files``: windows are packed across its lines and its last window is
padded, so unsharded streaming gives exactly ``to_sequences(load_text_files(paths), vocab, seq_len)``.

Tokenizing runs in Python (``split_words`` on 256 kB blocks) inside ``Dataset.from_generator``, not in-graph
(TextLineDataset + RE2 regex + StaticHashTable), because only Python gives exactly the in-memory ids: RE2 has no
back-references ("a run of one repeated mark" is spelled out for ASCII marks only), a different \\s and a simpler
Unicode lower-casing.  In-graph was faster only when it got both cores, and no faster under load from other jobs
(studies/streaming/README.md; docs/streaming.md, "Measurements behind the code"), and it would still need a
stateful scan to pack windows per file.  Python also leaves a core free for masking and training.
"""
import concurrent.futures
import multiprocessing

import numpy as np

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf
from keras_ssl.data.epochs import shard_by_data, step_seed, with_epoch
from keras_ssl.data.masking import MaskingConfig, mask_tokens, normalize_weights
from keras_ssl.data.text_shards import BLOCK_BYTES, count_piece, file_sizes, read_blocks, shard_pieces, split_pieces
from keras_ssl.data.tokenizer import NUM_SPECIAL, PAD_ID, Vocabulary

PIECE_BYTES = 64 << 20  # work unit of the parallel vocabulary pass


def count_words(paths, processes=1, block_bytes=BLOCK_BYTES):
    """(word counts, tokens) over ``paths``, streamed; memory grows with distinct words, not with the corpus.

    ``processes`` > 1 counts ~64 MB pieces in worker processes (spawned: no TensorFlow state is forked); it only
    pays on idle cores (docs/streaming.md, "Measurements behind the code").
    """
    if processes <= 1:
        file_sizes(paths)
        pieces = [(str(p), 0, None) for p in paths]
        results = (count_piece(piece, block_bytes) for piece in pieces)
    else:
        pieces = split_pieces(paths, PIECE_BYTES)
        pool = concurrent.futures.ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))
        results = _pool_results(pool, pieces, block_bytes)
    counts, tokens = {}, 0
    for piece_counts, piece_tokens in results:
        for word, n in piece_counts.items():
            counts[word] = counts.get(word, 0) + n
        tokens += piece_tokens
    return counts, tokens


def _pool_results(pool, pieces, block_bytes):
    with pool:
        yield from pool.map(count_piece, pieces, [block_bytes] * len(pieces))


def build_vocabulary(paths, vocab_size, processes=1, block_bytes=BLOCK_BYTES):
    """``Vocabulary.build`` over the files' text, counted by streaming: the same tokens in the same id order."""
    if vocab_size <= NUM_SPECIAL:
        raise UserError(f"vocab_size={vocab_size} must be larger than the {NUM_SPECIAL} special tokens")
    counts, _ = count_words(paths, processes, block_bytes)
    return Vocabulary.from_counts(counts, vocab_size)


def stream_windows(pieces, vocab, seq_len, block_bytes=BLOCK_BYTES, keep=None):
    """Yields int32 arrays [k, seq_len] of token-id windows, packed per piece like ``to_sequences`` per document.

    ``keep(windows)`` → bool per row, if given, filters them (e.g. ``Holdout.is_train``: the held-out test windows
    never reach training).
    """
    lookup = vocab.encode
    for piece in pieces:
        rest = np.zeros(0, np.int32)
        for block in read_blocks(*piece, block_bytes=block_bytes):
            ids = np.concatenate([rest, np.asarray(lookup(block), np.int32)])
            full = len(ids) // seq_len * seq_len
            if full:
                yield _kept(ids[:full].reshape(-1, seq_len), keep)
            rest = ids[full:]
        if len(rest) >= 2:  # like to_sequences: a 1-token tail has nothing to predict from
            yield _kept(np.concatenate([rest, np.full(seq_len - len(rest), PAD_ID, np.int32)])[None], keep)


def _kept(windows, keep):
    return windows if keep is None else windows[keep(windows)]


def check_pieces(pieces, num_shards=1, shard_index=0, block_bytes=BLOCK_BYTES):
    """Reads (decodes) every piece once: UserError now for non-UTF-8 bytes or a shard with no text at all."""
    has_text = False
    for piece in pieces:
        for block in read_blocks(*piece, block_bytes=block_bytes):
            has_text = has_text or not block.isspace()
    if not has_text:
        raise UserError(f"shard {shard_index} of {num_shards} has no text: give more files or lines than shards")


def streaming_mlm_dataset(paths, vocab, seq_len, batch_size, seed=0, num_shards=1, shard_index=0,
                          shuffle_buffer=1024, repeat=False, validate=True, config=None,
                          block_bytes=BLOCK_BYTES, keep=None, steps=None):
    """Batches of (inputs, labels, sample_weights) streamed from ``paths``: the structure ``mlm_dataset`` yields.

    Worker ``shard_index`` of ``num_shards`` reads its share (see ``shard_pieces``: whole files when there are at
    least ``num_shards``, else line-aligned byte ranges).  Windows (filtered by ``keep``, see ``stream_windows``) are
    shuffled within chunks of ``shuffle_buffer`` windows (0 keeps file order), batched, then masked per batch with
    ``mask_tokens`` and weighted by ``normalize_weights``.  Like ``mlm_dataset``, each pass's shuffle and masks are a
    pure function of (seed, epoch, step) (``keras_ssl.data.epochs``): a run resumed after a kill reads the epoch an
    uninterrupted run would, not epoch 0 again.  ``validate`` decodes this shard once up front so bad files fail here
    with a UserError rather than mid-training; ``repeat`` makes the stream endless (then pass ``steps_per_epoch`` to
    ``fit``; each pass over the files is one "epoch" of the keys).  ``steps``, when known (``stream_split.scan``
    counts them), is asserted as the cardinality: Keras progress bars and pruning schedules need it.

    Sharding: with ``num_shards`` = 1 the dataset is sharded by element under ``multi_worker`` like the in-memory
    datasets (every worker streams the files and trains on its slice of each global batch, so all workers run the
    same number of steps).  With explicit shards (``num_shards`` = workers, ``shard_index`` = this worker),
    tf.distribute's auto-sharding is off; shards may differ in length, so use ``repeat`` and ``steps_per_epoch``.
    """
    config = MaskingConfig() if config is None else config
    if seq_len < 2 or batch_size < 1:
        raise UserError(f"seq_len={seq_len} must be at least 2 and batch_size={batch_size} at least 1")
    pieces = shard_pieces(paths, num_shards, shard_index)
    if validate:
        check_pieces(pieces, num_shards, shard_index, block_bytes)
    vocab_size = len(vocab)
    with tf.device("/cpu:0"):
        epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="stream_epoch")

    @tf.autograph.experimental.do_not_convert  # no control flow; AutoGraph's gast fails on it ("Unknown node")
    def one_pass(_):
        epoch = epoch_var.assign_add(1) - 1
        ds = tf.data.Dataset.from_generator(lambda: stream_windows(pieces, vocab, seq_len, block_bytes, keep),
                                            output_signature=tf.TensorSpec([None, seq_len], tf.int32)).unbatch()
        if shuffle_buffer:
            # A stateless permutation inside each chunk of ``shuffle_buffer`` windows, keyed by (seed, epoch, chunk).
            # Not Dataset.shuffle: its seed cannot be a tensor once a global seed is set (set_random_seed).
            def permute(chunk, index):
                noise = tf.random.stateless_uniform(tf.shape(chunk)[:1], step_seed(seed + 7919, epoch, index))
                return tf.gather(chunk, tf.argsort(noise))

            chunks = tf.data.Dataset.zip((ds.batch(shuffle_buffer), tf.data.Dataset.counter()))
            ds = chunks.map(permute).unbatch()
        ds = tf.data.Dataset.zip((ds.batch(batch_size), tf.data.Dataset.counter()))

        def mask(ids, step):
            inputs, labels, weights = mask_tokens(ids, step_seed(seed, epoch, step), vocab_size, config)
            return inputs, labels, normalize_weights(weights)

        return ds.map(mask, num_parallel_calls=tf.data.AUTOTUNE)

    ds = (tf.data.Dataset.counter() if repeat else tf.data.Dataset.range(1)).flat_map(one_pass)
    if steps is not None and not repeat:
        ds = ds.apply(tf.data.experimental.assert_cardinality(steps))
    ds = ds.prefetch(tf.data.AUTOTUNE)
    if num_shards == 1:
        return with_epoch(shard_by_data(ds), epoch_var)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return with_epoch(ds.with_options(options), epoch_var)
