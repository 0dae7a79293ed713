"""A classifier on the autoencoder's encoder, built flat so every tfmot wrapper (prune, cluster, QAT) accepts it.

It outputs logits (no softmax): distillation needs them at a temperature, and argmax is the same either way.
"""
import dataclasses

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf_keras
from keras_ssl.models.conv_autoencoder import ENCODER_PREFIX, AutoencoderConfig, encoder_output, image_input


@dataclasses.dataclass
class ClassifierConfig:
    """The classifier's shape; ``encoder`` must equal the pretrained autoencoder's config for its weights to load."""
    encoder: AutoencoderConfig = dataclasses.field(default_factory=AutoencoderConfig)
    num_classes: int = 10
    dropout: float = 0.2


def build_classifier(config=None, batch_size=None):
    """Encoder layers (ending in Flatten or pooling), Dropout and a float32 logits layer, in one flat functional Model.

    Pass ``batch_size`` for a fixed batch dimension; None leaves it dynamic.
    """
    config = ClassifierConfig() if config is None else config
    inputs = image_input(config.encoder, batch_size=batch_size)
    x = encoder_output(config.encoder, inputs)
    x = tf_keras.layers.Dropout(config.dropout, name="dropout")(x)
    # float32 output even when trained mixed: softmax/loss in float16 under- and overflow.
    logits = tf_keras.layers.Dense(config.num_classes, dtype="float32", name="logits")(x)
    return tf_keras.Model(inputs, logits, name="classifier")


def encoder_layer_names(model):
    """Names of the ``model``'s layers that belong to the encoder (by the ``encoder_`` prefix)."""
    return [layer.name for layer in model.layers if layer.name.startswith(ENCODER_PREFIX)]


def load_encoder_weights(classifier, autoencoder):
    """Copies the pretrained encoder's weights into the classifier, layer by layer (matched by name)."""
    names = encoder_layer_names(classifier)
    for name in names:
        try:
            source = autoencoder.get_layer(name)
        except ValueError:
            raise UserError(f"the autoencoder has no layer {name!r}: build both models from the same config") from None
        classifier.get_layer(name).set_weights(source.get_weights())
    return names


def set_encoder_trainable(classifier, trainable):
    """Freezes (linear probe) or unfreezes (fine-tuning) the encoder; recompile afterwards."""
    for name in encoder_layer_names(classifier):
        classifier.get_layer(name).trainable = trainable
