"""Images from a folder of class subfolders: shapes, labels, channels, the split, and one clear error per bad folder."""
import io
import logging
import os

import numpy as np
import pytest
from PIL import Image

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf
from keras_ssl.data.image_folder import load_image_dir

COLOURS = {"blue": 2, "green": 1, "red": 0}  # class name -> the RGB channel its images are bright in


def _rgb(channel, brightness, height=10, width=12):
    """A uint8 image bright in one channel; ``brightness`` makes images of one class differ from each other."""
    image = np.zeros((height, width, 3), np.uint8)
    image[..., channel] = brightness
    return image


def _write(path, image, encode=tf.io.encode_png):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(image).numpy())
    return path


def _colour_folder(root, per_class=6):
    """3 classes x ``per_class`` RGB images; one of the red ones is a JPEG with an upper-case extension."""
    for name, channel in COLOURS.items():
        for i in range(per_class):
            _write(root / name / f"{i}.png", _rgb(channel, 120 + 20 * i))
    (root / "red" / "0.png").unlink()
    _write(root / "red" / "0.JPG", _rgb(0, 120), encode=tf.io.encode_jpeg)
    return root


def test_colour_folder_gives_labelled_resized_rgb_images(tmp_path):
    data = load_image_dir(str(_colour_folder(tmp_path)), image_size=16, seed=0)
    assert data.class_names == ("blue", "green", "red") and data.source == f"image_dir:{tmp_path}"
    assert data.x_train.shape == (14, 16, 16, 3) and data.x_test.shape == (4, 16, 16, 3)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        assert 0.0 <= x.min() and x.max() <= 1.0
        bright_channel = x.mean(axis=(1, 2)).argmax(axis=-1)
        np.testing.assert_array_equal(bright_channel, [COLOURS[data.class_names[label]] for label in y])
    assert set(data.y_test) == {0, 1, 2}  # stratified: every class in the test split


def test_split_is_seeded(tmp_path):
    root = str(_colour_folder(tmp_path))
    a, b, c = (load_image_dir(root, image_size=8, seed=seed) for seed in (1, 1, 2))
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_test, c.x_test)


def test_grayscale_folder_gives_one_channel_and_mixed_gives_three(tmp_path):
    for name, value in (("dark", 40), ("light", 220)):
        for i in range(5):
            _write(tmp_path / "gray" / name / f"{i}.png", np.full((10, 12, 1), value, np.uint8))
    gray = load_image_dir(str(tmp_path / "gray"), image_size=8)
    assert gray.x_train.shape[1:] == (8, 8, 1)
    np.testing.assert_allclose(gray.x_train.mean(axis=(1, 2, 3)), np.where(gray.y_train == 0, 40, 220) / 255, atol=1e-5)
    os.rename(tmp_path / "gray" / "light", tmp_path / "light")
    for i in range(5):
        _write(tmp_path / "gray" / "red" / f"{i}.bmp", _rgb(0, 200), encode=_bmp)
    mixed = load_image_dir(str(tmp_path / "gray"), image_size=8)
    assert mixed.x_train.shape[1:] == (8, 8, 3) and mixed.class_names == ("dark", "red")
    dark = mixed.x_train[mixed.y_train == 0]
    np.testing.assert_allclose(dark, 40 / 255, atol=1e-5)  # grey replicated into all three channels


def _bmp(image):
    """BMP bytes through Pillow (TensorFlow has no BMP encoder), wrapped like a tf tensor for ``_write``."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "BMP")
    return tf.constant(buffer.getvalue())


def test_non_image_files_and_folders_are_skipped_with_one_warning(tmp_path, caplog):
    root = _colour_folder(tmp_path, per_class=3)
    (root / "red" / "notes.txt").write_text("not an image")
    (root / "red" / "nested").mkdir()
    (root / "red" / ".DS_Store").write_bytes(b"hidden")
    (root / ".cache").mkdir()
    (root / "README.md").write_text("beside the class folders")
    with caplog.at_level(logging.WARNING):
        data = load_image_dir(str(root), image_size=8, test_fraction=0.34)
    warnings = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(warnings) == 1 and "skipped 2 entries" in warnings[0] and "notes.txt" in warnings[0]
    assert ".DS_Store" not in warnings[0] and "README" not in warnings[0]
    assert data.class_names == ("blue", "green", "red") and len(data.x_train) + len(data.x_test) == 9


def _truncated_png(path):
    noisy = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    _write(path, noisy)
    path.write_bytes(path.read_bytes()[:1000])  # header and part of the pixel data


def _case(tmp_path, case):
    """A bad folder for ``case``; returns (the path to load, a regex the error must match)."""
    root = tmp_path / "data"
    if case == "missing":
        return root, "image folder not found: .*data"
    if case == "file":
        root.write_text("x")
        return root, "must be a folder, got a file: .*data"
    if case == "no_classes":
        root.mkdir()
        _write(root / "loose.png", _rgb(0, 200))
        return root, "no class subfolders in .*data"
    _colour_folder(root, per_class=5)
    if case == "single_class":
        for name in ("blue", "green"):
            for child in (root / name).iterdir():
                child.unlink()
            (root / name).rmdir()
        return root, r"only one class subfolder \('red'\)"
    if case == "empty_class":
        (root / "empty").mkdir()
        (root / "empty" / "readme.txt").write_text("no images here")
        return root, "class folder .*empty has no image files"
    if case == "not_an_image":
        (root / "green" / "broken.png").write_text("not really a png")
        return root, "cannot read image .*green.broken.png.*remove or replace"
    if case == "truncated":
        _truncated_png(root / "blue" / "cut.png")
        return root, "cannot decode image .*blue.cut.png.*remove or replace"
    if case == "tiny_class":
        for child in list((root / "blue").iterdir())[1:]:
            child.unlink()
        return root, "class 'blue' .* has only 1 image"
    if case == "split_fails":
        for name in COLOURS:
            for child in list((root / name).iterdir())[2:]:
                child.unlink()
        return root, "cannot split .*6 images, 3 classes.*smallest class"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["missing", "file", "no_classes", "single_class", "empty_class",
                                  "not_an_image", "truncated", "tiny_class", "split_fails"])
def test_bad_folders_give_one_clear_error(tmp_path, case):
    path, message = _case(tmp_path, case)
    with pytest.raises(UserError, match=message) as raised:
        load_image_dir(str(path), image_size=8)
    assert "\n" not in str(raised.value)


def test_unreadable_image_is_named(tmp_path, monkeypatch):
    root = _colour_folder(tmp_path, per_class=3)
    locked = str(root / "red" / "1.png")
    real_open = Image.open

    def open_or_refuse(path, *args, **kwargs):
        if str(path) == locked:  # chmod 0 would not stop root, so the refusal is simulated
            raise PermissionError(13, "Permission denied", locked)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(Image, "open", open_or_refuse)
    with pytest.raises(UserError, match="cannot read image .*red.1.png.*Permission denied"):
        load_image_dir(str(root), image_size=8, test_fraction=0.34)


@pytest.mark.parametrize("kwargs,message", [({"image_size": 4}, "image_size=4 is too small"),
                                            ({"image_size": 8, "test_fraction": 1.0}, "test_fraction=1.0 must be")])
def test_bad_numbers_are_refused(tmp_path, kwargs, message):
    with pytest.raises(UserError, match=message):
        load_image_dir(str(_colour_folder(tmp_path, per_class=2)), **kwargs)
