"""Collaborative QAT (tfmot): quantization-aware training that keeps what pruning or clustering gave.

Plain QAT fine-tunes every weight, so a pruned model's zeros and a clustered model's shared values are lost before
int8 conversion.  tfmot's collaborative schemes train with fake-quant while holding them:

- ``scheme="prune"`` (PQAT): ``tfmot.quantization.keras.collab_opts.Default8BitPrunePreserveQuantizeScheme``
  masks the zeros of Dense / Conv2D kernels during training;
- ``scheme="cluster"`` (CQAT): ``tfmot.experimental.combine.Default8BitClusterPreserveQuantizeScheme`` trains the
  centroids of an already clustered Dense / Conv2D kernel (``preserve_sparsity=True`` also keeps its zeros: PCQAT).

Layers are annotated as ``quantize.annotate`` does (whole model when ``quantize_model`` could take it; else only
``QATConfig.layers``, e.g. the MLM's Dense head).  Convert the result with ``to_tflite(model, "int8")``.
"""
import numpy as np
import tensorflow_model_optimization as tfmot
from absl import logging

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf_keras
from keras_ssl.compress.byo import describe_layers, flatten_nested
from keras_ssl.compress.quantize import ANNOTATABLE, annotate, unsupported_layers, whole_model_quantizable
from keras_ssl.training.fit import fit_callbacks

SCHEMES = ("prune", "cluster")
PRESERVED_KINDS = (tf_keras.layers.Dense, tf_keras.layers.Conv2D)  # what both collaborative registries preserve
MAX_CLUSTERS = 256  # more distinct values than int8 has levels: not clustered


def quantize_scheme(scheme, preserve_sparsity=True):
    """tfmot's collaborative 8-bit scheme for ``scheme`` ("prune" or "cluster")."""
    if scheme == "prune":
        return tfmot.quantization.keras.collab_opts.Default8BitPrunePreserveQuantizeScheme()
    if scheme == "cluster":
        return tfmot.experimental.combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=preserve_sparsity)
    raise UserError(f"unknown preserving-QAT scheme {scheme!r}: use one of {SCHEMES}")


def _check_preservable(model, config, scheme):
    """Refuses a model with nothing to preserve: no pruned (PQAT) / clustered (CQAT) kernel among the QAT layers."""
    kinds = PRESERVED_KINDS if whole_model_quantizable(flatten_nested(model)) else \
        tuple(k for k in PRESERVED_KINDS if k in [ANNOTATABLE[name] for name in config.layers])
    kernels = {layer.name: layer.kernel.numpy() for layer in flatten_nested(model).layers if isinstance(layer, kinds)}
    if scheme == "prune":
        kept = {name: round(float(np.mean(k == 0)), 3) for name, k in kernels.items()}
        found = [name for name, value in kept.items() if value > 0.01]
        what, fix = "pruned", "prune it first (keras_ssl.compress.prune.prune_magnitude)"
    else:
        kept = {name: int(np.unique(k).size) for name, k in kernels.items()}
        # Clustered: few distinct values, each shared by several weights (a tiny unclustered kernel is all distinct).
        found = [name for name, value in kept.items() if value <= min(MAX_CLUSTERS, kernels[name].size // 2)]
        what, fix = "clustered", "cluster it first (keras_ssl.compress.cluster.cluster_weights)"
    if not found:
        detail = "sparsity" if scheme == "prune" else "distinct values"
        raise UserError(f"model {model.name!r} has no {what} Dense/Conv2D kernel for {scheme}-preserving QAT "
                        f"({detail} per layer: {kept}): {fix}, or use plain QAT (quantize_aware)")
    logging.info("%s-preserving QAT keeps %s (%s per layer: %s)", scheme, found,
                 "sparsity" if scheme == "prune" else "distinct values", kept)


def preserving_qat(model, dataset, config, compile_fn, scheme="prune", preserve_sparsity=True):
    """QAT that keeps ``model``'s zeros (``scheme="prune"``) or clusters (``"cluster"``); returns the QAT model.

    ``config`` is a ``quantize.QATConfig``; ``preserve_sparsity`` only matters for "cluster" (keeps the zeros of a
    pruned-then-clustered model).  Convert the result with ``to_tflite(model, "int8")``.
    """
    quant_scheme = quantize_scheme(scheme, preserve_sparsity)
    if int(dataset.cardinality()) < 1:
        raise UserError(f"{scheme}-preserving QAT needs a finite, non-empty training dataset")
    _check_preservable(model, config, scheme)
    try:
        qat = annotate(model, config, quant_scheme)
    except (ValueError, RuntimeError, AttributeError, TypeError) as e:
        raise UserError(f"{scheme}-preserving QAT cannot wrap model {model.name!r} "
                        f"({str(e).strip().splitlines()[0][:120]}); layers without QAT support: "
                        f"{describe_layers(unsupported_layers(flatten_nested(model))) or 'none found'}") from None
    compile_fn(qat)
    qat.fit(dataset, epochs=config.epochs, verbose=2, callbacks=fit_callbacks(config, dataset))
    if scheme == "cluster":
        # Drops the training-only centroid, association and original-weight variables; the fake-quant wrappers
        # (and their learned ranges) stay for the converter.
        qat = tfmot.experimental.combine.strip_clustering_cqat(qat)
    return qat
