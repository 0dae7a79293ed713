"""What the report measures about a model or artifact: size, gzip size, parameters and sparsity.

Gzip size matters because zeros (pruning) and repeated values (clustering) only shrink a download once compressed;
raw .tflite bytes hide that win.
"""
import gzip
import os

import numpy as np


def gzip_bytes(data):
    """Size of ``data`` gzipped at level 9 with a zero timestamp, so equal bytes always give equal sizes."""
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def file_sizes(path):
    """(size_bytes, gzip_bytes) of a file, or of all files under a folder (SavedModel)."""
    if os.path.isdir(path):
        files = sorted(os.path.join(root, f) for root, _, names in os.walk(path) for f in names)
    else:
        files = [path]
    blob = b"".join(open(f, "rb").read() for f in files)
    return len(blob), gzip_bytes(blob)


def count_params(model):
    """All weights' element count (trainable or not) as a plain int, safe to put in JSON."""
    return int(sum(np.prod(w.shape) for w in model.weights))


def _is_matrix(weight):
    """Kernels, embeddings and recurrent kernels: the weights pruning and clustering act on (not biases, norms)."""
    return len(weight.shape) >= 2


def layer_sparsity(model):
    """Fraction of exact zeros in each matrix-like weight, by weight name."""
    return {w.name: float(np.mean(w.numpy() == 0)) for w in model.weights if _is_matrix(w)}


def sparsity(model):
    """Fraction of exact zeros over all matrix-like weights of the model."""
    arrays = [w.numpy() for w in model.weights if _is_matrix(w)]
    total = sum(a.size for a in arrays)
    return float(sum(np.count_nonzero(a == 0) for a in arrays) / total) if total else 0.0
