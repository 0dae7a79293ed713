"""LoRA: only adapters train, a shifted task is learned with a few percent of the weights, merging is exact."""
import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf_keras
from keras_ssl.compress.peft import (LoraConfig, LoraLayer, apply_lora, lora_layers, merge_lora, peft_finetune,
                                     trainable_fraction)
from keras_ssl.models.bilstm_mlm import build_mlm
from keras_ssl.training.fit import classification_dataset, classifier_accuracy, compile_for_logits


def mirrored(x):
    """Left-right mirrored digits (e.g. a front camera): a real shift that halves the pretrained accuracy."""
    return np.ascontiguousarray(x[:, :, ::-1])


def test_lora_learns_mirrored_digits_training_only_adapters(trained_classifier, digits8):
    x_train, x_test = mirrored(digits8.x_train), mirrored(digits8.x_test)
    original = [w.copy() for w in trained_classifier.get_weights()]
    config = LoraConfig(rank=2, alpha=4.0, epochs=10, learning_rate=3e-3)

    adapted = apply_lora(trained_classifier, config)
    np.testing.assert_array_equal(adapted.predict(x_test, verbose=0), trained_classifier.predict(x_test, verbose=0))
    before = classifier_accuracy(trained_classifier, x_test, digits8.y_test)

    tf_keras.utils.set_random_seed(0)
    tuned = peft_finetune(trained_classifier, classification_dataset(x_train, digits8.y_train, 64, seed=0), config,
                          lambda m: compile_for_logits(m, config.learning_rate), merge=False)
    after = classifier_accuracy(tuned, x_test, digits8.y_test)
    fraction = trainable_fraction(tuned)
    wrapped = lora_layers(tuned)
    print(f"mirrored digits: accuracy {before:.4f} -> {after:.4f} training {fraction:.1%} of the weights "
          f"(LoRA rank 2 on {[layer.layer.name for layer in wrapped]}); unmirrored before: "
          f"{classifier_accuracy(trained_classifier, digits8.x_test, digits8.y_test):.4f}")
    assert [layer.layer.name for layer in wrapped] == ["encoder_conv0", "encoder_conv1", "logits"]
    assert fraction < 0.2
    assert after > before + 0.2

    # Only the adapters changed: every base kernel and bias equals the pretrained one, every B moved off zero.
    for layer in wrapped:
        base = trained_classifier.get_layer(layer.layer.name)
        for new, old in zip(layer.layer.get_weights(), base.get_weights()):
            np.testing.assert_array_equal(new, old)
        assert np.abs(layer.lora_b.numpy()).max() > 0
    assert {w.name.split("/")[-1].split(":")[0] for w in tuned.trainable_weights} == {"lora_a", "lora_b"}
    assert all(np.array_equal(a, b) for a, b in zip(original, trained_classifier.get_weights()))

    merged = merge_lora(tuned)
    assert not lora_layers(merged) and not any(isinstance(layer, LoraLayer) for layer in merged.layers)
    assert [type(merged.get_layer(n)) for n in ("encoder_conv0", "logits")] == \
        [tf_keras.layers.Conv2D, tf_keras.layers.Dense]
    assert merged.count_params() == trained_classifier.count_params()
    diff = np.abs(merged.predict(x_test, verbose=0) - tuned.predict(x_test, verbose=0)).max()
    assert diff < 1e-4
    assert not np.array_equal(merged.get_layer("logits").kernel.numpy(),
                              trained_classifier.get_layer("logits").kernel.numpy()), "the update is folded in"


def test_lora_on_the_mlm_head_and_a_fully_trained_layer(tiny_mlm_config, token_sequences):
    mlm = build_mlm(tiny_mlm_config)
    adapted = apply_lora(mlm, LoraConfig(rank=2, layers=("token_logits",), train_layers=("embedding",)))
    head = adapted.get_layer("lora_token_logits")
    head.lora_b.assign(np.random.default_rng(0).normal(size=head.lora_b.shape).astype(np.float32))
    trainable = {w.name.split(":")[0] for w in adapted.trainable_weights}
    assert any("embedding" in name for name in trainable) and not any("bilstm" in name for name in trainable)
    merged = merge_lora(adapted)
    x = token_sequences[:8]
    assert np.abs(merged.predict(x, verbose=0) - adapted.predict(x, verbose=0)).max() < 1e-4
    assert np.abs(merged.predict(x, verbose=0) - mlm.predict(x, verbose=0)).max() > 1e-3, "B != 0 changed the head"


@pytest.mark.parametrize("kwargs,fragment", [({"rank": 0}, "rank"), ({"rank": 1.5}, "rank"), ({"alpha": 0}, "alpha"),
                                             ({"layers": ()}, "empty")])
def test_bad_lora_configs(kwargs, fragment):
    with pytest.raises(UserError, match=fragment):
        LoraConfig(**kwargs)


@pytest.mark.parametrize("kwargs,fragment", [({"layers": ("nope",)}, "'nope' not found"),
                                             ({"layers": ("encoder_pool0",)}, "'encoder_pool0' is a MaxPooling2D"),
                                             ({"train_layers": ("head",)}, "'head'"),
                                             ({"layers": ("logits",), "train_layers": ("logits",)}, "both")])
def test_bad_lora_layers_are_named(trained_classifier, kwargs, fragment):
    with pytest.raises(UserError, match=fragment):
        apply_lora(trained_classifier, LoraConfig(**kwargs))
