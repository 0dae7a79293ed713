"""Weight clustering with tfmot: each clustered weight keeps at most ``number_of_clusters`` distinct values.

Clustering alone leaves the file size as is (still one float per weight); the win shows after compression: the
int8 weights of a clustered model repeat a few values, so a gzipped .tflite shrinks.  tfmot 0.8.1 clusters Dense,
Conv kernels, Embedding tables and the cells of RNN layers (Bidirectional LSTM included, via ``ClusterWeightsRNN``:
input and recurrent kernels of both directions), so no custom ``ClusterableLayer`` is needed here; layers tfmot
cannot cluster (e.g. TFOpLambda) stay as they are, named in a warning.  ``preserve_sparsity=True`` keeps a pruned
model's zeros (tfmot's sparsity-preserving clustering: the zero cluster is frozen, pruned weights stay masked).
"""
import dataclasses

import numpy as np
import tensorflow_model_optimization as tfmot
from absl import logging
from tensorflow_model_optimization.python.core.clustering.keras import cluster_wrapper, clustering_registry
from tensorflow_model_optimization.python.core.clustering.keras.cluster import layer_has_enough_weights_to_cluster

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf_keras
from keras_ssl.compress.byo import check_per_layer, copy_model, describe_layers, flatten_nested
from keras_ssl.training.fit import FitFields, fit_callbacks

CENTROID_INITS = {"kmeans_plus_plus": "KMEANS_PLUS_PLUS", "density_based": "DENSITY_BASED", "linear": "LINEAR",
                  "random": "RANDOM"}


@dataclasses.dataclass
class ClusterConfig(FitFields):
    """Weight-clustering settings; invalid values raise UserError.

    ``per_layer`` maps layer names to their own number of clusters (0 = that layer is not clustered).
    """
    number_of_clusters: int = 16
    centroid_init: str = "kmeans_plus_plus"  # one of CENTROID_INITS
    epochs: int = 2
    learning_rate: float = 1e-4  # fine-tuning moves the centroids; small, the model is already trained
    preserve_sparsity: bool = False  # keep the zeros of a pruned model (tfmot's sparsity-preserving clustering)
    per_layer: dict = dataclasses.field(default_factory=dict)  # layer name -> number of clusters; 0 = not clustered

    def __post_init__(self):
        if not _is_int(self.number_of_clusters) or self.number_of_clusters < 2:
            raise UserError(f"number_of_clusters={self.number_of_clusters!r} must be an integer >= 2 (one value "
                            "per weight would not compress anything); try 16")
        if self.centroid_init not in CENTROID_INITS:
            raise UserError(f"unknown centroid_init {self.centroid_init!r}: use one of {sorted(CENTROID_INITS)}")
        if self.epochs < 1 or not self.learning_rate > 0:
            raise UserError(f"clustering needs epochs >= 1 and a positive learning rate, got {self.epochs}, "
                            f"{self.learning_rate}")
        if not isinstance(self.per_layer, dict):
            raise UserError(f"per_layer must map layer names to values, got {type(self.per_layer).__name__}")
        for name, clusters in self.per_layer.items():
            if not _is_int(clusters) or clusters == 1 or clusters < 0:
                raise UserError(f"per-layer number of clusters {clusters!r} for layer {name!r} must be an integer "
                                ">= 2, or 0 to leave the layer unclustered")

    def clusters_for(self, layer_name):
        """How many clusters ``layer_name`` gets: its per-layer value, else ``number_of_clusters`` (0 = none)."""
        return self.per_layer.get(layer_name, self.number_of_clusters)


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def can_cluster(layer):
    """Whether tfmot can cluster ``layer`` and it has weights to cluster (layers without weights need no wrapper)."""
    if isinstance(layer, tfmot.clustering.keras.ClusterableLayer):
        return True
    return bool(layer.trainable_weights) and clustering_registry.ClusteringRegistry.supports(layer)


def _check_layer_names(model, config):
    check_per_layer(model, config.per_layer, can_cluster, "cluster")


def wrap_clusterable_layers(model, config):
    """Wraps each layer tfmot can cluster with its number of clusters; the others stay as they are (logged).

    ``model`` must be a copy: its layer objects (and their trained weights) go into the wrapped model.
    """
    skipped = [layer for layer in model.layers if layer.trainable_weights and not can_cluster(layer)]
    if skipped:
        logging.warning("not clustered (tfmot cannot cluster them; they keep all their values): %s",
                        describe_layers(skipped))
    init = getattr(tfmot.clustering.keras.CentroidInitialization, CENTROID_INITS[config.centroid_init])

    def wrap(layer):
        clusters = config.clusters_for(layer.name)
        if isinstance(layer, tf_keras.layers.InputLayer) or not clusters or not can_cluster(layer):
            return layer
        # The public cluster_weights forwards preserve_sparsity to tfmot's sparsity-preserving clustering.
        return tfmot.clustering.keras.cluster_weights(
            layer, number_of_clusters=clusters, cluster_centroids_init=init,
            preserve_sparsity=config.preserve_sparsity)

    return tf_keras.models.clone_model(model, clone_function=wrap)


def cluster_weights(model, dataset, config, compile_fn):
    """Clusters ``model``'s weights and fine-tunes the centroids on ``dataset``; returns a plain Keras model.

    ``compile_fn(model)`` compiles the wrapped model with the task's loss (as for pruning and QAT).
    """
    if int(dataset.cardinality()) < 1:
        raise UserError("clustering needs a finite, non-empty training dataset")
    flat = copy_model(flatten_nested(model))
    _check_layer_names(flat, config)
    wrapped = wrap_clusterable_layers(flat, config)
    if not any(isinstance(layer, cluster_wrapper.ClusterWeights) for layer in wrapped.layers):
        raise UserError(f"model {model.name!r} has no layer tfmot can cluster (Dense, Conv, Embedding, LSTM)")
    compile_fn(wrapped)
    wrapped.fit(dataset, epochs=config.epochs, verbose=2, callbacks=fit_callbacks(config, dataset))
    stripped = tfmot.clustering.keras.strip_clustering(wrapped)
    for row in cluster_report(stripped, config):
        logging.info("clustered %-45s %4d unique values (<= %d)", row["weight"], row["unique"], row["clusters"])
    return stripped


def _clusterable_weights(layer, clusters):
    """The weights tfmot clusters in ``layer`` (a plain, built layer), as tfmot's registry chooses them."""
    registry = clustering_registry.ClusteringRegistry
    if isinstance(layer, (tf_keras.layers.RNN, tf_keras.layers.Bidirectional)):
        return [w for cell in registry._get_rnn_cells(layer) for w in (cell.kernel, cell.recurrent_kernel)]
    if isinstance(layer, tf_keras.layers.Conv2D) and not layer_has_enough_weights_to_cluster(layer, clusters, False):
        return []  # tfmot leaves a Conv2D with no more weights than clusters alone
    return [getattr(layer, name) for name in registry._LAYERS_WEIGHTS_MAP.get(type(layer), [])]


def clustered_weights(model, config):
    """(layer name, weight, number of clusters) of each weight ``cluster_weights`` clusters in ``model``."""
    return [(layer.name, weight, config.clusters_for(layer.name)) for layer in model.layers
            if config.clusters_for(layer.name) and can_cluster(layer)
            and not isinstance(layer, tfmot.clustering.keras.ClusterableLayer)
            for weight in _clusterable_weights(layer, config.clusters_for(layer.name))]


def cluster_report(model, config):
    """One row per clustered weight: layer, weight name, distinct values, allowed clusters."""
    return [{"layer": layer, "weight": weight.name, "unique": int(np.unique(weight.numpy()).size),
             "clusters": clusters} for layer, weight, clusters in clustered_weights(model, config)]
