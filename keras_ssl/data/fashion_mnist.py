"""Fashion-MNIST (Zalando: 60,000 + 10,000 28x28 grayscale images, 10 classes) through Keras' own loader.

``tf_keras.datasets.fashion_mnist.load_data`` reads the four standard idx ``.gz`` files from the Keras cache folder
and downloads them only when they are missing.  This machine's users often have no network, so the files are
checked first: missing ones give one error naming both ways to get them, before anything is written.  Debian's
``dataset-fashion-mnist`` package installs exactly these four files; ``make fashion-mnist`` copies them into place.
"""
import gzip
import os
import zlib

import numpy as np

from keras_ssl.base.errors import UserError
from keras_ssl.data.image_data import ImageData, resize_images

KERAS_CACHE = os.path.join("~", ".keras")  # the folder tf_keras' get_file uses when not given another
FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz")
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot")
DEBIAN_FOLDER = "/usr/share/datasets/fashion-mnist"  # where apt's dataset-fashion-mnist puts the same four files


def cache_folder(cache_dir=KERAS_CACHE):
    """Where Keras' loader looks for (and would download) the four files."""
    return os.path.join(os.path.expanduser(cache_dir), "datasets", "fashion-mnist")


def load_fashion_mnist(image_size=28, cache_dir=KERAS_CACHE):
    """The standard train/test split as ``ImageData`` (1 channel, resized to ``image_size`` when it is not 28)."""
    folder = cache_folder(cache_dir)
    missing = [name for name in FILES if not os.path.isfile(os.path.join(folder, name))]
    if missing:
        raise UserError(f"Fashion-MNIST is not in {folder} (missing {', '.join(missing)}): run `make fashion-mnist` "
                        f"(copies Debian's dataset-fashion-mnist files from {DEBIAN_FOLDER}; apt-get install "
                        "dataset-fashion-mnist), or put the four idx .gz files from "
                        "github.com/zalandoresearch/fashion-mnist (data/fashion) there")
    from keras_ssl.base.keras import tf_keras

    try:
        (x_train, y_train), (x_test, y_test) = tf_keras.datasets.fashion_mnist.load_data(
            cache_dir=os.path.expanduser(cache_dir))
    except (OSError, EOFError, ValueError, zlib.error, gzip.BadGzipFile) as e:
        raise UserError(f"cannot read Fashion-MNIST from {folder}: {e.__class__.__name__}: {e} "
                        "(a damaged copy: run `make fashion-mnist` again)") from None
    return ImageData(resize_images(x_train / 255.0, image_size)[..., None], y_train.astype(np.int64),
                     resize_images(x_test / 255.0, image_size)[..., None], y_test.astype(np.int64),
                     source="fashion_mnist", class_names=CLASS_NAMES)
