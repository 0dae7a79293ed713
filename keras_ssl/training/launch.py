"""Runs N local worker processes as one ``tf.distribute`` cluster on 127.0.0.1, and never lets one hang.

Every worker runs its command with ``TF_CONFIG`` naming all the workers' ``127.0.0.1:port`` addresses and its own
index.  Output lines are streamed as they come, prefixed ``[worker i]``.  Two things make a multi-worker run end:
every worker exits 0 (success); or a worker fails or the deadline passes, and then every worker still running is
killed with SIGKILL.  SIGKILL because TensorFlow traps SIGTERM, and because a MultiWorkerMirroredStrategy worker
whose peer never started, or died, waits for it forever: the launcher's timeout is the only thing that ends it.

Each worker runs in its own process group, and the whole group is killed, so a command that is a shell script
leaves no grandchild behind either.
"""
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from keras_ssl.base.errors import UserError

LOCALHOST = "127.0.0.1"


@dataclasses.dataclass
class LaunchResult:
    """How a launch ended: ``ok``, a one-line ``message``, and per worker its pid, exit code and output lines.

    Exit codes are the processes' own (negative = killed by that signal, e.g. -9 for the launcher's SIGKILL).
    """
    ok: bool
    message: str
    pids: list
    returncodes: list
    outputs: list
    seconds: float


def free_ports(count):
    """``count`` distinct TCP ports free on 127.0.0.1 right now (the OS picks them; they are released at once)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOCALHOST, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tf_config(addresses, index):
    """The ``TF_CONFIG`` JSON for worker ``index`` of a cluster of ``addresses`` ("host:port"; worker 0 is chief)."""
    return json.dumps({"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": index}})


def _pump(index, pipe, lines, stream, lock):
    for raw in iter(pipe.readline, b""):
        line = raw.decode("utf-8", errors="replace").rstrip("\n")
        lines.append(line)
        if stream is not None:
            with lock:
                stream.write(f"[worker {index}] {line}\n")
                stream.flush()
    pipe.close()


def _kill(procs):
    """SIGKILLs every worker's process group (what is left of it, even after the worker exited) and reaps it.

    A group id is not reused while any member lives, so this only ever reaches processes the launcher started."""
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for proc in procs:
        proc.wait()


def describe_exit(code):
    """How a worker ended, from its exit code (negative: the signal that killed it)."""
    return f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"


def launch(commands, timeout, env=None, cwd=None, stream=sys.stdout, poll_seconds=0.1, stop_when=None,
           independent=False):
    """Starts one process per entry of ``commands`` (argument lists) as workers 0..N-1 of a local cluster.

    ``{index}`` in an argument becomes the worker's index.  Returns a LaunchResult once every worker exited 0,
    or as soon as one fails or ``timeout`` seconds pass (the rest are then SIGKILLed); it never raises for a
    worker's failure.  ``stream`` gets the prefixed output (None: only kept in the result).  ``stop_when()``, polled
    while they run, SIGKILLs them all when it returns True (tests use it to kill a cluster mid-training).
    ``independent`` workers (e.g. search workers sharing a study) are no cluster: no ``TF_CONFIG``, and one that
    fails leaves the others running; the launch ends when all have exited (or at the deadline).
    """
    if not commands or not all(commands):
        raise UserError("no worker command given: pass the command to run after `--`")
    if not timeout > 0:
        raise UserError(f"timeout={timeout} must be a positive number of seconds")
    addresses = [f"{LOCALHOST}:{port}" for port in free_ports(len(commands))]
    base_env = dict(os.environ if env is None else env, PYTHONUNBUFFERED="1")
    procs, threads, outputs, lock = [], [], [], threading.Lock()
    start = time.monotonic()
    try:
        for index, command in enumerate(commands):
            argv = [str(arg).replace("{index}", str(index)) for arg in command]
            try:
                cluster = {} if independent else {"TF_CONFIG": tf_config(addresses, index)}
                proc = subprocess.Popen(argv, cwd=cwd, env=dict(base_env, **cluster),
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
            except OSError as e:
                raise UserError(f"cannot start worker {index} ({argv[0]}): {e.strerror}; check the command") from None
            procs.append(proc)
            outputs.append([])
            thread = threading.Thread(target=_pump, args=(index, proc.stdout, outputs[-1], stream, lock), daemon=True)
            thread.start()
            threads.append(thread)
        message = _wait(procs, start + timeout, timeout, poll_seconds, stop_when, independent)
    finally:
        _kill(procs)
        for thread in threads:
            thread.join(timeout=5)
    codes = [proc.returncode for proc in procs]
    return LaunchResult(ok=message is None, message=message or f"all {len(procs)} workers finished",
                        pids=[proc.pid for proc in procs], returncodes=codes, outputs=outputs,
                        seconds=round(time.monotonic() - start, 2))


def _wait(procs, deadline, timeout, poll_seconds, stop_when=None, independent=False):
    """None once every worker exited 0; else the one-line reason the launch failed (the caller kills the rest)."""
    while True:
        codes = [proc.poll() for proc in procs]
        failed = [i for i, code in enumerate(codes) if code not in (None, 0)]
        if failed and (not independent or None not in codes):
            i = failed[0]
            running = [str(j) for j, code in enumerate(codes) if code is None]
            rest = f"; killed worker(s) {', '.join(running)} (SIGKILL)" if running else ""
            return f"worker {i} of {len(procs)} {describe_exit(codes[i])}{rest}"
        if all(code == 0 for code in codes):
            return None
        if stop_when is not None and stop_when():
            return "stopped on request: killed every worker (SIGKILL)"
        if time.monotonic() >= deadline:
            running = [str(j) for j, code in enumerate(codes) if code is None]
            return (f"timed out after {timeout:g} s with worker(s) {', '.join(running)} still running (a "
                    "multi-worker peer waits forever for one that never started or died); killed them (SIGKILL)")
        time.sleep(poll_seconds)
