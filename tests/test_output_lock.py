"""One run per output: a second process is refused at once, a killed holder's lock is taken over, a finished or
failed run leaves no lock file, no empty folder and no stale staging folder behind."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.base.io_utils import staged_dir
from keras_ssl.base.output_lock import lock_path, output_lock

# Holds the lock from another process (no TensorFlow: it starts in well under a second).
HOLDER = textwrap.dedent("""
    import sys, time
    from keras_ssl.base.output_lock import output_lock
    with output_lock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(120)
""")


@pytest.fixture
def holder(tmp_path):
    """Starts a process holding the lock on tmp_path/out; yields it (killed at the end)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "out")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    yield proc
    proc.kill()
    proc.wait()


def test_a_second_process_is_refused_naming_the_holder(tmp_path, holder):
    with pytest.raises(UserError, match=rf"in use by process {holder.pid} \("):
        with output_lock(str(tmp_path / "out")):
            pass
    with pytest.raises(UserError, match="in use by process"):  # every staged writer takes the same lock
        with staged_dir(str(tmp_path / "out")):
            pass


def test_a_killed_holders_lock_is_taken_over_and_removed(tmp_path, holder):
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert os.path.exists(lock_path(str(tmp_path / "out"))), "a kill skips the cleanup: the file stays"
    with output_lock(str(tmp_path / "out")):
        with output_lock(str(tmp_path / "out")):  # re-entrant within one process
            pass
    assert os.listdir(tmp_path) == []


def test_a_failed_run_leaves_no_lock_and_no_folder_it_created(tmp_path):
    with pytest.raises(RuntimeError):
        with output_lock(str(tmp_path / "new" / "deeper" / "out")):
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_stale_staging_folders_are_removed_under_the_lock(tmp_path):
    stale = tmp_path / ".out.staging-abc123"
    (stale / "artifacts").mkdir(parents=True)
    (stale / "artifacts" / "model.tflite").write_bytes(b"left by a killed export")
    with staged_dir(str(tmp_path / "out")) as stage:
        open(os.path.join(stage, "report.json"), "w").write("{}")
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_an_unwritable_parent_is_one_user_error():
    with pytest.raises(UserError, match="cannot write under /proc"):
        with output_lock("/proc/keras_ssl_no_such/out"):
            pass
