"""Fashion-MNIST through Keras' own loader, on tiny generated idx .gz files in a stand-in Keras cache folder."""
import gzip
import os
import struct

import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.data.fashion_mnist import CLASS_NAMES, FILES, cache_folder, load_fashion_mnist
from keras_ssl.data.images import load_images


def _write_idx(path, array):
    """The idx format Keras reads: a magic number, the dimensions (big-endian uint32), then uint8 data."""
    header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _fake_cache(root, n_train=30, n_test=10):
    folder = cache_folder(str(root))
    os.makedirs(folder)
    rng = np.random.default_rng(0)
    arrays = {"train-labels-idx1-ubyte.gz": np.arange(n_train) % 10,
              "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28)),
              "t10k-labels-idx1-ubyte.gz": np.arange(n_test) % 10,
              "t10k-images-idx3-ubyte.gz": np.full((n_test, 28, 28), 255)}
    for name in FILES:
        _write_idx(os.path.join(folder, name), arrays[name])
    return arrays


def test_keras_loader_reads_the_cache_scaled_and_resized(tmp_path):
    arrays = _fake_cache(tmp_path)
    data = load_fashion_mnist(image_size=32, cache_dir=str(tmp_path))
    assert data.x_train.shape == (30, 32, 32, 1) and data.x_test.shape == (10, 32, 32, 1)
    assert data.x_train.dtype == np.float32 and 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    assert np.allclose(data.x_test, 1.0) and data.y_train.tolist() == arrays["train-labels-idx1-ubyte.gz"].tolist()
    assert data.class_names == CLASS_NAMES and data.num_classes == 10 and data.channels == 1
    native = load_fashion_mnist(image_size=28, cache_dir=str(tmp_path))
    assert np.allclose(native.x_train[..., 0] * 255, arrays["train-images-idx3-ubyte.gz"], atol=1e-3)


def test_missing_files_name_both_ways_to_get_them_and_write_nothing(tmp_path):
    _fake_cache(tmp_path)
    os.remove(os.path.join(cache_folder(str(tmp_path)), "t10k-images-idx3-ubyte.gz"))
    before = sorted(os.listdir(cache_folder(str(tmp_path))))
    with pytest.raises(UserError, match=r"missing t10k-images-idx3-ubyte.gz\): run `make fashion-mnist`.*"
                                        r"apt-get install dataset-fashion-mnist.*zalandoresearch") as raised:
        load_fashion_mnist(cache_dir=str(tmp_path))
    assert "\n" not in str(raised.value)
    assert sorted(os.listdir(cache_folder(str(tmp_path)))) == before


def test_a_damaged_file_is_one_clear_error(tmp_path):
    _fake_cache(tmp_path)
    with open(os.path.join(cache_folder(str(tmp_path)), "train-images-idx3-ubyte.gz"), "wb") as f:
        f.write(b"not gzip")
    with pytest.raises(UserError, match="cannot read Fashion-MNIST .*make fashion-mnist"):
        load_fashion_mnist(cache_dir=str(tmp_path))


def test_one_source_of_images_at_a_time(tmp_path):
    with pytest.raises(UserError, match="--image_dir and --dataset=fashion_mnist each name the images"):
        load_images(dataset="fashion_mnist", image_dir=str(tmp_path))
    with pytest.raises(UserError, match="unknown dataset 'cifar'"):
        load_images(dataset="cifar")


def test_the_benchmark_builds_its_search_students_at_28_px():
    """Only the fields a student shares with the classifier are fixed: the default 3-block student does not fit
    28 px, and checking it stopped `make fashion-mnist-benchmark` after fine-tuning."""
    from keras_ssl.configs.fashion_mnist import get_config
    from keras_ssl.models.students import StudentClassifierConfig, build_student_classifier, student_fields

    config = get_config()
    fixed = student_fields(config.image.classifier)
    assert fixed == {"image_size": 28, "channels": 1, "num_classes": 10}
    for student in config.search.students:
        model = build_student_classifier(StudentClassifierConfig(**fixed, **student))
        assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
