"""``ImageData``: what every image loader returns (digits, mnist.npz, Fashion-MNIST, a folder of images).

float32 in [0, 1] shaped (N, size, size, channels), int64 labels and the class names, so every model and recipe
runs unchanged on any source.  No TensorFlow here.
"""
import dataclasses

import numpy as np
from scipy import ndimage

from keras_ssl.base.errors import UserError

NUM_CLASSES = 10

DIGIT_NAMES = tuple(str(c) for c in range(NUM_CLASSES))


@dataclasses.dataclass
class ImageData:
    """Train/test images, float32 in [0, 1] shaped (N, size, size, channels), int64 labels in
    [0, len(class_names)), where they came from, and the class names in label order (labels.txt)."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    class_names: tuple = DIGIT_NAMES

    @property
    def image_shape(self):
        """One image's shape, (size, size, channels), without the batch dimension."""
        return tuple(self.x_train.shape[1:])

    @property
    def channels(self):
        """1 (grayscale) or 3 (RGB)."""
        return int(self.x_train.shape[-1])

    @property
    def num_classes(self):
        """The number of class names: a property of the data set, not counted from the labels."""
        return len(self.class_names)


def check_arrays(x, y, where, num_classes=NUM_CLASSES):
    """UserError, naming ``where`` (e.g. ``mnist.npz: x_train``), the field and the first bad index, unless ``x``
    holds finite numeric pixels in [0, 255] and ``y`` integer labels in [0, num_classes) of at least two classes."""
    field_y = where.replace("x_", "y_")
    if not np.issubdtype(x.dtype, np.number):
        raise UserError(f"{where} has dtype {x.dtype}: pixels must be numbers (uint8 0..255 or float 0..1)")
    if not np.issubdtype(y.dtype, np.integer):
        raise UserError(f"{field_y} has dtype {y.dtype}: labels must be integers 0..{num_classes - 1}, not cast from "
                        "strings or floats; convert them when writing the file")
    flat = x.reshape(len(x), -1)
    bad = np.flatnonzero(~np.isfinite(flat).all(axis=1)) if x.dtype.kind == "f" else []
    if len(bad):
        raise UserError(f"{where}[{bad[0]}] has a NaN or infinite pixel ({len(bad)} images do): fix or drop them")
    outside = np.flatnonzero((flat.min(axis=1) < 0) | (flat.max(axis=1) > 255))
    if len(outside):
        raise UserError(f"{where}[{outside[0]}] has pixels outside [0, 255]: use uint8 0..255 or float 0..1")
    wrong = np.flatnonzero((y < 0) | (y >= num_classes))
    if len(wrong):
        raise UserError(f"{field_y}[{wrong[0]}] = {y[wrong[0]]} is outside [0, {num_classes}) ({len(wrong)} labels "
                        f"are): relabel the classes 0..{num_classes - 1}")
    if len(np.unique(y)) < 2:
        raise UserError(f"{field_y} holds a single class ({y[0]}): a classifier needs at least two")


def pixel_scale(x):
    """What the pixels are divided by to land in [0, 1]: 255 for uint8, or for floats whose maximum is above 1
    (0..255 values); 1 for floats in [0, 1].  Call it after ``check_arrays`` (a NaN would hide the maximum)."""
    return 255.0 if x.dtype == np.uint8 or x.max() > 1.0 else 1.0


def resize_images(images, size):
    """Bilinear resize of (N, H, W) images to (N, size, size); a no-op when already that size."""
    n, h, w = images.shape
    if (h, w) == (size, size):
        return images.astype(np.float32)
    zoom = (1.0, size / h, size / w)
    return np.clip(ndimage.zoom(images.astype(np.float32), zoom, order=1), 0.0, 1.0)
