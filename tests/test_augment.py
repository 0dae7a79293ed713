import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf
from keras_ssl.data.augment import AugmentConfig, augment, span_mask
from keras_ssl.data.tokenizer import MASK_ID, NUM_SPECIAL, OOV_ID, PAD_ID

IDENTITY = dict(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), rotation_degrees=0.0, max_shift=0.0,
                noise_stddev=0.0, cutout_fraction=0.0)


def test_views_are_seeded_and_keep_shape_and_range(digits8):
    x = digits8.x_train[:64]
    a, again, other = (augment(x, seed).numpy() for seed in ([1, 2], [1, 2], [1, 3]))
    np.testing.assert_array_equal(a, again)
    assert a.shape == x.shape and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert np.abs(a - other).mean() > 0.05, "another seed, another view"
    assert np.abs(a - x).mean() > 0.05, "the default config changes the images"
    # Inside Dataset.map (graph mode) the same seed gives the same view as eagerly.
    ds = tf.data.Dataset.from_tensors(x).map(lambda im: augment(im, tf.constant([1, 2], tf.int64)))
    np.testing.assert_allclose(next(iter(ds)).numpy(), a, atol=1e-6)


@pytest.mark.parametrize("field,value", [("crop_scale", (0.5, 0.5)), ("rotation_degrees", 30.0),
                                         ("max_shift", 0.25), ("noise_stddev", 0.1)])
def test_each_augmentation_alone_changes_images_and_identity_is_exact(digits8, field, value):
    x = digits8.x_train[:32]
    np.testing.assert_allclose(augment(x, [0, 1], AugmentConfig(**IDENTITY)).numpy(), x, atol=1e-6)
    changed = augment(x, [0, 1], AugmentConfig(**{**IDENTITY, field: value})).numpy()
    assert np.abs(changed - x).mean() > 0.02, field


def test_cutout_zeroes_one_square_patch():
    x = np.ones((16, 8, 8, 1), np.float32)
    out = augment(x, [4, 2], AugmentConfig(**{**IDENTITY, "cutout_fraction": 0.25})).numpy()[..., 0]
    corners = set()
    for image in out:
        rows, cols = np.nonzero(image == 0)
        assert len(rows) == 4, "a 2x2 patch (0.25 of 8 pixels a side)"
        assert rows.max() - rows.min() == 1 and cols.max() - cols.min() == 1, "the zeros form a square"
        assert (image[image != 0] == 1).all(), "the rest is untouched"
        corners.add((rows.min(), cols.min()))
    assert len(corners) > 4, "the patch moves from image to image"


@pytest.mark.parametrize("kwargs", [dict(crop_scale=(0.0, 1.0)), dict(crop_scale=(0.9, 0.5)),
                                    dict(crop_scale="big"), dict(crop_ratio=(0.0, 1.0)),
                                    dict(rotation_degrees=-1.0), dict(max_shift=0.5), dict(noise_stddev=-0.1),
                                    dict(cutout_fraction=1.0)])
def test_bad_augment_configs(kwargs):
    with pytest.raises(UserError):
        AugmentConfig(**kwargs)


def test_augment_rejects_images_without_batch_or_channel_axis():
    with pytest.raises(UserError):
        augment(np.zeros((8, 8), np.float32), [0, 0])


def _runs(row):
    """(start, length) of each maximal run of True in a 1-D boolean array."""
    padded = np.concatenate([[False], row, [False]]).astype(int)
    starts = np.flatnonzero(np.diff(padded) == 1)
    ends = np.flatnonzero(np.diff(padded) == -1)
    return list(zip(starts, ends - starts))


def test_span_masking_masks_contiguous_spans_at_the_rate():
    rng = np.random.default_rng(0)
    ids = rng.integers(NUM_SPECIAL, 1000, size=(400, 64)).astype(np.int32)
    inputs, labels, weights = (t.numpy() for t in span_mask(ids, [3, 4], 1000, span_length=3, mask_rate=0.15))
    chosen = weights > 0
    assert abs(chosen.mean() - 0.15) < 0.01, chosen.mean()
    inner = [length for row in chosen for start, length in _runs(row) if start > 0 and start + length < 64]
    assert inner and min(inner) >= 3, "away from the edges every run is at least one whole span"
    np.testing.assert_array_equal(labels, ids)
    assert (inputs[~chosen] == ids[~chosen]).all(), "unchosen positions are untouched"
    assert abs(np.mean(inputs[chosen] == MASK_ID) - 0.8) < 0.02
    assert set(np.unique(weights)) == {0.0, 1.0}
    again = span_mask(ids, [3, 4], 1000, span_length=3, mask_rate=0.15)[2].numpy()
    other = span_mask(ids, [3, 5], 1000, span_length=3, mask_rate=0.15)[2].numpy()
    np.testing.assert_array_equal(weights, again)
    assert not np.array_equal(weights, other)
    # Span length 1 is token-level masking at the same rate.
    single = span_mask(ids, [3, 4], 1000, span_length=1, mask_rate=0.15)[2].numpy()
    assert abs(single.mean() - 0.15) < 0.01


def test_span_masking_never_chooses_special_tokens():
    rng = np.random.default_rng(1)
    ids = rng.integers(NUM_SPECIAL, 50, size=(200, 20)).astype(np.int32)
    ids[:, 15:] = PAD_ID
    ids[:, 5] = OOV_ID
    ids[:, 6] = MASK_ID
    inputs, _, weights = (t.numpy() for t in span_mask(ids, [0, 9], 50, span_length=4, mask_rate=0.4))
    special = ids < NUM_SPECIAL
    assert not (weights[special] > 0).any()
    np.testing.assert_array_equal(inputs[special], ids[special])
    assert (weights[~special] > 0).mean() > 0.3, "real tokens are still chosen"


@pytest.mark.parametrize("kwargs", [dict(span_length=0), dict(mask_rate=1.0), dict(mask_rate=-0.1),
                                    dict(vocab_size=3), dict(mask_token_fraction=0.95)])
def test_bad_span_mask_arguments(kwargs):
    args = {**dict(vocab_size=50, span_length=3, mask_rate=0.15), **kwargs}
    with pytest.raises(UserError):
        span_mask(np.full((2, 8), 5, np.int32), [0, 0], **args)
