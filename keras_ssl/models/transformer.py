"""A small BERT-style masked-language model and a tiny ViT, built flat so tfmot and the TFLite converter take them.

Both share one pre-LayerNorm encoder block: ``x + MHA(LN(x))`` then ``x + MLP(LN(x))``, with tf_keras'
``MultiHeadAttention`` and two Dense layers for the MLP.  Every layer sits at the top level of one functional Model
(no nested Model): ``prune_low_magnitude`` only wraps top-level layers and ``quantize_model`` refuses nesting.

The MLM has the BiLSTM MLM's contract (``build_mlm``): an int32 ``token_ids`` input of fixed ``seq_len`` and float32
logits per position from a ``token_logits`` layer, so ``pretrain_mlm``, ``mlm_dataset`` and ``distill`` apply as
they are.  The ViT has the classifier's contract (``build_classifier``): an ``image`` input and a ``logits`` output.

The learned position embedding is a small registered layer (``PositionEmbedding``): a saved ``.keras`` model loads
wherever this module has been imported.
"""
import dataclasses

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf, tf_keras

ACTIVATIONS = ("gelu", "relu")


def _positive_ints(what, **values):
    """UserError naming the first value that is not a positive integer."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError(f"{what} {name}={value!r} must be a positive integer")


def _check_encoder(what, dim, heads, mlp_dim, layers, dropout, activation):
    """UserError unless the encoder sizes are positive, ``dim`` splits into ``heads`` and dropout is a fraction."""
    _positive_ints(what, dim=dim, heads=heads, mlp_dim=mlp_dim, layers=layers)
    if dim % heads:
        raise UserError(f"{what} dim={dim} is not divisible by heads={heads}: each attention head gets dim / heads "
                        "features; pick heads that divide dim")
    if not 0.0 <= dropout < 1.0:
        raise UserError(f"{what} dropout={dropout} must be in [0, 1)")
    if activation not in ACTIVATIONS:
        raise UserError(f"{what} activation={activation!r} is unknown: use one of {ACTIVATIONS}")


@dataclasses.dataclass
class TransformerConfig:
    """The BERT-style MLM's shape; invalid values raise UserError.

    ``seq_len`` is the fixed input length (the learned position table has one row per position); ``mlp_dim`` the
    hidden width of each block's MLP; ``layers`` the number of encoder blocks.
    """
    vocab_size: int = 2000
    seq_len: int = 32
    dim: int = 64
    heads: int = 4
    mlp_dim: int = 128
    layers: int = 2
    dropout: float = 0.1
    activation: str = "gelu"

    def __post_init__(self):
        _positive_ints("transformer", vocab_size=self.vocab_size, seq_len=self.seq_len)
        _check_encoder("transformer", self.dim, self.heads, self.mlp_dim, self.layers, self.dropout, self.activation)


@dataclasses.dataclass
class ViTConfig:
    """The tiny ViT's shape; invalid values raise UserError.

    Images of ``image_size`` squared are cut into non-overlapping ``patch_size`` squared patches (it must divide
    ``image_size``); the patch tokens are averaged after the encoder (no class token) and classified.
    """
    image_size: int = 16
    patch_size: int = 4
    channels: int = 1
    num_classes: int = 10
    dim: int = 32
    heads: int = 2
    mlp_dim: int = 64
    layers: int = 2
    dropout: float = 0.0
    activation: str = "gelu"

    def __post_init__(self):
        _positive_ints("ViT", image_size=self.image_size, patch_size=self.patch_size, channels=self.channels)
        if self.image_size % self.patch_size:
            raise UserError(f"ViT patch_size={self.patch_size} does not divide image_size={self.image_size}: "
                            "patches must tile the image; pick a divisor such as 2 or 4")
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes < 2:
            raise UserError(f"ViT num_classes={self.num_classes!r} must be an integer of at least 2")
        _check_encoder("ViT", self.dim, self.heads, self.mlp_dim, self.layers, self.dropout, self.activation)

    @property
    def num_patches(self):
        """Tokens the encoder sees: (image_size / patch_size) squared."""
        return (self.image_size // self.patch_size) ** 2


@tf_keras.utils.register_keras_serializable(package="keras_ssl")
class PositionEmbedding(tf_keras.layers.Layer):
    """Adds a learned (length, dim) table to a (batch, length, dim) sequence: the encoder's only notion of order.

    A layer of its own rather than an Embedding over a position-id tensor, which would add TFOpLambda ops
    to the graph and a second model input.
    """

    def __init__(self, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.initializer = tf_keras.initializers.get(initializer)

    def build(self, input_shape):
        """One trainable row per position, sized from the (fixed) input length and width."""
        length, dim = input_shape[-2], input_shape[-1]
        if length is None or dim is None:
            raise UserError(f"position embedding {self.name!r} needs a fixed sequence length and width, got "
                            f"{tuple(input_shape)}: build the model with a fixed seq_len")
        self.embeddings = self.add_weight(name="embeddings", shape=(length, dim), initializer=self.initializer,
                                          trainable=True)
        super().build(input_shape)

    def call(self, inputs):
        """``inputs`` plus the position table, broadcast over the batch (cast for mixed precision)."""
        return inputs + tf.cast(self.embeddings, inputs.dtype)[None]

    def get_config(self):
        """The initializer besides the base config, so ``.keras`` files round-trip."""
        return {**super().get_config(), "initializer": tf_keras.initializers.serialize(self.initializer)}


def encoder_block(x, index, dim, heads, mlp_dim, dropout, activation):
    """One pre-LayerNorm block on ``x``: attention and MLP, each with a residual; layers named ``block{index}_*``.

    The attention layer is called as ``mha(x, value=x)``: tfmot's pruning wrapper passes its first argument as
    the query and forwards keyword arguments, so the same graph prunes and clones.
    """
    prefix = f"block{index}"
    h = tf_keras.layers.LayerNormalization(epsilon=1e-6, name=f"{prefix}_attention_norm")(x)
    h = tf_keras.layers.MultiHeadAttention(heads, dim // heads, dropout=dropout, name=f"{prefix}_attention")(
        h, value=h)
    h = tf_keras.layers.Dropout(dropout, name=f"{prefix}_attention_dropout")(h)
    x = tf_keras.layers.Add(name=f"{prefix}_attention_residual")([x, h])
    h = tf_keras.layers.LayerNormalization(epsilon=1e-6, name=f"{prefix}_mlp_norm")(x)
    h = tf_keras.layers.Dense(mlp_dim, activation=activation, name=f"{prefix}_mlp_hidden")(h)
    h = tf_keras.layers.Dense(dim, name=f"{prefix}_mlp_output")(h)
    h = tf_keras.layers.Dropout(dropout, name=f"{prefix}_mlp_dropout")(h)
    return tf_keras.layers.Add(name=f"{prefix}_mlp_residual")([x, h])


def _encoder(x, config):
    """Position embedding, ``config.layers`` blocks and the final LayerNorm (pre-LN blocks leave x unnormalised)."""
    x = PositionEmbedding(name="position_embedding")(x)
    x = tf_keras.layers.Dropout(config.dropout, name="embedding_dropout")(x)
    for index in range(config.layers):
        x = encoder_block(x, index, config.dim, config.heads, config.mlp_dim, config.dropout, config.activation)
    return tf_keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)


def build_transformer_mlm(config=None, batch_size=None):
    """The BERT-style MLM: ``token_ids`` (int32, ``seq_len``) → float32 logits over the vocabulary per position.

    Same input and output as ``build_mlm``, so it trains with ``pretrain_mlm`` and distils with ``distill``.
    """
    config = TransformerConfig() if config is None else config
    inputs = tf_keras.Input((config.seq_len,), batch_size=batch_size, dtype="int32", name="token_ids")
    x = tf_keras.layers.Embedding(config.vocab_size, config.dim, name="embedding")(inputs)
    x = _encoder(x, config)
    # float32 output even when trained mixed: softmax/loss in float16 under- and overflow.
    logits = tf_keras.layers.Dense(config.vocab_size, dtype="float32", name="token_logits")(x)
    return tf_keras.Model(inputs, logits, name="transformer_mlm")


def build_vit(config=None, batch_size=None):
    """The tiny ViT: ``image`` → patch embedding (Conv2D, stride = patch) → encoder → mean of tokens → ``logits``.

    Same input and output names as ``build_classifier``, so the classifier's training, export and reports apply.
    """
    config = ViTConfig() if config is None else config
    inputs = tf_keras.Input((config.image_size, config.image_size, config.channels), batch_size=batch_size,
                            name="image")
    x = tf_keras.layers.Conv2D(config.dim, config.patch_size, strides=config.patch_size, name="patch_embedding")(
        inputs)
    x = tf_keras.layers.Reshape((config.num_patches, config.dim), name="patch_tokens")(x)
    x = _encoder(x, config)
    x = tf_keras.layers.GlobalAveragePooling1D(name="token_mean")(x)
    # float32 output even when trained mixed: softmax/loss in float16 under- and overflow.
    logits = tf_keras.layers.Dense(config.num_classes, dtype="float32", name="logits")(x)
    return tf_keras.Model(inputs, logits, name="vit")


def attention_layer_names(model):
    """Names of the model's MultiHeadAttention layers (the layers whose kernels the compression tests check)."""
    return [layer.name for layer in model.layers if isinstance(layer, tf_keras.layers.MultiHeadAttention)]
