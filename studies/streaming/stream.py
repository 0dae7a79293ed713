"""The streaming-text benchmark behind ``studies/streaming/main.py``: throughput and peak memory.

Phases, each with its own peak RSS (see ``memory.measured``): the streamed vocabulary pass, the streamed MLM
dataset pass, a tokenizer comparison (Python ``split_words`` vs an in-graph RE2 + StaticHashTable tokenizer) and,
in fresh child processes, the in-memory path (``load_text_files`` → ``to_sequences`` → ``mlm_dataset``) against
streaming on growing prefixes of the corpus, to show which one's memory grows with the corpus.
"""
import concurrent.futures
import dataclasses
import multiprocessing
import os
import re
import time

import numpy as np

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf
from keras_ssl.data.streaming import count_words, streaming_mlm_dataset
from keras_ssl.data.text_shards import read_blocks
from keras_ssl.data.tokenizer import OOV_ID, Vocabulary
from studies.streaming.memory import measured
from studies.streaming.stream_corpus import copy_prefix

MB = 1 << 20


@dataclasses.dataclass
class StreamBenchmarkConfig:
    """What to measure; ``max_seconds`` = 0 streams the whole corpus, ``prefix_mb`` are the in-memory sizes."""
    vocab_size: int = 2000
    seq_len: int = 32
    batch_size: int = 256
    max_seconds: float = 0.0
    vocab_processes: int = 1
    prefix_mb: tuple = (8, 16, 32)
    tokenizer_mb: int = 16
    seed: int = 0

    def __post_init__(self):
        if self.vocab_processes < 1 or self.batch_size < 1 or self.seq_len < 2 or self.max_seconds < 0:
            raise UserError("vocab_processes and batch_size must be >= 1, seq_len >= 2, max_seconds >= 0")


def vocab_phase(paths, config):
    """Builds the vocabulary by streaming; returns (vocabulary, stats with tokens/s)."""
    with measured() as stats:
        counts, tokens = count_words(paths, config.vocab_processes)
        vocab = Vocabulary.from_counts(counts, config.vocab_size)
    stats.update(tokens=tokens, distinct_words=len(counts), tokens_per_s=tokens / stats["seconds"],
                 processes=config.vocab_processes)
    return vocab, stats


def dataset_phase(paths, vocab, config):
    """Iterates the streamed MLM dataset (all of it, or ``max_seconds``): windows, real tokens, tokens/s."""
    with measured() as stats:
        start = time.perf_counter()
        ds = streaming_mlm_dataset(paths, vocab, config.seq_len, config.batch_size, seed=config.seed)
        stats["validate_seconds"] = time.perf_counter() - start
        start, batches, windows, tokens, complete = time.perf_counter(), 0, 0, 0, True
        for _, labels, _ in ds:
            labels = labels.numpy()
            batches, windows, tokens = batches + 1, windows + len(labels), tokens + int(np.count_nonzero(labels))
            if config.max_seconds and time.perf_counter() - start >= config.max_seconds:
                complete = False
                break
        stats["iterate_seconds"] = time.perf_counter() - start
    stats.update(batches=batches, windows=windows, tokens=tokens, complete=complete,
                 tokens_per_s=tokens / stats["iterate_seconds"])
    return stats


def graph_tokenizer(vocab):
    """In-graph tokenizer + lookup, for comparison only: RE2 has no back-references, so runs of a repeated mark
    are spelled out for ASCII marks; a run of one non-ASCII mark (e.g. "——") becomes one token per mark here."""
    marks = [c for c in map(chr, range(33, 127)) if not c.isalnum() and c != "_"]
    pattern = "[a-z0-9_]+|" + "|".join(re.escape(c) + "+" for c in marks) + r"|[^\s\x00-\x7f]"
    table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant(vocab.tokens), tf.range(len(vocab), dtype=tf.int32)), OOV_ID)

    def tokenize(lines):
        text = tf.strings.regex_replace(tf.strings.lower(lines, encoding="utf-8"), pattern, r" \0 ")
        return table.lookup(tf.strings.split(text)).flat_values
    return tokenize


def tokenizer_phase(path, vocab, num_bytes, folder):
    """Tokens/s of Python (``vocab.encode`` on blocks, one core) vs in-graph (TextLineDataset, parallel map)."""
    prefix = os.path.join(folder, "tokenizer_prefix.txt")
    size = copy_prefix(path, prefix, num_bytes)
    try:
        start, cpu = time.perf_counter(), time.process_time()
        py_tokens = sum(len(vocab.encode(block)) for block in read_blocks(prefix))
        py_seconds, py_cpu = time.perf_counter() - start, time.process_time() - cpu
        tokenize = graph_tokenizer(vocab)
        ds = tf.data.TextLineDataset(prefix).batch(4096)
        ds = ds.map(lambda x: tf.size(tokenize(x)), num_parallel_calls=tf.data.AUTOTUNE)
        start, cpu = time.perf_counter(), time.process_time()
        graph_tokens = sum(int(n) for n in ds)
        graph_seconds, graph_cpu = time.perf_counter() - start, time.process_time() - cpu
        head = next(read_blocks(prefix, 0, MB))
        same = tokenize(tf.constant(head.splitlines())).numpy().tolist() == vocab.encode(head)
    finally:
        os.remove(prefix)
    return {"bytes": size, "python_tokens_per_s": py_tokens / py_seconds, "graph_tokens_per_s":
            graph_tokens / graph_seconds, "python_tokens": py_tokens, "graph_tokens": graph_tokens,
            "python_cpu_seconds": py_cpu, "graph_cpu_seconds": graph_cpu, "ids_equal_on_first_mb": same}


def prefix_memory(path, mode, config):
    """Runs in a fresh process: peak RSS growth of the in-memory or streaming path over one file, one pass."""
    from keras_ssl.data.masking import mlm_dataset
    from keras_ssl.data.streaming import build_vocabulary
    from keras_ssl.data.text import load_text_files
    from keras_ssl.data.tokenizer import to_sequences

    tf.constant(0)  # TensorFlow's own start-up memory is not the data's
    with measured() as stats:
        if mode == "in_memory":
            docs = load_text_files([path])
            vocab = Vocabulary.build(docs, config.vocab_size)
            sequences = to_sequences(docs, vocab, config.seq_len)
            ds = mlm_dataset(sequences, len(vocab), config.batch_size, seed=config.seed)
        else:
            vocab = build_vocabulary([path], config.vocab_size)
            ds = streaming_mlm_dataset([path], vocab, config.seq_len, config.batch_size, seed=config.seed)
        windows = sum(len(labels) for _, labels, _ in ds)
    return {"mode": mode, "bytes": os.path.getsize(path), "windows": windows, **stats}


def prefix_phase(path, config, folder):
    """``prefix_memory`` for each ``prefix_mb``, in-memory and streaming, each in its own spawned process."""
    rows = []
    for mb in config.prefix_mb:
        prefix = os.path.join(folder, f"prefix_{mb}mb.txt")
        copy_prefix(path, prefix, mb * MB)
        try:
            for mode in ("in_memory", "streaming"):
                with concurrent.futures.ProcessPoolExecutor(
                        1, mp_context=multiprocessing.get_context("spawn")) as pool:
                    rows.append(pool.submit(prefix_memory, prefix, mode, config).result())
        finally:
            os.remove(prefix)
    return rows
