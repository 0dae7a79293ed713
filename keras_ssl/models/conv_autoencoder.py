"""The image seed model of the design documents: a convolutional autoencoder pretrained by reconstructing its input.

Encoder layers carry the ``encoder_`` prefix so a classifier built with the same config can take their weights by
name while staying a single flat Model (tfmot's QAT refuses a Model nested in a Model).
"""
import dataclasses

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf_keras

ENCODER_PREFIX = "encoder_"


@dataclasses.dataclass
class AutoencoderConfig:
    """Encoder shape, shared by the autoencoder and the classifier; invalid values raise UserError.

    ``widths`` gives one conv + 2x pool block per entry, so ``image_size`` must be a multiple of 2 ** len(widths).
    """
    image_size: int = 16
    channels: int = 1
    widths: tuple = (16, 32)
    kernel_size: int = 3

    def __post_init__(self):
        self.widths = tuple(int(w) for w in self.widths)
        if not self.widths or min(self.widths) < 1:
            raise UserError(f"encoder widths must be positive integers, got {self.widths}")
        step = 2 ** len(self.widths)
        if self.image_size < step or self.image_size % step:
            raise UserError(f"image_size={self.image_size} must be a multiple of {step} "
                            f"for {len(self.widths)} encoder blocks (each halves the image)")


def encoder_layers(config):
    """Fresh encoder layers, in order; reused by both the autoencoder and the classifier."""
    layers = []
    for i, width in enumerate(config.widths):
        layers.append(tf_keras.layers.Conv2D(width, config.kernel_size, padding="same", activation="relu",
                                             name=f"{ENCODER_PREFIX}conv{i}"))
        layers.append(tf_keras.layers.MaxPooling2D(2, padding="same", name=f"{ENCODER_PREFIX}pool{i}"))
    return layers


def image_input(config, batch_size=None):
    """The models' ``image`` Input, (image_size, image_size, channels) floats; ``batch_size`` None is dynamic."""
    return tf_keras.Input((config.image_size, config.image_size, config.channels), batch_size=batch_size,
                          name="image")


def build_autoencoder(config=None):
    """Encoder (conv + pool blocks) then a mirrored decoder (conv + upsample), sigmoid output in [0, 1]."""
    config = AutoencoderConfig() if config is None else config
    inputs = image_input(config)
    x = inputs
    for layer in encoder_layers(config):
        x = layer(x)
    for i, width in enumerate(reversed(config.widths)):
        x = tf_keras.layers.Conv2D(width, config.kernel_size, padding="same", activation="relu",
                                   name=f"decoder_conv{i}")(x)
        x = tf_keras.layers.UpSampling2D(2, name=f"decoder_up{i}")(x)
    # float32 output even when trained mixed: the sigmoid and reconstruction loss lose precision in float16.
    outputs = tf_keras.layers.Conv2D(config.channels, config.kernel_size, padding="same", activation="sigmoid",
                                     dtype="float32", name="reconstruction")(x)
    return tf_keras.Model(inputs, outputs, name="conv_autoencoder")
