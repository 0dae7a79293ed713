"""The two tasks' settings as dataclasses: what the image and text tasks train, hold out and score."""
import dataclasses

from keras_ssl.base.errors import UserError
from keras_ssl.models.bilstm_mlm import MLMConfig
from keras_ssl.models.classifier import ClassifierConfig
from keras_ssl.models.transformer import TransformerConfig
from keras_ssl.ssl.contrastive import ContrastiveConfig
from keras_ssl.training.fit import TrainConfig

TASKS = ("image", "text")
TEXT_MODELS = ("bilstm", "transformer")
SSL_METHODS = ("autoencoder", "contrastive")


@dataclasses.dataclass
class ImageTaskConfig:
    """Image task settings; ``label_fractions`` is sorted, deduplicated and always gets 1.0 added.

    The model fine-tuned on all labels (fraction 1.0) is the one compressed and exported.
    """
    classifier: ClassifierConfig = dataclasses.field(default_factory=ClassifierConfig)
    pretrain: TrainConfig = dataclasses.field(default_factory=lambda: TrainConfig(epochs=15))
    finetune: TrainConfig = dataclasses.field(default_factory=lambda: TrainConfig(epochs=30, min_steps=150))
    label_fractions: tuple = (0.01, 0.1, 1.0)
    ssl: str = "autoencoder"  # self-supervised pretraining: "autoencoder" (reconstruction) or "contrastive" (SimCLR)
    contrastive: ContrastiveConfig = dataclasses.field(default_factory=lambda: ContrastiveConfig(epochs=30))

    def __post_init__(self):
        if self.ssl not in SSL_METHODS:
            raise UserError(f"unknown self-supervised method {self.ssl!r}: use one of {SSL_METHODS}")
        self.label_fractions = tuple(sorted({float(f) for f in self.label_fractions}))
        if any(not 0.0 < f <= 1.0 for f in self.label_fractions):
            raise UserError(f"label fractions must be in (0, 1], got {self.label_fractions}")
        if 1.0 not in self.label_fractions:
            # The compressed model is the one fine-tuned on all labels; it must be trained.
            self.label_fractions += (1.0,)


@dataclasses.dataclass
class TextTaskConfig:
    """Text task settings: the MLM, its pretraining, and the held-out split.

    ``max_eval_sequences`` caps the test split (every artifact is run on each sequence); ``max_docs`` = 0 uses the
    whole corpus.  ``stream`` reads ``text_files`` as a stream every epoch instead of loading them (corpora larger
    than memory; see ``keras_ssl.tasks.text_data``).
    """
    mlm: MLMConfig = dataclasses.field(default_factory=MLMConfig)
    pretrain: TrainConfig = dataclasses.field(default_factory=lambda: TrainConfig(epochs=20, learning_rate=8e-3))
    test_fraction: float = 0.1
    max_eval_sequences: int = 300
    max_docs: int = 0  # 0 = the whole corpus; small values make quick runs quicker (in-memory only)
    # "bilstm" (the design documents' seed BiLSTM masked LM) or "transformer" (BERT-style; its vocab_size and
    # seq_len come from ``mlm``)
    model: str = "bilstm"
    transformer: TransformerConfig = dataclasses.field(default_factory=TransformerConfig)
    stream: bool = False  # stream text_files from disk every epoch (bounded memory) instead of loading them
    # Mask draws over the search's validation windows: each draw masks other positions of the same windows, so the
    # paired standard error the search adds to every candidate's drop shrinks (its size with 1 and 3 draws:
    # docs/compression.md), and a 1-point budget is not spent on measurement noise.
    validation_masks: int = 3

    def __post_init__(self):
        if not 0.0 < self.test_fraction < 1.0:
            raise UserError(f"test_fraction={self.test_fraction} must be between 0 and 1 (exclusive)")
        if self.validation_masks < 1:
            raise UserError(f"validation_masks={self.validation_masks} must be at least 1")
        if self.model not in TEXT_MODELS:
            raise UserError(f"unknown text model {self.model!r}: use one of {TEXT_MODELS}")
