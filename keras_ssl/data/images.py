"""Image data: scikit-learn's embedded digits (the offline default) and real MNIST from a local ``mnist.npz``.

Every loader (these, ``fashion_mnist`` and ``image_folder``) returns the same ``ImageData`` (float32 in [0, 1],
shape (N, size, size, channels), int labels, class names), so every model and recipe runs unchanged on any of
them.  No TensorFlow here: loading stays fast and testable on its own.
"""
import dataclasses
import zipfile

import numpy as np
from sklearn import datasets as sk_datasets
from sklearn import model_selection

from keras_ssl.base.errors import UserError
from keras_ssl.base.io_utils import require_file
from keras_ssl.data.image_data import ImageData, check_arrays, pixel_scale, resize_images


def load_digits(image_size=16, test_fraction=0.2, seed=0):
    """scikit-learn's 1,797 8x8 digits, upsampled to ``image_size`` and split with a seeded, stratified split."""
    if image_size < 8:
        raise UserError(f"image_size={image_size} is too small for the digits data: use 8 or more")
    if not 0.0 < test_fraction < 1.0:
        raise UserError(f"test_fraction={test_fraction} must be between 0 and 1 (exclusive)")
    digits = sk_datasets.load_digits()
    images = resize_images(digits.images / 16.0, image_size)
    x_train, x_test, y_train, y_test = model_selection.train_test_split(
        images, digits.target, test_size=test_fraction, random_state=seed, stratify=digits.target)
    return ImageData(x_train[..., None], y_train.astype(np.int64), x_test[..., None], y_test.astype(np.int64),
                     source="sklearn-digits")


def load_mnist_npz(path, image_size=28, max_train=None, max_test=None):
    """Reads a local MNIST file in the Keras ``mnist.npz`` format (x_train, y_train, x_test, y_test; uint8 0..255,
    or float pixels: in [0, 1], or 0..255 when the maximum is above 1), checked before any training
    (``image_data.check_arrays``)."""
    require_file(path, "MNIST file", "pass --data_path=/path/to/mnist.npz, the Keras format; a folder of images is "
                 "--image_dir")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(npz.files)
            if missing:
                raise UserError(f"{path} is not a Keras mnist.npz: missing arrays {sorted(missing)}")
            arrays = {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        if isinstance(e, UserError):
            raise
        raise UserError(f"cannot read MNIST file {path}: {e.__class__.__name__}: {e} "
                        "(expected a Keras mnist.npz; re-copy the file)") from None
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y) or len(x) == 0:
            raise UserError(f"{path}: x_{split} must be (N, H, W) and y_{split} (N,) with N > 0, "
                            f"got {x.shape} and {y.shape}")
        check_arrays(x, y, f"{path}: x_{split}")
    x_train = resize_images(arrays["x_train"][:max_train] / pixel_scale(arrays["x_train"]), image_size)
    x_test = resize_images(arrays["x_test"][:max_test] / pixel_scale(arrays["x_test"]), image_size)
    return ImageData(x_train[..., None], arrays["y_train"][:max_train].astype(np.int64),
                     x_test[..., None], arrays["y_test"][:max_test].astype(np.int64), source=f"mnist:{path}")


DATASETS = ("digits", "fashion_mnist")  # named data sets; a local file or folder comes by path instead


def check_source(dataset="digits", data_path=None, image_dir=None):
    """UserError unless exactly one source of images is named (the digits when none is)."""
    if dataset not in DATASETS:
        raise UserError(f"unknown dataset {dataset!r}: use one of {', '.join(DATASETS)}, or --data_path/--image_dir")
    given = [name for name, value in (("--data_path", data_path), ("--image_dir", image_dir),
                                      (f"--dataset={dataset}", dataset != "digits")) if value]
    if len(given) > 1:
        raise UserError(f"{' and '.join(given)} each name the images to use: give only one")


def load_images(data_path=None, image_size=16, seed=0, dataset="digits", image_dir=None):
    """The pipeline's entry point: one source, whichever is given: a local ``mnist.npz`` (``data_path``), a folder
    of class subfolders (``image_dir``), or a named ``dataset`` (the embedded digits by default)."""
    check_source(dataset, data_path, image_dir)
    if data_path:
        return load_mnist_npz(data_path, image_size=image_size)
    if image_dir:
        from keras_ssl.data.image_folder import load_image_dir

        return load_image_dir(image_dir, image_size=image_size, seed=seed)
    if dataset == "fashion_mnist":
        from keras_ssl.data.fashion_mnist import load_fashion_mnist

        return load_fashion_mnist(image_size=image_size)
    return load_digits(image_size=image_size, seed=seed)


def label_subset(y, fraction, seed=0):
    """Indices of a stratified ``fraction`` of the labels, at least one example per class.

    Models the label-scarce setting: self-supervised pretraining sees all images, fine-tuning only these.
    """
    if not 0.0 < fraction <= 1.0:
        raise UserError(f"label fraction {fraction} must be in (0, 1]")
    if fraction == 1.0:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        k = max(1, int(round(fraction * len(idx))))
        picked.append(rng.choice(idx, size=k, replace=False))
    return np.sort(np.concatenate(picked))


def labels_text(class_names):
    """The labels.txt shipped beside image artifacts: one class name per line, in logit order (digits: 0..9)."""
    return "".join(f"{name}\n" for name in class_names)


def hold_out_validation(data, fraction, seed):
    """(data without a seeded ``fraction`` of its training images, (validation images, labels))."""
    order = np.random.default_rng([seed, 17]).permutation(len(data.x_train))
    n_val = max(1, int(len(order) * fraction))
    val, train = order[:n_val], order[n_val:]
    return (dataclasses.replace(data, x_train=data.x_train[train], y_train=data.y_train[train]),
            (data.x_train[val], data.y_train[val]))
