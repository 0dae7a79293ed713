"""SimCLR-style contrastive pretraining of the image encoder, on unlabeled images only.

Two augmented views of each image go through the encoder and a small projection head; the NT-Xent loss pulls the
two views of one image together and pushes them away from every other image in the batch.  The encoder layers are
the autoencoder's (``encoder_layers``: ``encoder_conv0``, ``encoder_pool0``, ...), built into one flat functional
model, so ``load_encoder_weights(classifier, model)`` copies the pretrained weights by layer name exactly as it does
from the autoencoder.  Views are drawn in the tf.data pipeline, keyed on (seed, epoch, step) (see ``epochs.py``):
a run resumed from a backup trains on the same views as an uninterrupted one.
"""
import dataclasses

import numpy as np

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf, tf_keras
from keras_ssl.data.augment import AugmentConfig, augment
from keras_ssl.data.epochs import keyed_batches, shard_by_data, step_seed, with_epoch
from keras_ssl.models.conv_autoencoder import FEATURES_LAYER, encoder_output, image_input
from keras_ssl.training.fit import FitFields, fit_callbacks


@dataclasses.dataclass
class ContrastiveConfig(FitFields):
    """Contrastive pretraining settings; invalid values raise UserError.

    ``temperature`` scales the cosine similarities in NT-Xent (lower = sharper, harder negatives);
    ``projection_dim`` / ``hidden_dim`` size the projection head that is discarded after pretraining.
    ``log_dir`` enables TensorBoard and ``backup_dir`` per-epoch backups (see ``fit_callbacks``).
    """
    temperature: float = 0.2
    projection_dim: int = 32
    hidden_dim: int = 64
    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 1e-3
    seed: int = 0
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)
    verbose: int = 2

    def __post_init__(self):
        if not self.temperature > 0:
            raise UserError(f"temperature={self.temperature} must be positive, ContrastiveConfig: "
                            "SimCLR uses 0.1 to 0.5")
        if self.projection_dim < 1 or self.hidden_dim < 1:
            raise UserError(f"projection_dim ({self.projection_dim}) and hidden_dim ({self.hidden_dim}) must be "
                            "positive, ContrastiveConfig")
        if self.epochs < 1:
            raise UserError(f"epochs={self.epochs} must be positive, ContrastiveConfig")
        if self.batch_size < 2:
            raise UserError(f"batch_size={self.batch_size} must be at least 2, ContrastiveConfig: "
                            "the other images of a batch are the negatives")
        if not self.learning_rate > 0:
            raise UserError(f"learning_rate={self.learning_rate} must be positive, ContrastiveConfig")
        if not isinstance(self.augment, AugmentConfig):
            raise UserError(f"augment must be an AugmentConfig, got {type(self.augment).__name__}, "
                            "ContrastiveConfig")


def nt_xent_loss(z1, z2, temperature):
    """SimCLR's NT-Xent loss for two (N, D) batches of embeddings, where row i of ``z1`` and of ``z2`` are two views
    of one example: the mean over all 2N rows of the cross-entropy of picking the other view among the 2N - 1 other
    rows, with cosine similarity / ``temperature`` as logits."""
    z = tf.math.l2_normalize(tf.cast(tf.concat([z1, z2], axis=0), tf.float32), axis=1)
    n2 = tf.shape(z)[0]
    n = n2 // 2
    logits = tf.matmul(z, z, transpose_b=True) / temperature
    logits = logits - tf.eye(n2) * 1e9  # a row is never its own candidate
    positives = tf.concat([tf.range(n, n2), tf.range(0, n)], axis=0)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=positives, logits=logits))


class ContrastiveModel(tf_keras.Model):
    """A flat functional model (image -> projection) whose ``train_step`` takes a batch of two views and minimises
    NT-Xent; being functional, ``get_layer("encoder_conv0")`` finds the encoder layers by name."""

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        # Functional's own signature (temperature rides in kwargs): Keras then saves and revives the graph itself.
        temperature = float(kwargs.pop("temperature", 0.2))
        super().__init__(inputs, outputs, name=name, trainable=trainable, **kwargs)
        self.temperature = temperature
        self.loss_tracker = tf_keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        """The loss tracker, so Keras resets it at each epoch."""
        return [self.loss_tracker]

    def contrastive_loss(self, view1, view2, training=False):
        """NT-Xent of the projections of two views (each (N, H, W, C)), plus any regularisation losses."""
        z = self(tf.concat([view1, view2], axis=0), training=training)
        z1, z2 = tf.split(z, 2, axis=0)
        return nt_xent_loss(z1, z2, self.temperature) + tf.add_n([tf.constant(0.0)] + list(self.losses))

    def train_step(self, data):
        """One optimiser step on a (view1, view2) batch."""
        view1, view2 = data
        with tf.GradientTape() as tape:
            loss = self.contrastive_loss(view1, view2, training=True)
            scaled = self.optimizer.get_scaled_loss(loss) if hasattr(self.optimizer, "get_scaled_loss") else loss
        grads = tape.gradient(scaled, self.trainable_variables)
        if hasattr(self.optimizer, "get_unscaled_gradients"):
            grads = self.optimizer.get_unscaled_gradients(grads)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        """The loss on a (view1, view2) batch, without updates (``evaluate`` and validation)."""
        view1, view2 = data
        self.loss_tracker.update_state(self.contrastive_loss(view1, view2))
        return {"loss": self.loss_tracker.result()}

    def get_config(self):
        """Functional config plus the temperature (Keras needs it to rebuild the model)."""
        config = super().get_config()
        config["temperature"] = self.temperature
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuilds the functional graph (Keras's own reviver), then restores the saved temperature."""
        config = dict(config)
        temperature = config.pop("temperature", 0.2)
        model = super().from_config(config, custom_objects)
        model.temperature = float(temperature)
        return model


def build_contrastive(encoder_config, config=None):
    """Image -> encoder (``encoder_output``) -> Dense-ReLU-Dense projection, compiled-ready ``ContrastiveModel``.

    ``encoder_config`` is the ``AutoencoderConfig`` the downstream classifier will be built with.
    """
    config = ContrastiveConfig() if config is None else config
    inputs = image_input(encoder_config)
    x = encoder_output(encoder_config, inputs)
    x = tf_keras.layers.Dense(config.hidden_dim, activation="relu", name="projection_hidden")(x)
    # float32 output even when trained mixed: the normalised similarities lose precision in float16.
    outputs = tf_keras.layers.Dense(config.projection_dim, dtype="float32", name="projection")(x)
    return ContrastiveModel(inputs, outputs, temperature=config.temperature, name="contrastive")


def contrastive_dataset(x, batch_size, augment_config, seed=0, shuffle=True):
    """Batches of (view1, view2) of the images ``x``: order and views are a pure function of (seed, epoch, step)."""
    ds, epoch_var = keyed_batches(len(x), batch_size, seed, shuffle)
    images = tf.constant(np.asarray(x, np.float32))

    def two_views(idx, epoch, step):
        batch = tf.gather(images, idx)
        seeds = tf.random.experimental.stateless_split(step_seed(seed, epoch, step), 2)
        return augment(batch, seeds[0], augment_config), augment(batch, seeds[1], augment_config)

    ds = ds.map(two_views, num_parallel_calls=tf.data.AUTOTUNE)
    return with_epoch(shard_by_data(ds.prefetch(tf.data.AUTOTUNE)), epoch_var)  # multi-worker: shard by element


def encoder_features(model, x, batch_size=256):
    """The flattened encoder output for images ``x`` (numpy): the representation a linear probe or classifier uses."""
    features = tf_keras.Model(model.input, model.get_layer(FEATURES_LAYER).output)
    return features.predict(np.asarray(x, np.float32), batch_size=batch_size, verbose=0)


def pretrain_contrastive(encoder_config, x_unlabeled, config=None):
    """Builds and trains a ``ContrastiveModel`` on unlabeled images; returns (model, history dict).

    The model's ``encoder_*`` layers hold the pretrained weights: ``load_encoder_weights(classifier, model)``.
    """
    config = ContrastiveConfig() if config is None else config
    expected = (encoder_config.image_size, encoder_config.image_size, encoder_config.channels)
    if x_unlabeled.ndim != 4 or tuple(x_unlabeled.shape[1:]) != expected:
        raise UserError(f"images of shape {x_unlabeled.shape[1:]} do not fit the encoder's input {expected}, "
                        "pretrain_contrastive: build the encoder config with the data's image_size and channels")
    if len(x_unlabeled) < 2:
        raise UserError(f"contrastive pretraining needs at least 2 images, got {len(x_unlabeled)}")
    tf_keras.utils.set_random_seed(config.seed)
    model = build_contrastive(encoder_config, config)
    model.compile(optimizer=tf_keras.optimizers.Adam(config.learning_rate))
    ds = contrastive_dataset(x_unlabeled, config.batch_size, config.augment, seed=config.seed)
    history = model.fit(ds, epochs=config.epochs, verbose=config.verbose, callbacks=fit_callbacks(config, ds))
    return model, history.history
