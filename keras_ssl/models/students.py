"""Small student models for knowledge distillation: same inputs and outputs as the teachers, far fewer weights.

The image student keeps the classifier's ``image`` input and ``logits`` output (so the same export, benchmark and
label file apply) and shrinks the encoder to a few narrow conv + pool blocks.  The text student is the same BiLSTM
MLM at smaller embedding and LSTM sizes: its structure is unchanged so it converts to the fused TFLite LSTM exactly
like the teacher.
"""
import dataclasses

from absl import logging

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf_keras
from keras_ssl.models.bilstm_mlm import build_mlm


@dataclasses.dataclass
class StudentClassifierConfig:
    """A small flat CNN (or MLP when ``widths`` is empty); invalid values raise UserError.

    ``widths`` gives one narrow conv + 2x pool block per entry, ``hidden`` the Dense layers after Flatten.  The
    defaults on 16x16 images have ~800 weights against ~9,900 in the default ``ClassifierConfig()``.
    """
    image_size: int = 16
    channels: int = 1
    num_classes: int = 10
    widths: tuple = (4, 4, 8)
    kernel_size: int = 3
    hidden: tuple = ()
    dropout: float = 0.0

    def __post_init__(self):
        self.widths = tuple(int(w) for w in self.widths)
        self.hidden = tuple(int(h) for h in self.hidden)
        if self.image_size < 1 or self.channels < 1 or self.num_classes < 2 or self.kernel_size < 1:
            raise UserError(f"student image_size ({self.image_size}), channels ({self.channels}), kernel_size "
                            f"({self.kernel_size}) must be positive and num_classes ({self.num_classes}) at least 2")
        if any(w < 1 for w in self.widths + self.hidden):
            raise UserError(f"student widths {self.widths} and hidden {self.hidden} must be positive integers")
        step = 2 ** len(self.widths)
        if self.image_size % step:
            raise UserError(f"student image_size={self.image_size} must be a multiple of {step} for "
                            f"{len(self.widths)} conv blocks (each halves the image): use fewer widths")
        if not 0.0 <= self.dropout < 1.0:
            raise UserError(f"student dropout={self.dropout} must be in [0, 1)")


def student_fields(classifier_config):
    """The fields a student shares with ``classifier_config``: its images (size, channels) and classes.  The rest
    (widths, hidden layers) each student sets, so no default is checked against images it does not fit (the default
    3 blocks do not fit Fashion-MNIST's 28 px)."""
    encoder = classifier_config.encoder
    return {"image_size": encoder.image_size, "channels": encoder.channels,
            "num_classes": classifier_config.num_classes}


def student_config_for(classifier_config, **overrides):
    """A student config reading the same images and predicting the same classes as ``classifier_config``."""
    return StudentClassifierConfig(**{**student_fields(classifier_config), **overrides})


def build_student_classifier(config=None):
    """Conv + pool blocks, Flatten, optional Dense layers and a float32 ``logits`` layer, in one flat Model.

    Input and output names match ``build_classifier``, so a student replaces its teacher in every later step.
    """
    config = StudentClassifierConfig() if config is None else config
    inputs = tf_keras.Input((config.image_size, config.image_size, config.channels), name="image")
    x = inputs
    for i, width in enumerate(config.widths):
        x = tf_keras.layers.Conv2D(width, config.kernel_size, padding="same", activation="relu",
                                   name=f"student_conv{i}")(x)
        x = tf_keras.layers.MaxPooling2D(2, padding="same", name=f"student_pool{i}")(x)
    x = tf_keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(config.hidden):
        x = tf_keras.layers.Dense(units, activation="relu", name=f"student_dense{i}")(x)
    if config.dropout:
        x = tf_keras.layers.Dropout(config.dropout, name="dropout")(x)
    # float32 output even when trained mixed, like the teacher: the tempered softmax needs it.
    logits = tf_keras.layers.Dense(config.num_classes, dtype="float32", name="logits")(x)
    return tf_keras.Model(inputs, logits, name="student_classifier")


def build_student_mlm(mlm_config, embedding_dim=16, lstm_units=16, batch_size=None):
    """The teacher's BiLSTM MLM (same vocabulary and sequence length) at ``embedding_dim`` / ``lstm_units``.

    Sizes are checked by ``MLMConfig`` (UserError when not positive); a student at least as wide as its teacher
    is allowed but logged, since it defeats the purpose.
    """
    config = dataclasses.replace(mlm_config, embedding_dim=embedding_dim, lstm_units=lstm_units)
    if embedding_dim >= mlm_config.embedding_dim and lstm_units >= mlm_config.lstm_units:
        logging.warning("student MLM (embedding %d, lstm %d) is not smaller than its teacher (%d, %d)",
                        embedding_dim, lstm_units, mlm_config.embedding_dim, mlm_config.lstm_units)
    model = build_mlm(config, batch_size=batch_size)
    # Rebuilt under its own name so teacher and student can sit side by side (e.g. in a Distiller).
    return tf_keras.Model(model.inputs, model.outputs, name="student_mlm")
