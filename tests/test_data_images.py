import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.data.images import label_subset, load_digits, load_images, load_mnist_npz


def test_digits_are_upsampled_scaled_and_split_reproducibly():
    a = load_digits(image_size=16, seed=3)
    b = load_digits(image_size=16, seed=3)
    assert a.x_train.shape[1:] == (16, 16, 1) and a.x_train.dtype == np.float32
    assert len(a.x_train) + len(a.x_test) == 1797
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0 and a.x_train.max() > 0.9
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert set(np.unique(a.y_test)) == set(range(10))  # stratified: every class in the test split
    c = load_digits(image_size=16, seed=4)
    assert not np.array_equal(a.y_test, c.y_test)


def _write_mnist(path, n=20, size=28):
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 256, (n, size, size), dtype=np.uint8), y_train=rng.integers(0, 10, n),
             x_test=rng.integers(0, 256, (n // 2, size, size), dtype=np.uint8), y_test=rng.integers(0, 10, n // 2))


def test_mnist_npz_is_read_scaled_and_resized(tmp_path):
    path = tmp_path / "mnist.npz"
    _write_mnist(path)
    data = load_images(str(path), image_size=16)
    assert data.x_train.shape == (20, 16, 16, 1) and data.x_test.shape == (10, 16, 16, 1)
    assert data.x_train.max() <= 1.0 and data.source.startswith("mnist:")


@pytest.mark.parametrize("content,fragment", [
    (None, "not found"),
    (b"this is not a zip file", "cannot read MNIST file"),
])
def test_bad_mnist_files_give_one_clear_error(tmp_path, content, fragment):
    path = tmp_path / "mnist.npz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=fragment) as err:
        load_mnist_npz(str(path))
    assert "\n" not in str(err.value)


def test_truncated_and_incomplete_mnist_files_are_refused(tmp_path):
    good = tmp_path / "good.npz"
    _write_mnist(good)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:300])
    with pytest.raises(UserError):
        load_mnist_npz(str(truncated))
    partial = tmp_path / "partial.npz"
    np.savez(partial, x_train=np.zeros((2, 28, 28)))
    with pytest.raises(UserError, match="missing arrays"):
        load_mnist_npz(str(partial))


def test_label_subset_is_stratified_with_every_class():
    y = np.repeat(np.arange(10), 100)
    idx = label_subset(y, 0.01, seed=0)
    assert len(idx) == 10 and set(y[idx]) == set(range(10))
    assert len(label_subset(y, 1.0)) == 1000
    with pytest.raises(UserError):
        label_subset(y, 0.0)
