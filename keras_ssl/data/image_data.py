"""``ImageData``: what every image loader returns (digits, mnist.npz, Fashion-MNIST, a folder of images).

float32 in [0, 1] shaped (N, size, size, channels), int64 labels and the class names, so every model and recipe
runs unchanged on any source.  No TensorFlow here.
"""
import dataclasses

import numpy as np
from scipy import ndimage

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


def resize_images(images, size):
    """Bilinear resize of (N, H, W) images to (N, size, size); a no-op when already that size."""
    n, h, w = images.shape
    if (h, w) == (size, size):
        return images.astype(np.float32)
    zoom = (1.0, size / h, size / w)
    return np.clip(ndimage.zoom(images.astype(np.float32), zoom, order=1), 0.0, 1.0)
