import os

import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.base.io_utils import atomic_write_bytes, staged_dir


def test_atomic_write_leaves_no_temp_files(tmp_path):
    path = tmp_path / "sub" / "file.bin"
    atomic_write_bytes(str(path), b"abc")
    atomic_write_bytes(str(path), b"defg")
    assert path.read_bytes() == b"defg"
    assert os.listdir(path.parent) == ["file.bin"]


def test_staged_dir_moves_everything_on_success(tmp_path):
    final = tmp_path / "out"
    with staged_dir(str(final)) as stage:
        os.makedirs(os.path.join(stage, "artifacts"))
        open(os.path.join(stage, "artifacts", "a.tflite"), "wb").write(b"x")
        open(os.path.join(stage, "report.json"), "w").write("{}")
        assert not final.exists(), "nothing is visible before the run succeeds"
    assert sorted(os.listdir(final)) == ["artifacts", "report.json"]
    assert os.listdir(tmp_path) == ["out"], "the staging folder is gone"


def test_staged_dir_leaves_nothing_on_failure(tmp_path):
    final = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with staged_dir(str(final)) as stage:
            open(os.path.join(stage, "report.json"), "w").write("{}")
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_unusable_output_locations_are_user_errors(tmp_path):
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    with pytest.raises(UserError, match="existing file"):
        with staged_dir(str(a_file)):
            pass
    with pytest.raises(UserError, match="cannot write under"):
        with staged_dir(str(a_file / "sub" / "out")):
            pass


def test_written_files_are_readable_by_others_as_the_umask_allows(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(str(tmp_path / "model.tflite"), b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "model.tflite").stat().st_mode & 0o777 == 0o644
