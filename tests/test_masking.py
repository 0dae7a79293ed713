import numpy as np

from keras_ssl.data.masking import fixed_masked_set, mask_tokens, mlm_dataset, unigram_accuracy
from keras_ssl.data.tokenizer import MASK_ID, NUM_SPECIAL, PAD_ID


def test_bert_masking_proportions():
    rng = np.random.default_rng(0)
    ids = rng.integers(NUM_SPECIAL, 1000, size=(400, 100)).astype(np.int32)
    ids[:, 90:] = PAD_ID
    inputs, labels, weights = (t.numpy() for t in mask_tokens(ids, [1, 2], vocab_size=1000))
    chosen = weights > 0
    real = ids != PAD_ID
    assert abs(chosen[real].mean() - 0.15) < 0.01
    assert not chosen[~real].any(), "padding is never selected"
    np.testing.assert_array_equal(labels, ids)
    masked = inputs[chosen] == MASK_ID
    kept = inputs[chosen] == ids[chosen]
    randomised = ~masked & ~kept
    assert abs(masked.mean() - 0.8) < 0.02
    assert abs(kept.mean() - 0.1) < 0.015  # includes the rare random draw equal to the original
    assert abs(randomised.mean() - 0.1) < 0.015
    assert (inputs[~chosen] == ids[~chosen]).all(), "unselected positions are untouched"


def test_masks_are_seeded_and_change_between_epochs(token_sequences):
    a = fixed_masked_set(token_sequences, 50, seed=5)
    b = fixed_masked_set(token_sequences, 50, seed=5)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    ds = mlm_dataset(token_sequences, 50, batch_size=256, seed=0, shuffle=False)
    first, second = (next(iter(ds))[2].numpy() for _ in range(2))
    assert not np.array_equal(first, second), "dynamic masking: a new draw each epoch"
    again = next(iter(mlm_dataset(token_sequences, 50, batch_size=256, seed=0, shuffle=False)))[2].numpy()
    np.testing.assert_array_equal(first, again)


def test_dataset_yields_inputs_labels_weights(token_sequences):
    inputs, labels, weights = next(iter(mlm_dataset(token_sequences, 50, batch_size=32, seed=0)))
    assert inputs.shape == labels.shape == weights.shape == (32, 8)
    assert inputs.dtype.name == "int32" and weights.dtype.name == "float32"


def test_unigram_baseline_guesses_the_most_frequent_word():
    train = np.array([[3, 3, 3, 4]], np.int32)
    labels = np.array([[3, 4, 5, 3]])
    weights = np.array([[1.0, 1.0, 0.0, 1.0]])
    acc, token = unigram_accuracy(train, labels, weights)
    assert token == 3 and abs(acc - 2 / 3) < 1e-9
