"""Atomic writes: a killed or failed run never leaves a half-written file that a later run trusts."""
import contextlib
import glob
import json
import os
import shutil
import tempfile

from keras_ssl.base.errors import UserError
from keras_ssl.base.output_lock import output_lock


def require_file(path, what, hint):
    """UserError unless ``path`` is an existing file: ``<what> not found: <path> (<hint>)``, or that it is a folder."""
    if os.path.isdir(path):
        raise UserError(f"{what} {path} is a folder, not a file ({hint})")
    if not os.path.isfile(path):
        raise UserError(f"{what} not found: {path} ({hint})")


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data):
    """Writes ``data`` to ``path`` through a temporary file in the same folder, then renames it into place."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would make artifacts and reports private to their writer
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text):
    """``atomic_write_bytes`` for text, encoded as UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj):
    """Writes ``obj`` as indented JSON (keys in insertion order) with a trailing newline, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def _staging_prefix(final_dir):
    """``<parent>/.<name>.staging-``: what every staging folder of ``final_dir`` starts with."""
    final_dir = os.path.abspath(final_dir)
    return os.path.join(os.path.dirname(final_dir), "." + os.path.basename(final_dir) + ".staging-")


def remove_stale_staging(final_dir):
    """Deletes the staging folders (``.<name>.staging-*`` beside ``final_dir``) that killed runs left: a kill skips
    their cleanup.  Call it only while holding ``output_lock(final_dir)``, which proves no live run owns them."""
    for path in glob.glob(_staging_prefix(final_dir) + "*"):
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def staged_dir(final_dir):
    """Yields a private staging folder; on success its contents are moved into ``final_dir``, on error deleted.

    Used for a whole run's outputs (report, plots, artifacts), so a failure halfway leaves ``final_dir`` as it was.
    Files are moved one by one with ``os.replace`` (atomic per file, same file system).  ``final_dir``'s lock
    (``output_lock``) is held throughout, and staging folders that killed runs left beside it are removed first.
    """
    final_dir = os.path.abspath(final_dir)
    if os.path.exists(final_dir) and not os.path.isdir(final_dir):
        raise UserError(f"output folder {final_dir} is an existing file: choose another --output_dir")
    with output_lock(final_dir):
        remove_stale_staging(final_dir)
        with _staging(final_dir) as staging:
            yield staging


@contextlib.contextmanager
def _staging(final_dir):
    parent = os.path.dirname(final_dir)
    try:
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(dir=parent, prefix=os.path.basename(_staging_prefix(final_dir)))
    except OSError as e:
        raise UserError(f"cannot write under {parent}: {e.strerror}; choose another --output_dir") from None
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    created = not os.path.isdir(final_dir)
    try:
        for root, _, files in os.walk(staging):
            rel = os.path.relpath(root, staging)
            target_root = os.path.normpath(os.path.join(final_dir, rel))
            os.makedirs(target_root, exist_ok=True)
            for name in files:
                os.replace(os.path.join(root, name), os.path.join(target_root, name))
    except BaseException:
        if created:
            shutil.rmtree(final_dir, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
