"""One run per output: an OS file lock, held for the whole run, on a lock file beside the output.

Two runs on one ``--output_dir`` would delete each other's staging folder and train into the same backups.  The
lock is ``fcntl.flock`` on ``.<name>.lock`` beside the output (folder or file); a second run fails at once, naming
the process that holds it.  The OS drops a flock when its process dies, however it dies, so the lock file a killed
run leaves behind holds nothing: the next run takes it over.  A run that ends removes its lock file.
"""
import contextlib
import fcntl
import functools
import os
import sys

from keras_ssl.base.errors import UserError

_HELD = {}  # lock file -> nesting depth: a job that holds its output's lock calls helpers that take it again


def lock_path(output):
    """``.<name>.lock`` beside ``output``."""
    output = os.path.abspath(output)
    return os.path.join(os.path.dirname(output), "." + os.path.basename(output) + ".lock")


def _open_locked(path, output):
    """The descriptor of ``path``, created if needed and flock-ed; retried when the file it opened was removed by
    the previous holder in between (then its lock guards nothing)."""
    while True:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise UserError(f"cannot write under {os.path.dirname(path)}: {e.strerror}; choose another output "
                            "folder") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 300, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise UserError(f"{output} is in use by {holder}: wait for that run to end, or choose another output "
                            "folder") from None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


@contextlib.contextmanager
def output_lock(output):
    """Holds the lock on ``output`` (a folder or a file) for the ``with`` body; raises UserError if another
    process holds it.  Re-entrant within one process."""
    path = lock_path(output)
    if path in _HELD:
        _HELD[path] += 1
        try:
            yield
        finally:
            _HELD[path] -= 1
        return
    created = _missing_folders(os.path.dirname(path))
    fd = _open_locked(path, output)
    command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:200]
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"process {os.getpid()} ({command})\n".encode(), 0)
    _HELD[path] = 1
    try:
        yield
    finally:
        del _HELD[path]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # before closing: a run that opened it meanwhile retries on a fresh file
        os.close(fd)
        for folder in created:  # deepest first; a run that failed before writing leaves no empty folders
            with contextlib.suppress(OSError):
                os.rmdir(folder)


def _missing_folders(folder):
    """The folders above and including ``folder`` that do not exist yet, deepest first."""
    missing = []
    while folder and not os.path.exists(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    return missing


def locks_output(field):
    """Decorator for a job ``f(request)``: the lock on ``request.<field>`` (when set) is held for the whole job, so a
    second job on the same output is refused before it loads or trains anything."""
    def decorate(job):
        @functools.wraps(job)
        def locked_job(request):
            output = getattr(request, field)
            with output_lock(output) if output else contextlib.nullcontext():
                return job(request)
        return locked_job
    return decorate
