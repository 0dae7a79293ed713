"""Parameter-efficient fine-tuning with LoRA (Hu et al. 2021): adapt a pretrained model by training a low-rank update.

Each chosen Dense or Conv2D kernel W stays frozen and the layer computes with W + (alpha / rank) * A·B, where A is
(fan_in, rank) and B is (rank, filters) (for Conv2D, A·B is reshaped to the kernel's shape).  B starts at zero,
so the adapted model starts exactly equal to the pretrained one; only A, B (and any layers named in
``LoraConfig.train_layers``, e.g. a new head) train: a few percent of the weights, and a small adapter per task.

``merge_lora`` folds A·B into the kernels and returns a plain Keras model of ordinary Dense/Conv2D layers, so the
artifact is the same size and speed as the base model and every later step (pruning, QAT, TFLite) applies to it.
"""
import dataclasses

import numpy as np
from absl import logging

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf, tf_keras
from keras_ssl.base.metrics import count_params
from keras_ssl.compress.byo import copy_model, flatten_nested
from keras_ssl.training.fit import FitFields, compile_for_logits, fit_callbacks

LORA_TYPES = {"Dense": tf_keras.layers.Dense, "Conv2D": tf_keras.layers.Conv2D}


@dataclasses.dataclass
class LoraConfig(FitFields):
    """LoRA settings; invalid values raise UserError.

    ``layers`` holds layer type names ("Dense", "Conv2D": every such layer) and/or layer names; layers named in
    ``train_layers`` train in full instead (never get an adapter) and everything else is frozen.
    """
    rank: int = 4
    alpha: float = 8.0
    layers: tuple = ("Dense", "Conv2D")
    train_layers: tuple = ()
    epochs: int = 5
    learning_rate: float = 1e-3  # used when peft_finetune gets no compile_fn

    def __post_init__(self):
        self.layers, self.train_layers = tuple(self.layers), tuple(self.train_layers)
        if isinstance(self.rank, bool) or not isinstance(self.rank, (int, np.integer)) or self.rank < 1:
            raise UserError(f"LoRA rank={self.rank!r} must be an integer >= 1 (e.g. 4 or 8)")
        if not self.alpha > 0:
            raise UserError(f"LoRA alpha={self.alpha} must be positive (the update is scaled by alpha / rank)")
        if not self.layers:
            raise UserError("LoRA layers is empty: name layer types ('Dense', 'Conv2D') or layer names to adapt")
        if self.epochs < 1 or not self.learning_rate > 0:
            raise UserError(f"LoRA fine-tuning needs epochs >= 1 and a positive learning rate, got {self.epochs}, "
                            f"{self.learning_rate}")


@tf_keras.utils.register_keras_serializable(package="keras_ssl")
class LoraLayer(tf_keras.layers.Wrapper):
    """A frozen Dense or Conv2D plus a trainable low-rank kernel update ``(alpha / rank) * A·B``.

    The wrapped layer is set non-trainable when built; setting ``trainable = True`` on this wrapper afterwards would
    unfreeze it too (Keras propagates the flag), so leave the flag alone and use ``merge_lora`` instead.
    """

    def __init__(self, layer, rank=4, alpha=8.0, **kwargs):
        if type(layer) not in LORA_TYPES.values() or getattr(layer, "groups", 1) != 1:
            raise UserError(f"LoRA supports Dense and Conv2D (groups=1) layers, not layer {layer.name!r} "
                            f"({type(layer).__name__}): leave it out of LoraConfig.layers")
        kwargs.setdefault("name", f"lora_{layer.name}")
        super().__init__(layer, **kwargs)
        self.rank = int(rank)
        self.alpha = float(alpha)

    @property
    def scale(self):
        """alpha / rank: the update's scale, so changing the rank does not change the learning-rate sweet spot."""
        return self.alpha / self.rank

    def build(self, input_shape=None):
        """Builds the base layer if needed, freezes it, and adds A (small uniform) and B (zeros)."""
        if not self.layer.built:
            self.layer.build(input_shape)
        self.layer.trainable = False
        kernel_shape = self.layer.kernel.shape
        fan_in = int(np.prod(kernel_shape[:-1]))
        # Uniform in ±1/sqrt(fan_in), like the reference implementation's kaiming_uniform(a=sqrt(5)).
        init = tf_keras.initializers.VarianceScaling(1.0 / 3.0, mode="fan_in", distribution="uniform")
        self.lora_a = self.add_weight("lora_a", shape=(fan_in, self.rank), initializer=init, trainable=True)
        self.lora_b = self.add_weight("lora_b", shape=(self.rank, int(kernel_shape[-1])), initializer="zeros",
                                      trainable=True)
        super().build(input_shape)

    def delta(self):
        """The kernel update ``scale * A·B`` in the kernel's shape."""
        return tf.reshape(tf.matmul(self.lora_a, self.lora_b) * self.scale, self.layer.kernel.shape)

    def call(self, inputs):
        """The base layer's computation (matmul or convolution, bias, activation) with kernel W + scale * A·B."""
        base = self.layer
        kernel = base.kernel + tf.cast(self.delta(), base.kernel.dtype)
        if isinstance(base, tf_keras.layers.Conv2D):
            outputs = base.convolution_op(inputs, kernel)
            data_format = base._tf_data_format
        else:
            rank = inputs.shape.rank
            if rank == 2:
                outputs = tf.matmul(inputs, kernel)
            else:  # e.g. the MLM head on (batch, seq_len, features)
                outputs = tf.tensordot(inputs, kernel, [[rank - 1], [0]])
                outputs.set_shape(inputs.shape[:-1].concatenate([kernel.shape[-1]]))
            data_format = None
        if base.use_bias:
            outputs = tf.nn.bias_add(outputs, base.bias, data_format=data_format)
        return base.activation(outputs) if base.activation is not None else outputs

    def compute_output_shape(self, input_shape):
        """Same as the wrapped layer's."""
        return self.layer.compute_output_shape(input_shape)

    def merged_weights(self):
        """The wrapped layer's weights with the update folded in: ``[W + scale * A·B, bias]``."""
        weights = self.layer.get_weights()
        weights[0] = weights[0] + self.delta().numpy().astype(weights[0].dtype)
        return weights

    def get_config(self):
        """Wrapper config (the base layer) plus rank and alpha, so a saved LoRA model loads again."""
        return {**super().get_config(), "rank": self.rank, "alpha": self.alpha}


def lora_layers(model):
    """The model's LoRA wrappers, in layer order."""
    return [layer for layer in model.layers if isinstance(layer, LoraLayer)]


def trainable_fraction(model):
    """Trainable weights over all weights (adapters included): what fine-tuning really updates."""
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    return trainable / max(1, count_params(model))


def lora_targets(model, config):
    """Names of the layers that get an adapter; UserError naming any requested layer that is missing or not
    Dense/Conv2D, or a layer both adapted and trained in full."""
    by_name = {layer.name: layer for layer in model.layers}
    for name in config.train_layers:
        if name not in by_name:
            raise UserError(f"LoRA train_layers names layer {name!r}, which model {model.name!r} does not have; "
                            f"its layers are {sorted(by_name)}")
    targets = []
    for entry in config.layers:
        if entry in LORA_TYPES:
            targets += [layer.name for layer in model.layers
                        if type(layer) is LORA_TYPES[entry] and layer.name not in config.train_layers]
            continue
        layer = by_name.get(entry)
        if layer is None:
            raise UserError(f"LoRA layer {entry!r} not found in model {model.name!r}: name one of "
                            f"{sorted(by_name)} or a type in {sorted(LORA_TYPES)}")
        if type(layer) not in LORA_TYPES.values():
            raise UserError(f"LoRA layer {entry!r} is a {type(layer).__name__}: only {'/'.join(LORA_TYPES)} "
                            "layers can be adapted; drop it from LoraConfig.layers")
        if entry in config.train_layers:
            raise UserError(f"layer {entry!r} is in both LoraConfig.layers and train_layers: choose adapter or "
                            "full training")
        targets.append(entry)
    targets = list(dict.fromkeys(targets))
    if not targets:
        raise UserError(f"model {model.name!r} has no layer matching LoRA layers {config.layers}")
    return targets


def apply_lora(model, config):
    """A copy of ``model`` with LoRA adapters on the chosen layers; only adapters and ``config.train_layers`` train.

    The input model is left untouched; the copy starts with exactly the same outputs (B = 0).
    """
    model = flatten_nested(model)
    targets = set(lora_targets(model, config))
    copy = copy_model(model)
    for layer in copy.layers:
        layer.trainable = layer.name in config.train_layers

    def wrap(layer):
        # Returning the copy's own layer objects keeps their weights (the copy is ours to change).
        return LoraLayer(layer, config.rank, config.alpha) if layer.name in targets else layer

    adapted = tf_keras.models.clone_model(copy, clone_function=wrap)
    logging.info("LoRA rank %d on %s; %.1f%% of %d weights train", config.rank, sorted(targets),
                 100 * trainable_fraction(adapted), count_params(adapted))
    return adapted


def merge_lora(model):
    """A plain Keras model (ordinary Dense/Conv2D, all layers trainable) with each adapter folded into its kernel.

    Outputs equal the LoRA model's up to float rounding; the input model is left untouched.
    """
    def plain(layer):
        source = layer.layer if isinstance(layer, LoraLayer) else layer
        config = {**source.get_config(), "trainable": True}
        return source.__class__.from_config(config)

    merged = tf_keras.models.clone_model(model, clone_function=plain)
    for layer in model.layers:
        if isinstance(layer, tf_keras.layers.InputLayer):
            continue
        if isinstance(layer, LoraLayer):
            merged.get_layer(layer.layer.name).set_weights(layer.merged_weights())
        else:
            merged.get_layer(layer.name).set_weights(layer.get_weights())
    return merged


def peft_finetune(model, dataset, config, compile_fn=None, merge=True):
    """Fine-tunes LoRA adapters of ``model`` on ``dataset``; returns the merged plain model (``merge=False``: the
    LoRA model itself, e.g. to keep or inspect the adapters; ``merge_lora`` it later).

    ``compile_fn(model)`` compiles with the task's loss; the default is ``compile_for_logits`` at
    ``config.learning_rate`` (pass ``sparse_weighted=True`` in your own for the MLM).
    """
    adapted = apply_lora(model, config)
    if compile_fn is None:
        compile_for_logits(adapted, config.learning_rate)
    else:
        compile_fn(adapted)
    adapted.fit(dataset, epochs=config.epochs, verbose=2, callbacks=fit_callbacks(config, dataset))
    return merge_lora(adapted) if merge else adapted
