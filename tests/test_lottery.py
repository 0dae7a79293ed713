import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf_keras
from keras_ssl.compress.lottery import LotteryConfig, lottery_ticket, magnitude_mask, maskable_weights
from keras_ssl.models.classifier import build_classifier
from keras_ssl.training.fit import classification_dataset, classifier_accuracy, compile_for_logits


def _fresh(config, seed):
    tf_keras.utils.set_random_seed(seed)
    return build_classifier(config)


def test_sparsity_follows_the_schedule_and_pruned_weights_stay_zero(tiny_classifier_config, digits8):
    model = _fresh(tiny_classifier_config, 0)
    entry = [w.copy() for w in model.get_weights()]
    ds = classification_dataset(digits8.x_train, digits8.y_train, 64)
    config = LotteryConfig(rounds=2, prune_per_round=0.4, rewind_to=1, epochs_per_round=3)
    ticket, history = lottery_ticket(model, ds, config, lambda m: compile_for_logits(m, 3e-3))
    assert [row["round"] for row in history] == [0, 1, 2]
    for row in history:
        expected = 1 - (1 - 0.4) ** row["round"]
        assert abs(row["sparsity"] - expected) < 0.005, row
    # Exact zero counts after the last retraining: Adam moves every unmasked weight, so any weight the mask did not
    # hold would be nonzero (count too low) and a lost mask would leave far fewer zeros.
    for weight in maskable_weights(ticket):
        assert np.count_nonzero(weight.numpy() == 0) == round(0.64 * np.prod(weight.shape)), weight.name
    accuracy = classifier_accuracy(ticket, digits8.x_test, digits8.y_test)
    print(f"lottery ticket at sparsity {history[-1]['sparsity']:.3f}: test accuracy {accuracy:.3f}; history {history}")
    assert accuracy > 0.6
    assert all(np.array_equal(a, b) for a, b in zip(entry, model.get_weights())), "the input model is untouched"
    assert not any("prune" in layer.name for layer in ticket.layers)


def test_survivors_are_rewound_to_the_initial_weights(tiny_classifier_config, digits8):
    model = _fresh(tiny_classifier_config, 0)
    init = _fresh(tiny_classifier_config, 1).get_weights()  # a different rewind point than the entry weights
    ds = classification_dataset(digits8.x_train[:256], digits8.y_train[:256], 64)
    config = LotteryConfig(rounds=1, prune_per_round=0.5, rewind_to="init", epochs_per_round=1)
    # lr 1e-9: retraining cannot move weights measurably, so the survivors must still hold their rewound values.
    ticket, _ = lottery_ticket(model, ds, config, lambda m: compile_for_logits(m, 1e-9), initial_weights=init)
    matrices = {w.name for w in maskable_weights(ticket)}
    for weight, start in zip(ticket.weights, init):
        value = weight.numpy()
        if weight.name in matrices:
            kept = value != 0
            assert abs(kept.mean() - 0.5) < 0.01, weight.name
            np.testing.assert_allclose(value[kept], start[kept], rtol=0, atol=1e-6)
        else:
            np.testing.assert_allclose(value, start, rtol=0, atol=1e-6)  # biases rewind too, unpruned


def test_magnitude_masks_only_grow():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(20, 10)).astype(np.float32)
    mask = np.ones_like(values)
    previous = mask
    for sparsity in (0.2, 0.36, 0.488):
        mask = magnitude_mask(rng.normal(size=values.shape).astype(np.float32), previous, sparsity)
        assert np.count_nonzero(mask == 0) == round(sparsity * values.size)
        assert np.all(mask[previous == 0] == 0), "a pruned weight stays pruned"
        previous = mask
    mask = magnitude_mask(values, np.ones_like(values), 0.5)
    assert np.abs(values[mask == 0]).max() <= np.abs(values[mask == 1]).min()


def test_bad_lottery_input(tiny_classifier_config):
    for bad in (dict(prune_per_round=0.0), dict(prune_per_round=1.0), dict(rounds=0), dict(rewind_to="start"),
                dict(rewind_to=5, epochs_per_round=2), dict(rewind_to=-1), dict(epochs_per_round=0)):
        with pytest.raises(UserError):
            LotteryConfig(**bad)
    model = build_classifier(tiny_classifier_config)
    with pytest.raises(UserError, match="initial_weights"):
        lottery_ticket(model, None, LotteryConfig(), initial_weights=model.get_weights()[:2])
