import numpy as np
import pytest

from keras_ssl.compress.prune import PruneConfig, make_schedule, prune_magnitude
from keras_ssl.errors import UserError
from keras_ssl.data.masking import mlm_dataset
from keras_ssl.keras import tf_keras
from keras_ssl.metrics import sparsity
from keras_ssl.models.bilstm_mlm import build_mlm
from keras_ssl.ssl.training import classification_dataset, compile_for_logits


@pytest.mark.parametrize("schedule,target", [("polynomial", 0.8), ("constant", 0.5)])
def test_classifier_reaches_target_sparsity_in_every_layer(trained_classifier, digits8, schedule, target):
    ds = classification_dataset(digits8.x_train, digits8.y_train, 128)
    pruned = prune_magnitude(trained_classifier, ds, PruneConfig(target_sparsity=target, schedule=schedule, epochs=2),
                             lambda m: compile_for_logits(m, 1e-3))
    for name in ("encoder_conv0", "encoder_conv1", "logits"):
        assert np.mean(pruned.get_layer(name).kernel.numpy() == 0) >= target - 0.01, name
    assert sparsity(pruned) >= target - 0.01
    assert not any("prune" in layer.name for layer in pruned.layers), "wrappers are stripped"
    assert sparsity(trained_classifier) < 0.05, "the input model is left untouched"


def test_bidirectional_lstm_is_pruned_forward_and_backward(tiny_mlm_config, token_sequences):
    mlm = build_mlm(tiny_mlm_config)
    ds = mlm_dataset(token_sequences, 50, batch_size=32)
    pruned = prune_magnitude(mlm, ds, PruneConfig(target_sparsity=0.7, epochs=2),
                             lambda m: compile_for_logits(m, 1e-3, sparse_weighted=True))
    bilstm = pruned.get_layer("bilstm")
    for direction in (bilstm.forward_layer, bilstm.backward_layer):
        for weight in (direction.cell.kernel, direction.cell.recurrent_kernel):
            assert np.mean(weight.numpy() == 0) >= 0.69, weight.name
        assert np.mean(direction.cell.bias.numpy() == 0) < 0.5, "biases are not pruned"
    for weight in (pruned.get_layer("embedding").embeddings, pruned.get_layer("token_logits").kernel):
        assert np.mean(weight.numpy() == 0) >= 0.69, weight.name
    assert type(pruned.get_layer("bilstm")) is tf_keras.layers.Bidirectional, "plain Keras after stripping"


@pytest.mark.parametrize("total_steps", [1, 2, 7, 30, 1000])
def test_schedule_reaches_the_target_on_a_step_that_runs(total_steps):
    schedule = make_schedule(PruneConfig(target_sparsity=0.9), total_steps)
    final_steps = [step for step in range(total_steps) if bool(schedule(step)[0])]
    assert final_steps, "at least one mask update happens"
    assert abs(float(schedule(final_steps[-1])[1]) - 0.9) < 1e-6


def test_bad_prune_configs():
    with pytest.raises(UserError):
        PruneConfig(target_sparsity=1.0)
    with pytest.raises(UserError):
        PruneConfig(schedule="cubic")
