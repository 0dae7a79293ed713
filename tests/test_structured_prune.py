import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf_keras
from keras_ssl.base.metrics import count_params
from keras_ssl.compress.byo import copy_model
from keras_ssl.compress.channel_prune import ChannelPruneConfig, prune_channels, shrink_channels
from keras_ssl.compress.layer_prune import LayerPruneConfig, prune_layers, remove_layers
from keras_ssl.training.fit import classification_dataset, classifier_accuracy, compile_for_logits


def _compile(model):
    return compile_for_logits(model, 3e-3)


def _predict(model, x):
    return model.predict(x, batch_size=256, verbose=0)


def test_channel_pruning_shrinks_the_classifier_and_it_still_classifies(trained_classifier, digits8):
    before = [w.copy() for w in trained_classifier.get_weights()]
    ds = classification_dataset(digits8.x_train, digits8.y_train, 64)
    tf_keras.utils.set_random_seed(0)
    pruned = prune_channels(trained_classifier, ds, ChannelPruneConfig(keep_fraction=0.5, epochs=4), _compile)
    assert pruned.get_layer("encoder_conv0").filters == 4 and pruned.get_layer("encoder_conv1").filters == 16
    assert pruned.get_layer("logits").units == 10, "the output layer is never pruned"
    assert pruned.output_shape == trained_classifier.output_shape
    assert count_params(pruned) < 0.5 * count_params(trained_classifier)  # 1282 vs 3706
    accuracy = classifier_accuracy(pruned, digits8.x_test, digits8.y_test)
    print(f"channel-pruned (keep 0.5) test accuracy {accuracy:.3f}, params {count_params(pruned)} vs "
          f"{count_params(trained_classifier)}")
    assert accuracy > 0.6
    assert all(np.array_equal(a, b) for a, b in zip(before, trained_classifier.get_weights())), "input untouched"


def test_keeping_every_channel_reproduces_the_model_exactly(trained_classifier, digits8):
    same = prune_channels(trained_classifier, None, ChannelPruneConfig(keep_fraction=1.0, epochs=0))
    assert count_params(same) == count_params(trained_classifier)
    np.testing.assert_allclose(_predict(same, digits8.x_test), _predict(trained_classifier, digits8.x_test),
                               rtol=0, atol=1e-6)


def test_sliced_classifier_equals_the_original_with_dropped_filters_zeroed(trained_classifier, digits8):
    """Checks the slicing (conv -> conv input channels, Flatten's (h, w, c) rows) when channels really go."""
    small, kept = shrink_channels(trained_classifier, ChannelPruneConfig(keep_fraction=0.4, criterion="l1"))
    assert set(kept) == {"encoder_conv0", "encoder_conv1"}
    zeroed = copy_model(trained_classifier)
    for name, channels in kept.items():
        kernel, bias = zeroed.get_layer(name).get_weights()
        dropped = np.setdiff1d(np.arange(kernel.shape[-1]), channels)
        kernel[..., dropped] = 0
        bias[dropped] = 0  # relu(0) = 0: the dropped channel feeds nothing forward
        zeroed.get_layer(name).set_weights([kernel, bias])
        # L1 ranking: every kept filter's norm is at least every dropped one's (on the kept input channels)
    conv0 = trained_classifier.get_layer("encoder_conv0").kernel.numpy()
    norms = np.abs(conv0).sum(axis=(0, 1, 2))
    assert norms[kept["encoder_conv0"]].min() >= np.delete(norms, kept["encoder_conv0"]).max()
    np.testing.assert_allclose(_predict(small, digits8.x_test), _predict(zeroed, digits8.x_test), rtol=0, atol=1e-5)
    assert not np.allclose(_predict(small, digits8.x_test), _predict(trained_classifier, digits8.x_test), atol=1e-3)


def test_dense_chain_with_batchnorm_in_a_sequential_model():
    tf_keras.utils.set_random_seed(1)
    model = tf_keras.Sequential([tf_keras.Input((12,)), tf_keras.layers.Dense(16, activation="relu", name="a"),
                                 tf_keras.layers.BatchNormalization(name="bn"),
                                 tf_keras.layers.Dense(8, activation="relu", name="b"),
                                 tf_keras.layers.Dense(3, name="out")])
    rng = np.random.default_rng(0)
    bn = model.get_layer("bn")
    bn.set_weights([rng.uniform(0.5, 2, 16), rng.normal(size=16), rng.normal(size=16), rng.uniform(0.5, 2, 16)])
    x = rng.normal(size=(32, 12)).astype(np.float32)
    small, kept = shrink_channels(model, ChannelPruneConfig(keep_fraction={"a": 0.5}))
    assert [small.get_layer(n).units for n in ("a", "b", "out")] == [8, 8, 3]
    assert small.get_layer("bn").get_weights()[0].shape == (8,)
    zeroed = copy_model(model)  # drop unit i of "a" == zero row i of b's kernel (after BN, a zero unit is not zero)
    kernel, bias = zeroed.get_layer("b").get_weights()
    kernel[np.setdiff1d(np.arange(16), kept["a"])] = 0
    zeroed.get_layer("b").set_weights([kernel, bias])
    np.testing.assert_allclose(small(x, training=False), zeroed(x, training=False), rtol=0, atol=1e-5)


def test_channel_pruning_refuses_what_it_cannot_do(trained_classifier):
    for bad in (0.0, 1.5, -0.2, {"encoder_conv0": 0.0}, "half"):
        with pytest.raises(UserError, match="keep_fraction"):
            ChannelPruneConfig(keep_fraction=bad)
    with pytest.raises(UserError, match="encoder_conv1"):  # lists the prunable layers
        shrink_channels(trained_classifier, ChannelPruneConfig(keep_fraction={"no_such_layer": 0.5}))
    with pytest.raises(UserError, match="logits"):
        shrink_channels(trained_classifier, ChannelPruneConfig(keep_fraction={"logits": 0.5}))
    inputs = tf_keras.Input((8, 8, 1))
    x = tf_keras.layers.Conv2D(4, 3, padding="same", name="c0")(inputs)
    y = tf_keras.layers.Conv2D(4, 3, padding="same", name="c1")(x)
    outputs = tf_keras.layers.Dense(2, name="head")(tf_keras.layers.Flatten()(tf_keras.layers.Add(name="skip")([x, y])))
    with pytest.raises(UserError, match="skip|branchy"):
        shrink_channels(tf_keras.Model(inputs, outputs), ChannelPruneConfig())
    ln = tf_keras.Sequential([tf_keras.Input((6,)), tf_keras.layers.Dense(4, name="d"),
                              tf_keras.layers.LayerNormalization(name="ln"), tf_keras.layers.Dense(2)])
    with pytest.raises(UserError, match="'ln'"):
        shrink_channels(ln, ChannelPruneConfig())


def test_dropping_the_last_conv_block_keeps_the_rest_and_trains(trained_classifier, digits8):
    rebuilt, removed = remove_layers(trained_classifier, LayerPruneConfig(drop_last_blocks=1))
    assert removed == ["encoder_conv1", "encoder_pool1"]
    assert len(rebuilt.layers) == len(trained_classifier.layers) - 2
    for a, b in zip(rebuilt.get_layer("encoder_conv0").get_weights(),
                    trained_classifier.get_layer("encoder_conv0").get_weights()):
        np.testing.assert_array_equal(a, b)
    ds = classification_dataset(digits8.x_train, digits8.y_train, 64)
    tf_keras.utils.set_random_seed(0)
    pruned = prune_layers(trained_classifier, ds, LayerPruneConfig(drop_last_blocks=1, epochs=4), _compile)
    assert count_params(pruned) < count_params(trained_classifier)
    assert pruned.output_shape == trained_classifier.output_shape
    accuracy = classifier_accuracy(pruned, digits8.x_test, digits8.y_test)
    print(f"layer-pruned (last block dropped) test accuracy {accuracy:.3f}, params {count_params(pruned)} vs "
          f"{count_params(trained_classifier)}")
    assert accuracy > 0.6


def test_removing_a_shape_preserving_layer(trained_classifier, digits8):
    pruned = prune_layers(trained_classifier, None, LayerPruneConfig(remove=("dropout",), epochs=0))
    assert [layer.name for layer in pruned.layers] == [layer.name for layer in trained_classifier.layers
                                                       if layer.name != "dropout"]
    np.testing.assert_allclose(_predict(pruned, digits8.x_test), _predict(trained_classifier, digits8.x_test),
                               rtol=0, atol=1e-6)
    square = tf_keras.Sequential([tf_keras.Input((6,)), tf_keras.layers.Dense(6, name="sq"),
                                  tf_keras.layers.Dense(2, name="out")])
    smaller, _ = remove_layers(square, LayerPruneConfig(remove="sq"))
    assert count_params(smaller) == count_params(square) - 42
    np.testing.assert_array_equal(smaller.get_layer("out").get_weights()[0], square.get_layer("out").get_weights()[0])


def test_layer_pruning_refuses_bad_requests(trained_classifier):
    with pytest.raises(UserError, match="dropout"):  # the message lists the removable layers
        remove_layers(trained_classifier, LayerPruneConfig(remove=("nope",)))
    with pytest.raises(UserError, match="encoder_conv1.*changes the shape"):
        remove_layers(trained_classifier, LayerPruneConfig(remove=("encoder_conv1",)))
    with pytest.raises(UserError, match="2 conv blocks"):
        remove_layers(trained_classifier, LayerPruneConfig(drop_last_blocks=3))
    with pytest.raises(UserError):
        LayerPruneConfig()
    with pytest.raises(UserError):
        LayerPruneConfig(remove=("dropout",), drop_last_blocks=1)
