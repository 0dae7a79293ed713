"""Your own images: a folder with one subfolder per class, the convention of Keras' ``image_dataset_from_directory``.

    DIR/cat/001.jpg, DIR/cat/002.png, ..., DIR/dog/001.jpg, ...

Class names are the sorted subfolder names and a label is the index of its class in that order.  Only image files
(.jpg .jpeg .png .bmp .gif, any case) directly inside a class folder are read: nested folders and other files are
skipped with one warning, hidden names (starting with ".") and files beside the class folders are ignored.

Every problem the user can fix is found before any training starts and reported as one ``UserError`` line naming
the folder or file.  The file list is split (seeded, stratified) before anything is decoded, so the split depends
only on the file names, not on pixel values or decode order.  Decoding and resizing run through ``tf.data`` in
batches: the raw files are never all in memory, only the resized float32 arrays are.
"""
import os
import re

import numpy as np
from absl import logging
from PIL import Image, UnidentifiedImageError
from sklearn import model_selection

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf
from keras_ssl.data.image_data import ImageData

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
GRAY_MODES = ("1", "L", "LA", "La", "I", "F")  # Pillow modes with one colour channel; "I;16" and kin via prefix
DECODE_BATCH = 64  # images decoded per tf.data step: bounds memory for raw files, big enough to keep the CPU busy
SKIPPED_SHOWN = 3  # how many skipped paths the warning names


def load_image_dir(path, image_size, seed=0, test_fraction=0.2):
    """``ImageData`` of the class subfolders of ``path``: resized to ``image_size`` square, 1 channel when every
    image is grayscale, else 3 (RGB, alpha dropped), split with a seeded, stratified ``test_fraction``."""
    if image_size < 8:
        raise UserError(f"image_size={image_size} is too small for images from a folder: use 8 or more")
    if not 0.0 < test_fraction < 1.0:
        raise UserError(f"test_fraction={test_fraction} must be between 0 and 1 (exclusive)")
    class_names, paths, labels = list_class_images(path)
    grayscale = [_is_grayscale(p) for p in paths]  # a list, not all(generator): every file's header is checked
    channels = 1 if all(grayscale) else 3
    train_paths, test_paths, y_train, y_test = _split(path, class_names, paths, labels, seed, test_fraction)
    return ImageData(decode_images(train_paths, image_size, channels), np.asarray(y_train, np.int64),
                     decode_images(test_paths, image_size, channels), np.asarray(y_test, np.int64),
                     source=f"image_dir:{path}", class_names=tuple(class_names))


def list_class_images(path):
    """(sorted class names, image paths, labels), paths sorted within each class so the list is reproducible.

    Checks the folder's layout only (no file is opened): missing folder, fewer than 2 classes, empty classes.
    """
    if not os.path.exists(path):
        raise UserError(f"image folder not found: {path} (pass --image_dir=/path/to/folder with one subfolder of "
                        "images per class)")
    if not os.path.isdir(path):
        raise UserError(f"--image_dir must be a folder, got a file: {path} (give the folder holding one subfolder "
                        "of images per class)")
    class_names = sorted(name for name in os.listdir(path)
                         if not name.startswith(".") and os.path.isdir(os.path.join(path, name)))
    if not class_names:
        raise UserError(f"no class subfolders in {path}: put each class's images in its own subfolder "
                        f"(e.g. {os.path.join(path, 'cat', '1.jpg')} and {os.path.join(path, 'dog', '1.jpg')})")
    if len(class_names) == 1:
        raise UserError(f"only one class subfolder ({class_names[0]!r}) in {path}: a classifier needs at least 2; "
                        "add one subfolder of images per class")
    paths, labels, skipped, empty = [], [], [], []
    for label, name in enumerate(class_names):
        folder = os.path.join(path, name)
        images = []
        for entry in sorted(os.listdir(folder)):
            entry_path = os.path.join(folder, entry)
            if entry.startswith("."):
                continue
            if os.path.isfile(entry_path) and entry.lower().endswith(IMAGE_EXTENSIONS):
                images.append(entry_path)
            else:
                skipped.append(entry_path + (os.sep if os.path.isdir(entry_path) else ""))
        if not images:
            empty.append(folder)
        paths += images
        labels += [label] * len(images)
    if skipped:
        logging.warning("skipped %d entries in %s that are not image files (%s) directly in a class folder: %s%s",
                        len(skipped), path, " ".join(IMAGE_EXTENSIONS), ", ".join(skipped[:SKIPPED_SHOWN]),
                        ", ..." if len(skipped) > SKIPPED_SHOWN else "")
    if empty:
        raise UserError(f"class folder {empty[0]} has no image files ({' '.join(IMAGE_EXTENSIONS)}): add images to "
                        "it or remove it" + (f" ({len(empty) - 1} more empty class folders)" if len(empty) > 1 else ""))
    return class_names, paths, labels


def _is_grayscale(path):
    """Whether the image has one colour channel, from its header only (Pillow does not decode the pixels here).

    A file with an image extension that Pillow cannot open is fatal: silently dropping it would change the data set.
    """
    try:
        with Image.open(path) as image:
            mode = image.mode
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        reason = "not an image Pillow recognises" if isinstance(e, UnidentifiedImageError) else (
            getattr(e, "strerror", None) or f"{e.__class__.__name__}: {e}")
        raise UserError(f"cannot read image {path}: {reason} (remove or replace the file)") from None
    return mode in GRAY_MODES or mode.startswith("I;")  # palette ("P") images may hold any colour: treated as RGB


def _split(path, class_names, paths, labels, seed, test_fraction):
    """Seeded stratified split of the file list; a class too small to appear in both halves is named."""
    counts = np.bincount(labels, minlength=len(class_names))
    smallest = int(np.argmin(counts))
    where = f"{class_names[smallest]!r} ({os.path.join(path, class_names[smallest])})"
    if counts[smallest] < 2:
        raise UserError(f"class {where} has only {counts[smallest]} image: a train/test split needs at least 2 per "
                        "class; add images or remove the folder")
    try:
        return model_selection.train_test_split(paths, labels, test_size=test_fraction, random_state=seed,
                                                stratify=labels)
    except ValueError as e:
        raise UserError(f"cannot split {path} ({len(paths)} images, {len(class_names)} classes) with every class in "
                        f"train and test at test_fraction={test_fraction}: {e} (smallest class {where} has "
                        f"{counts[smallest]} images; add images or change test_fraction)") from None


def _decode_one(path, image_size, channels):
    """One file to a float32 (size, size, channels) image in [0, 1]; a GIF gives its first frame.

    Decoded as RGB (every format supports 3 channels; BMP and GIF refuse 1), then a grayscale set keeps channel 0,
    which equals the others for an image whose header says it is grayscale.
    """
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False, dtype=tf.float32)
    image = tf.image.resize(image[..., :channels], (image_size, image_size), method="bilinear", antialias=True)
    return tf.clip_by_value(image, 0.0, 1.0)


def decode_images(paths, image_size, channels):
    """All ``paths`` decoded and resized by ``tf.data``, collected batch by batch into one float32 array.

    A file whose header reads but whose data is damaged fails inside the batch; that batch's files are then decoded
    one at a time so the error names the file.
    """
    images = np.empty((len(paths), image_size, image_size, channels), np.float32)
    dataset = (tf.data.Dataset.from_tensor_slices(tf.constant(paths, tf.string))
               .map(lambda p: _decode_one(p, image_size, channels), num_parallel_calls=tf.data.AUTOTUNE)
               .batch(DECODE_BATCH).prefetch(1))
    done = 0
    try:
        for batch in dataset.as_numpy_iterator():
            images[done:done + len(batch)] = batch
            done += len(batch)
    except tf.errors.OpError:
        _raise_for_undecodable(paths[done:done + DECODE_BATCH], image_size, channels)
        raise  # no single file fails on its own: not the user's data, keep the traceback
    return images


def _raise_for_undecodable(paths, image_size, channels):
    """Raises ``UserError`` naming the first of ``paths`` TensorFlow cannot decode, if any."""
    for path in paths:
        try:
            _decode_one(path, image_size, channels)
        except tf.errors.OpError as e:
            reason = re.sub(r"\{\{.*?\}\}", "", e.message).split("[Op:")[0].strip()  # without TF's node names
            raise UserError(f"cannot decode image {path}: {reason} (the file is damaged or truncated: remove or "
                            "replace it)") from None
