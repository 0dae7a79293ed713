import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf_keras
from keras_ssl.base.metrics import sparsity
from keras_ssl.compress.prune import PruneConfig, m_by_n_holds, make_schedule, prune_magnitude, sparsity_report
from keras_ssl.data.masking import mlm_dataset
from keras_ssl.models.bilstm_mlm import build_mlm
from keras_ssl.training.fit import classification_dataset, classifier_accuracy, compile_for_logits


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


def _groups_along(kernel, axis, n):
    """Groups of ``n`` consecutive values along ``axis`` (tfmot's m_by_n axis: a kernel's input channels)."""
    moved = np.moveaxis(kernel, axis, -1)
    assert moved.shape[-1] % n == 0, "the test layers have whole groups"
    return moved.reshape(-1, n)


def test_per_layer_targets_are_reached_layer_by_layer(trained_classifier, digits8):
    ds = classification_dataset(digits8.x_train, digits8.y_train, 128)
    config = PruneConfig(target_sparsity=0.5, epochs=2, per_layer={"encoder_conv0": 0.0, "logits": 0.9})
    pruned = prune_magnitude(trained_classifier, ds, config, lambda m: compile_for_logits(m, 1e-3))
    by_layer = {row["layer"]: row["sparsity"] for row in sparsity_report(pruned)}
    print("per-layer sparsity:", {name: round(value, 3) for name, value in by_layer.items()})
    assert by_layer["encoder_conv0"] < 0.05, "per-layer 0.0 leaves the layer dense"
    assert 0.49 <= by_layer["encoder_conv1"] < 0.6, "the global target, not logits' 0.9"
    assert by_layer["logits"] >= 0.89
    assert np.mean(pruned.get_layer("logits").kernel.numpy() == 0) == pytest.approx(by_layer["logits"])


def test_two_of_four_structured_sparsity(trained_classifier, digits8):
    ds = classification_dataset(digits8.x_train, digits8.y_train, 128)
    pruned = prune_magnitude(trained_classifier, ds, PruneConfig(m_by_n=(2, 4), epochs=2),
                             lambda m: compile_for_logits(m, 1e-3))
    for name, axis in (("encoder_conv1", 2), ("logits", 0)):
        kernel = pruned.get_layer(name).kernel.numpy()
        zeros_per_group = np.count_nonzero(_groups_along(kernel, axis, 4) == 0, axis=-1)
        assert zeros_per_group.min() >= 2, name
        assert np.mean(kernel == 0) >= 0.5, name
        assert m_by_n_holds(kernel, (2, 4)), name
    # The same sparsity unstructured would almost surely break the 2:4 pattern: the check can fail.
    shuffled = np.random.default_rng(0).permutation(pruned.get_layer("logits").kernel.numpy().ravel())
    assert not m_by_n_holds(shuffled.reshape(pruned.get_layer("logits").kernel.shape), (2, 4))
    accuracy = classifier_accuracy(pruned, digits8.x_test, digits8.y_test)
    print(f"2:4 pruned classifier accuracy {accuracy:.3f}")
    assert accuracy > 0.5, f"2:4 pruned classifier still classifies ({accuracy:.3f})"


def test_bad_per_layer_and_m_by_n_inputs(trained_classifier, digits8):
    with pytest.raises(UserError, match="logits"):
        PruneConfig(per_layer={"logits": 1.0})
    with pytest.raises(UserError, match="encoder_conv1"):
        PruneConfig(per_layer={"encoder_conv1": -0.1})
    for bad in ((4, 2), (0, 4), (2,), (2.0, 4), (2, 2), 2):
        with pytest.raises(UserError, match="m_by_n"):
            PruneConfig(m_by_n=bad)
    with pytest.raises(UserError, match="conflict"):
        PruneConfig(m_by_n=(2, 4), per_layer={"logits": 0.7})
    ds = classification_dataset(digits8.x_train[:64], digits8.y_train[:64], 64)
    with pytest.raises(UserError, match="encoder_conv0"):  # the message lists the valid names
        prune_magnitude(trained_classifier, ds, PruneConfig(per_layer={"no_such_layer": 0.5}, epochs=1),
                        lambda m: compile_for_logits(m, 1e-3))
    with pytest.raises(UserError, match="flatten"):
        prune_magnitude(trained_classifier, ds, PruneConfig(per_layer={"flatten": 0.5}, epochs=1),
                        lambda m: compile_for_logits(m, 1e-3))
