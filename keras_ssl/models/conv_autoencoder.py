"""The image seed model of the design documents: a convolutional autoencoder pretrained by reconstructing its input.

Encoder layers carry the ``encoder_`` prefix so a classifier built with the same config can take their weights by
name while staying a single flat Model (tfmot's QAT refuses a Model nested in a Model).
"""
import dataclasses

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf_keras

ENCODER_PREFIX = "encoder_"
FEATURES_LAYER = "flatten"  # the encoder's last layer, whatever the architecture: what classifiers and probes read
ARCHITECTURES = ("conv", "mobilenet_v2")
MOBILENET_MIN_SIZE = 32  # MobileNetV2 halves the image five times


@dataclasses.dataclass
class AutoencoderConfig:
    """Encoder shape, shared by the autoencoder, SimCLR and the classifier; invalid values raise UserError.

    ``architecture`` "conv": ``widths`` gives one conv + 2x pool block per entry, so ``image_size`` must be a
    multiple of 2 ** len(widths).  "mobilenet_v2": Keras' MobileNetV2 (untrained, width multiplier ``alpha``),
    ``image_size`` at least 32; ``widths`` and ``kernel_size`` are not used; ``bn_momentum`` is its
    BatchNormalization layers' moving-statistics momentum.
    """
    image_size: int = 16
    channels: int = 1
    widths: tuple = (16, 32)
    kernel_size: int = 3
    architecture: str = "conv"
    alpha: float = 0.35
    # Keras' MobileNetV2 uses 0.999: after 600 steps (the 1% label study's fits) its moving statistics were still
    # mostly their initial values, and the model scored 10.7% in inference mode on Fashion-MNIST where the same
    # weights scored 69.2% with batch statistics; 0.99 gave 42.8%, 0.9 gave 68.3% (docs/data.md).
    bn_momentum: float = 0.9

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise UserError(f"unknown encoder {self.architecture!r}: use one of {', '.join(ARCHITECTURES)}")
        if self.channels not in (1, 3):
            raise UserError(f"channels={self.channels} must be 1 (grayscale) or 3 (RGB)")
        if self.architecture == "mobilenet_v2":
            if self.image_size < MOBILENET_MIN_SIZE or not self.alpha > 0:
                raise UserError(f"the mobilenet_v2 encoder needs image_size >= {MOBILENET_MIN_SIZE} (got "
                                f"{self.image_size}) and alpha > 0 (got {self.alpha}): e.g. --image_size=32")
            return
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


def encoder_output(config, inputs):
    """The encoder applied to ``inputs``, ending in the ``FEATURES_LAYER`` (a classifier or projection head reads
    it).  Every encoder layer's name starts with ``encoder_``: weights move between models by those names."""
    if config.architecture == "mobilenet_v2":
        # Built on our own input tensor, its layers join the caller's functional graph: one flat Model, which
        # tfmot's QAT needs (it refuses a Model nested in a Model).
        backbone = tf_keras.applications.MobileNetV2(input_tensor=inputs, include_top=False, weights=None,
                                                     alpha=config.alpha)
        for layer in backbone.layers:
            if not isinstance(layer, tf_keras.layers.InputLayer):
                layer._name = ENCODER_PREFIX + layer.name  # Keras has no public rename; names are our weight keys
            if isinstance(layer, tf_keras.layers.BatchNormalization):
                layer.momentum = config.bn_momentum  # read at each training step and by get_config (clones)
        return tf_keras.layers.GlobalAveragePooling2D(name=FEATURES_LAYER)(backbone.output)
    x = inputs
    for layer in encoder_layers(config):
        x = layer(x)
    return tf_keras.layers.Flatten(name=FEATURES_LAYER)(x)


def build_autoencoder(config=None):
    """Encoder (conv + pool blocks) then a mirrored decoder (conv + upsample), sigmoid output in [0, 1]."""
    config = AutoencoderConfig() if config is None else config
    if config.architecture != "conv":
        raise UserError(f"the autoencoder's decoder mirrors the conv encoder, not {config.architecture}: "
                        "pretrain that encoder with --ssl=contrastive")
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
