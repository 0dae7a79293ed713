"""Makes recurrent layers prunable: tfmot's ``prune_low_magnitude`` rejects ``Bidirectional`` outright.

``PrunableBidirectional`` is a ``Bidirectional`` that also implements tfmot's ``PrunableLayer`` and offers the
forward and backward input kernels and recurrent kernels (biases stay dense, as tfmot does for Dense).  The swap is
done by cloning, and undone after ``strip_pruning``, so the model users get back is plain Keras.
"""
import tensorflow_model_optimization as tfmot

from keras_ssl.base.keras import tf_keras


class PrunableBidirectional(tf_keras.layers.Bidirectional, tfmot.sparsity.keras.PrunableLayer):
    """A Bidirectional that tfmot's ``prune_low_magnitude`` accepts; weights and config as the plain layer."""
    def get_prunable_weights(self):
        """Input and recurrent kernels of both directions; biases stay dense."""
        weights = []
        for direction in (self.forward_layer, self.backward_layer):
            cell = direction.cell
            weights += [cell.kernel, cell.recurrent_kernel]
        return weights


def _clone_replacing(model, replace):
    def clone_layer(layer):
        new_cls = replace(layer)
        return (new_cls or layer.__class__).from_config(layer.get_config())

    clone = tf_keras.models.clone_model(model, clone_function=clone_layer)
    clone.set_weights(model.get_weights())
    return clone


def made_prunable(layer):
    """Whether ``with_prunable_recurrent_layers`` swaps ``layer`` for a prunable one (a plain Bidirectional)."""
    return type(layer) is tf_keras.layers.Bidirectional


def with_prunable_recurrent_layers(model):
    """A copy of ``model`` (same weights) where each Bidirectional is a PrunableBidirectional."""
    return _clone_replacing(model, lambda layer: PrunableBidirectional if made_prunable(layer) else None)


def with_plain_recurrent_layers(model):
    """Undoes ``with_prunable_recurrent_layers`` so saved models need no custom objects."""
    return _clone_replacing(
        model, lambda layer: tf_keras.layers.Bidirectional if isinstance(layer, PrunableBidirectional) else None)
