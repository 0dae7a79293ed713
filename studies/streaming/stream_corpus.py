"""A large synthetic UTF-8 corpus for the streaming benchmark: pydoc paragraphs sampled with a seed.

Real prose (same word statistics as the pipeline's default corpus), any size, written in ~8 MB slices so generating
a large corpus is quick (README.md beside this file has the time for 1 GB) and never holds more than one slice in
memory.
"""
import os
import re

import numpy as np

from keras_ssl.base.errors import UserError
from keras_ssl.data.text import load_pydoc_corpus

_SLICE_PARAGRAPHS = 1 << 15


def pydoc_paragraphs():
    """The pydoc topics cut at blank lines, each as UTF-8 bytes ending in a blank line."""
    paragraphs = [p.strip("\n") for doc in load_pydoc_corpus() for p in re.split(r"\n\s*\n", doc)]
    return [(p + "\n\n").encode("utf-8") for p in paragraphs if p.strip()]


def generate_corpus(folder, total_bytes, num_files=4, seed=0):
    """Writes ``num_files`` files (corpus_000.txt, ...) of together about ``total_bytes``; returns their paths."""
    if total_bytes < 1 or num_files < 1:
        raise UserError(f"corpus size ({total_bytes} bytes) and num_files ({num_files}) must be at least 1")
    paragraphs = pydoc_paragraphs()
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i in range(num_files):
        path = os.path.join(folder, f"corpus_{i:03d}.txt")
        target, written = total_bytes * (i + 1) // num_files - total_bytes * i // num_files, 0
        with open(path, "wb") as f:
            while written < target:
                chunk = b"".join(paragraphs[j] for j in rng.integers(0, len(paragraphs), _SLICE_PARAGRAPHS))
                if len(chunk) >= target - written:  # the last slice: end on a line end, never inside a character
                    chunk = chunk[:chunk.rfind(b"\n", 0, target - written) + 1]
                    written = target
                f.write(chunk)
                written += len(chunk)
        paths.append(path)
    return paths


def copy_prefix(src, dst, num_bytes):
    """Copies the first ``num_bytes`` of ``src`` to ``dst``, cut back to a line end; returns the bytes copied."""
    with open(src, "rb") as f:
        data = f.read(num_bytes)
    cut = data.rfind(b"\n") + 1 or len(data)
    with open(dst, "wb") as f:
        f.write(data[:cut])
    return cut
