"""The text seed model of the design documents, a BiLSTM masked LM: Embedding + Bidirectional LSTM + a
per-position softmax over the vocabulary.

Differences from the design documents' model, on purpose: no ``Masking``/``mask_zero`` (padding positions get
zero sample weight instead), because a Keras mask stops the TFLite converter from emitting the fused
UNIDIRECTIONAL_SEQUENCE_LSTM; and the head outputs logits, which distillation needs.
"""
import dataclasses

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf_keras


@dataclasses.dataclass
class MLMConfig:
    """The BiLSTM MLM's shape; sizes must be positive or UserError is raised.

    The pipeline replaces ``vocab_size`` with the size of the vocabulary actually built (it may be smaller);
    ``seq_len`` is the fixed input length, which the TFLite export relies on.
    """
    vocab_size: int = 2000
    seq_len: int = 32
    embedding_dim: int = 64
    lstm_units: int = 64
    dropout: float = 0.1

    def __post_init__(self):
        for field in ("vocab_size", "seq_len", "embedding_dim", "lstm_units"):
            if getattr(self, field) < 1:
                raise UserError(f"MLM {field}={getattr(self, field)} must be a positive integer")


def build_mlm(config=None, batch_size=None):
    """``batch_size=1`` gives the fixed-shape variant that TFLite turns into fused LSTM ops."""
    config = MLMConfig() if config is None else config
    inputs = tf_keras.Input((config.seq_len,), batch_size=batch_size, dtype="int32", name="token_ids")
    x = tf_keras.layers.Embedding(config.vocab_size, config.embedding_dim, name="embedding")(inputs)
    x = tf_keras.layers.Dropout(config.dropout, name="dropout")(x)
    x = tf_keras.layers.Bidirectional(tf_keras.layers.LSTM(config.lstm_units, return_sequences=True),
                                      name="bilstm")(x)
    # float32 output even when trained mixed: softmax/loss in float16 under- and overflow.
    logits = tf_keras.layers.Dense(config.vocab_size, dtype="float32", name="token_logits")(x)
    return tf_keras.Model(inputs, logits, name="bilstm_mlm")
