"""Seeded augmentations for contrastive pretraining: image views and text span masks, as tf ops for Dataset.map.

Every random draw is a stateless op keyed by a shape-[2] seed (``keras_ssl.data.epochs.step_seed``), so a batch's
views are a pure function of (seed, epoch, step): a resumed run sees the views an uninterrupted one would.  Keras's
RandomRotation / RandomTranslation layers draw from a stateful generator instead (a rerun of the same batch gets
other views), so the geometry is done with ``tf.raw_ops.ImageProjectiveTransformV3``, the op those layers call.
Crop-and-resize, rotation and shift are composed into one affine map and resampled once: each bilinear resampling
blurs an 8x8 digit visibly, so three in a row would wash it out.
"""
import dataclasses
import math

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf
from keras_ssl.data.tokenizer import MASK_ID, NUM_SPECIAL


@dataclasses.dataclass
class AugmentConfig:
    """How strongly ``augment`` perturbs an image; each augmentation is off at its identity value.

    ``crop_scale``: range of the crop's area as a fraction of the image (then resized back to full size);
    ``crop_ratio``: range of the crop's width/height; ``rotation_degrees``: rotations are uniform in +-this;
    ``max_shift``: shifts are uniform in +-this fraction of the image side; ``noise_stddev``: gaussian noise;
    ``cutout_fraction``: side of the zeroed square patch as a fraction of the image side (0 = no cutout).
    """
    crop_scale: tuple = (0.6, 1.0)
    crop_ratio: tuple = (0.75, 4.0 / 3.0)
    rotation_degrees: float = 10.0
    max_shift: float = 0.1
    noise_stddev: float = 0.05
    cutout_fraction: float = 0.25

    def __post_init__(self):
        self.crop_scale = _float_range(self.crop_scale, "crop_scale")
        self.crop_ratio = _float_range(self.crop_ratio, "crop_ratio")
        if not 0.0 < self.crop_scale[0] <= self.crop_scale[1] <= 1.0:
            raise UserError(f"crop_scale={self.crop_scale} must satisfy 0 < low <= high <= 1, AugmentConfig: "
                            "it is the crop's area as a fraction of the image")
        if not 0.0 < self.crop_ratio[0] <= self.crop_ratio[1]:
            raise UserError(f"crop_ratio={self.crop_ratio} must satisfy 0 < low <= high, AugmentConfig")
        if not 0.0 <= self.rotation_degrees <= 180.0:
            raise UserError(f"rotation_degrees={self.rotation_degrees} must be in [0, 180], AugmentConfig")
        if not 0.0 <= self.max_shift < 0.5:
            raise UserError(f"max_shift={self.max_shift} must be in [0, 0.5), AugmentConfig: "
                            "it is a fraction of the image side")
        if not self.noise_stddev >= 0.0:
            raise UserError(f"noise_stddev={self.noise_stddev} must be >= 0, AugmentConfig")
        if not 0.0 <= self.cutout_fraction < 1.0:
            raise UserError(f"cutout_fraction={self.cutout_fraction} must be in [0, 1), AugmentConfig")


def digit_views():
    """Milder views for small digit images (crop 80-100% of the area, no cutout).  On 16x16 digits they gave a
    better contrastive linear probe than the defaults (docs/ssl.md, "Measurements behind the code"): a 60% crop or
    a 25% cutout can erase the stroke that tells a 7 from a 1 in an image this small."""
    return AugmentConfig(crop_scale=(0.8, 1.0), cutout_fraction=0.0)


def _float_range(value, name):
    """``value`` as a (low, high) float pair, or UserError naming the field."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise UserError(f"{name}={value!r} must be a (low, high) pair of numbers, AugmentConfig") from None
    return low, high


def augment(images, seed, config=None):
    """One random view of each image in a (N, H, W, C) float batch in [0, 1]; same shape, values kept in [0, 1].

    Deterministic for a given shape-[2] integer ``seed``; a different seed gives a different view.  Order:
    crop-resize + rotation + shift (one resampling, zero fill), gaussian noise (clipped), cutout.
    """
    config = AugmentConfig() if config is None else config
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape.rank != 4:
        raise UserError(f"augment needs a (N, H, W, C) image batch, got shape {images.shape}: "
                        "add the batch and channel axes")
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
    images = _affine(images, seeds[0], config)
    if config.noise_stddev > 0:
        noise = tf.random.stateless_normal(tf.shape(images), seeds[1], stddev=config.noise_stddev)
        images = tf.clip_by_value(images + noise, 0.0, 1.0)
    if config.cutout_fraction > 0:
        images = _cutout(images, seeds[2], config.cutout_fraction)
    return images


def _affine(images, seed, config):
    """Random resized crop, rotation and shift per image as one affine map, bilinear, filling with zeros."""
    shape = tf.shape(images)
    n = shape[0]
    height, width = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    s = tf.random.experimental.stateless_split(seed, 6)

    def uniform(i, low, high):
        return tf.random.stateless_uniform([n], s[i], minval=low, maxval=high)

    area = uniform(0, *config.crop_scale)
    log_ratio = uniform(1, math.log(config.crop_ratio[0]), math.log(config.crop_ratio[1]))
    ratio = tf.exp(log_ratio)
    scale_x = tf.minimum(tf.sqrt(area * ratio), 1.0)  # crop side / image side
    scale_y = tf.minimum(tf.sqrt(area / ratio), 1.0)
    offset_x = uniform(2, 0.0, 1.0) * (1.0 - scale_x) * width  # crop's left edge, pixels
    offset_y = uniform(3, 0.0, 1.0) * (1.0 - scale_y) * height
    angle = uniform(4, -1.0, 1.0) * (config.rotation_degrees * math.pi / 180.0)
    shifts = tf.random.stateless_uniform([2, n], s[5], minval=-1.0, maxval=1.0) * config.max_shift
    shift_x, shift_y = shifts[0] * width, shifts[1] * height
    # Output pixel p -> q = R (p - c) + c - shift (rotate about the centre c, then shift), then into the crop:
    # input = offset + (q + 0.5) * scale - 0.5 (pixel centres at integers).
    cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
    cos, sin = tf.cos(angle), tf.sin(angle)
    qx0 = cx - (cos * cx - sin * cy) - shift_x
    qy0 = cy - (sin * cx + cos * cy) - shift_y
    zeros = tf.zeros_like(angle)
    transforms = tf.stack([
        scale_x * cos, -scale_x * sin, scale_x * (qx0 + 0.5) - 0.5 + offset_x,
        scale_y * sin, scale_y * cos, scale_y * (qy0 + 0.5) - 0.5 + offset_y,
        zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=shape[1:3], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="CONSTANT")


def _cutout(images, seed, fraction):
    """Zeroes one square patch (side ``fraction`` of the image side, at least 1 pixel) inside each image."""
    shape = tf.shape(images)
    n, height, width = shape[0], shape[1], shape[2]
    side_y = tf.maximum(1, tf.cast(tf.round(fraction * tf.cast(height, tf.float32)), tf.int32))
    side_x = tf.maximum(1, tf.cast(tf.round(fraction * tf.cast(width, tf.float32)), tf.int32))
    seeds = tf.random.experimental.stateless_split(seed, 2)
    top = tf.random.stateless_uniform([n], seeds[0], minval=0, maxval=height - side_y + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform([n], seeds[1], minval=0, maxval=width - side_x + 1, dtype=tf.int32)
    rows = tf.range(height)[None, :]
    cols = tf.range(width)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < (top + side_y)[:, None])  # (N, H)
    in_cols = (cols >= left[:, None]) & (cols < (left + side_x)[:, None])  # (N, W)
    patch = in_rows[:, :, None, None] & in_cols[:, None, :, None]  # (N, H, W, 1)
    return tf.where(patch, tf.zeros_like(images), images)


def span_mask(token_ids, seed, vocab_size, span_length=3, mask_rate=0.15, mask_token_fraction=0.8,
              random_token_fraction=0.1):
    """SpanBERT-style masking: (inputs, labels, sample_weights) like ``masking.mask_tokens``, but the chosen
    positions come in contiguous runs of ``span_length`` tokens, so the model must fill a gap from both sides
    rather than copy a neighbour.

    ``token_ids`` is int (..., T); ``seed`` a shape-[2] int.  About ``mask_rate`` of the real tokens are chosen
    (span starts are drawn so that the expected coverage, overlaps included, is ``mask_rate``; spans may start
    before the sequence so its first tokens are as likely as any); special ids (padding, OOV, mask) are never chosen
    and cut a span short.  Of the chosen tokens ``mask_token_fraction`` become [MASK], ``random_token_fraction`` a
    random word, the rest stay.  Labels are the original ids; weights are 1 at chosen positions, else 0.
    """
    if int(span_length) < 1:
        raise UserError(f"span_length={span_length} must be at least 1, span_mask")
    if not 0.0 <= mask_rate < 1.0:
        raise UserError(f"mask_rate={mask_rate} must be in [0, 1), span_mask")
    if not (0.0 <= mask_token_fraction and 0.0 <= random_token_fraction
            and mask_token_fraction + random_token_fraction <= 1.0):
        raise UserError(f"mask_token_fraction={mask_token_fraction} and random_token_fraction="
                        f"{random_token_fraction} must be >= 0 and sum to at most 1, span_mask")
    if vocab_size <= NUM_SPECIAL:
        raise UserError(f"vocab_size={vocab_size} must be larger than the {NUM_SPECIAL} special tokens, span_mask")
    span_length = int(span_length)
    token_ids = tf.convert_to_tensor(token_ids, tf.int32)
    shape = tf.shape(token_ids)
    flat = tf.reshape(token_ids, [-1, shape[-1]])
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
    # A position is covered when any of the span_length starts that reach it fired: P = 1 - (1 - p) ** L.
    start_rate = 1.0 - (1.0 - mask_rate) ** (1.0 / span_length)
    num_starts = tf.shape(flat)[1] + span_length - 1  # start index s covers positions s - (L - 1) .. s
    starts = tf.random.stateless_uniform([tf.shape(flat)[0], num_starts], seeds[0]) < start_rate
    covered = tf.nn.max_pool1d(tf.cast(starts, tf.float32)[..., None], span_length, 1, "VALID")[..., 0] > 0
    selected = tf.reshape(covered, shape) & (token_ids >= NUM_SPECIAL)
    action = tf.random.stateless_uniform(shape, seeds[1])
    random_ids = tf.random.stateless_uniform(shape, seeds[2], minval=NUM_SPECIAL, maxval=vocab_size, dtype=tf.int32)
    to_mask = selected & (action < mask_token_fraction)
    to_random = selected & ~to_mask & (action < mask_token_fraction + random_token_fraction)
    inputs = tf.where(to_mask, MASK_ID, tf.where(to_random, random_ids, token_ids))
    return inputs, token_ids, tf.cast(selected, tf.float32)
