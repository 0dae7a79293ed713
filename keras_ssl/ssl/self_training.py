"""Self-training on a contrastive encoder: SimCLRv2's third stage, with the teacher read off the embedding's graph.

SimCLRv2 (Chen et al. 2020) pretrains contrastively, fine-tunes on the few labels, then distils that fine-tuned
teacher into a student on every unlabeled image.  On digits at 1% of the labels (one image per class) that teacher
is the weak link: a network fine-tuned on 10 images is often wrong, and a student distilled from it stays about as
wrong (studies/label_study/README.md).  What the contrastive pretraining does give is a neighbourhood structure: most
of an image's nearest neighbours in the L2-normalised embedding share its class (docs/ssl.md, "Measurements behind
the code").  So the teacher here is label
spreading (Zhou et al. 2004) over that k-nearest-neighbour graph: the few labels flow along the graph to every
training image, as soft pseudo-labels (then sharpened).  The student, a classifier initialised with the pretrained
encoder, then trains on augmented views of all the training images against those soft labels (the labeled ones keep
their one-hot label), which smooths the remaining pseudo-label noise.  Only training images are used; no test image is
seen.  Views are keyed on (seed, epoch, step) like every other keras_ssl pipeline, so a resumed fit matches.
"""
import dataclasses

import numpy as np
from sklearn.decomposition import PCA
from sklearn.semi_supervised import LabelSpreading

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf, tf_keras
from keras_ssl.data.augment import AugmentConfig, augment, digit_views
from keras_ssl.data.epochs import keyed_batches, shard_by_data, step_seed, with_epoch
from keras_ssl.ssl.contrastive import encoder_features
from keras_ssl.ssl.finetune import make_classifier
from keras_ssl.training.fit import FitFields, fit_callbacks


@dataclasses.dataclass
class SelfTrainConfig(FitFields):
    """Self-training settings; invalid values raise UserError.

    ``neighbors`` and ``alpha`` shape label spreading (graph degree; how far labels travel, 0 < alpha < 1, near 1 =
    far); ``epochs``, ``batch_size`` and ``learning_rate`` train the student on every training image;
    ``augment`` draws its views.  ``sharpen`` is the temperature the spread labels are raised to (p ** (1 / T),
    renormalised; 1 = as spread): with alpha near 1 they come out flat, and a student trained on flat targets
    learns flat, easily flipped logits.  The default T = 0.25 beat both the raw soft labels and hard argmax labels on
    digits at 1% of the labels (studies/label_study/README.md; docs/ssl.md, "Measurements behind the code").
    """
    neighbors: int = 20
    alpha: float = 0.99
    # > 0: the embedding is reduced to this many principal components before the neighbour graph is built.  The
    # exact graph costs N^2 x D: 60,000 Fashion-MNIST images with D = 3,136 took minutes per graph, 128 seconds.
    pca_dims: int = 0
    sharpen: float = 0.25
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-3
    augment: AugmentConfig = dataclasses.field(default_factory=digit_views)
    seed: int = 0
    verbose: int = 0

    def __post_init__(self):
        if self.neighbors < 1:
            raise UserError(f"neighbors={self.neighbors} must be at least 1, SelfTrainConfig: it is the degree of "
                            "the nearest-neighbour graph labels spread on")
        if not 0.0 < self.alpha < 1.0:
            raise UserError(f"alpha={self.alpha} must be in (0, 1), SelfTrainConfig: label spreading's clamping "
                            "factor (near 1 lets labels travel far)")
        if not 0.0 < self.sharpen <= 1.0:
            raise UserError(f"sharpen={self.sharpen} must be in (0, 1], SelfTrainConfig: the temperature of the "
                            "pseudo-labels (1 = as spread, lower = closer to one-hot)")
        if self.epochs < 1 or self.batch_size < 1:
            raise UserError(f"epochs ({self.epochs}) and batch_size ({self.batch_size}) must be positive, "
                            "SelfTrainConfig")
        if not self.learning_rate > 0:
            raise UserError(f"learning_rate={self.learning_rate} must be positive, SelfTrainConfig")
        if not isinstance(self.augment, AugmentConfig):
            raise UserError(f"augment must be an AugmentConfig, got {type(self.augment).__name__}, SelfTrainConfig")


def propagate_labels(features, labeled, labels, num_classes, neighbors=20, alpha=0.99):
    """Soft labels (N, num_classes) for every row of ``features`` (N, D), spread from the rows ``labeled`` (indices)
    whose classes are ``labels``, over the k-nearest-neighbour graph of the L2-normalised features (cosine
    neighbours, as NT-Xent compares them).  Labeled rows get their own label one-hot; rows the graph does not reach
    get the uniform distribution."""
    features = np.asarray(features, np.float64).reshape(len(features), -1)
    labeled, labels = np.asarray(labeled, np.int64), np.asarray(labels, np.int64)
    if len(labeled) == 0 or len(labeled) != len(labels):
        raise UserError(f"propagate_labels needs at least one labeled row and one label per labeled row, got "
                        f"{len(labeled)} rows and {len(labels)} labels")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise UserError(f"labels must be in [0, {num_classes}), got {labels.min()}..{labels.max()}")
    features = features / (np.linalg.norm(features, axis=1, keepdims=True) + 1e-12)  # not in place: may be the caller's
    soft = np.full((len(features), num_classes), 1.0 / num_classes)
    if len(features) > 1:
        targets = np.full(len(features), -1)
        targets[labeled] = labels
        spreading = LabelSpreading(kernel="knn", n_neighbors=min(neighbors, len(features) - 1), alpha=alpha,
                                   max_iter=200).fit(features, targets)
        spread = np.zeros((len(features), num_classes))
        spread[:, spreading.classes_] = np.nan_to_num(spreading.label_distributions_)
        reached = spread.sum(axis=1) > 0
        soft[reached] = spread[reached] / spread[reached].sum(axis=1, keepdims=True)
    soft[labeled] = np.eye(num_classes)[labels]
    return soft.astype(np.float32)


def sharpen(soft_labels, temperature):
    """Rows of ``soft_labels`` raised to 1 / ``temperature`` and renormalised (MixMatch's sharpening); in log space,
    so a tiny probability does not underflow to a row of zeros."""
    logits = np.log(np.maximum(np.asarray(soft_labels, np.float64), 1e-30)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    sharp = np.exp(logits)
    return (sharp / sharp.sum(axis=1, keepdims=True)).astype(np.float32)


def pseudo_label_dataset(x, soft_labels, batch_size, augment_config, seed=0):
    """Batches of (augmented view, soft label) over all of ``x``: order and views keyed on (seed, epoch, step)."""
    ds, epoch_var = keyed_batches(len(x), batch_size, seed, shuffle=True)
    images = tf.constant(np.asarray(x, np.float32))
    targets = tf.constant(np.asarray(soft_labels, np.float32))

    def view(idx, epoch, step):
        return augment(tf.gather(images, idx), step_seed(seed, epoch, step), augment_config), tf.gather(targets, idx)

    ds = ds.map(view, num_parallel_calls=tf.data.AUTOTUNE)
    return with_epoch(shard_by_data(ds.prefetch(tf.data.AUTOTUNE)), epoch_var)


def self_train(pretrained, x_train, labeled, labels, classifier_config, config=None):
    """A classifier trained on every image of ``x_train`` against labels spread from the ``labeled`` indices (with
    classes ``labels``) over ``pretrained``'s contrastive embedding; its encoder starts from ``pretrained``.

    Returns (classifier, its sharpened soft labels of ``x_train``); the classifier outputs logits, like
    ``build_classifier``'s.
    """
    config = SelfTrainConfig() if config is None else config
    features = encoder_features(pretrained, x_train)
    if config.pca_dims and config.pca_dims < features.shape[1]:
        features = PCA(config.pca_dims, random_state=config.seed).fit_transform(features)
    soft = sharpen(propagate_labels(features, labeled, labels, classifier_config.num_classes, config.neighbors,
                                    config.alpha), config.sharpen)
    student = make_classifier("finetune", classifier_config, pretrained, config.seed)
    student.compile(optimizer=tf_keras.optimizers.Adam(config.learning_rate),
                    loss=tf_keras.losses.CategoricalCrossentropy(from_logits=True),
                    metrics=[tf_keras.metrics.CategoricalAccuracy(name="accuracy")])
    ds = pseudo_label_dataset(x_train, soft, config.batch_size, config.augment, seed=config.seed)
    student.fit(ds, epochs=config.epochs, verbose=config.verbose, callbacks=fit_callbacks(config, ds))
    return student, soft
