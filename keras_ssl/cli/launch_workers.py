"""Runs N local copies of a command as one multi-worker tf.distribute cluster on 127.0.0.1.

    python -m experiments.launch_workers --num_workers=2 --timeout=900 -- \\
        python -m experiments.pipeline --task=text --quick --strategy=multi_worker --output_dir=runs/text-mw

Each worker gets ``TF_CONFIG`` with every worker's 127.0.0.1 address (free ports picked at start) and its own
index; worker 0 is the chief (the pipeline's chief writes ``--output_dir``, the others a scratch copy).  ``{index}``
in the command becomes the worker's index.  Output is streamed with a ``[worker i]`` prefix.  If any worker fails,
or ``--timeout`` passes, every other worker is killed with SIGKILL (TensorFlow traps SIGTERM, and a worker whose
peer never started or died waits forever) and the launcher prints one ``error:`` line and exits 1; bad usage
exits 2.  The work is in ``keras_ssl.training.launch``.

On real hosts there is no launcher: start the same command on every host with its own ``TF_CONFIG``; the cluster
lists the same addresses, in the same order, everywhere, and only ``index`` differs:

    # on host A (the chief):
    export TF_CONFIG='{"cluster": {"worker": ["hostA:12345", "hostB:12345"]}, "task": {"type": "worker", "index": 0}}'
    # on host B: the same with "index": 1
    python -m experiments.pipeline --task=text --strategy=multi_worker --output_dir=runs/text

Each host needs the same code, data and flags; ports must be reachable between hosts.  Batch sizes are global
(split over all replicas).  Run the hosts under a job system (or ``timeout -s KILL``) that kills all of them when
one fails: like here, a survivor would otherwise wait for its lost peer forever.
"""
import sys

from absl import flags

from keras_ssl.cli.run import EXIT_FAILED, fail, start

FLAGS = flags.FLAGS
flags.DEFINE_integer("num_workers", 2, "Worker processes to start on this machine.", lower_bound=1)
flags.DEFINE_float("timeout", 3600.0, "Seconds before every worker still running is killed (SIGKILL).",
                   lower_bound=0.001)


def launch_from_flags(command):
    """Launches ``command`` (what follows ``--``) on every worker; exit code 0 only if all of them exit 0."""
    from keras_ssl.base.errors import UserError
    from keras_ssl.training.launch import launch

    try:
        result = launch([command] * FLAGS.num_workers, timeout=FLAGS.timeout)
    except UserError as e:
        fail(f"{e} (usage: python -m experiments.launch_workers --num_workers=N -- COMMAND ...)")
    if not result.ok:
        fail(f"{result.message} ({result.seconds:g} s)", EXIT_FAILED)
    print(f"{result.message} in {result.seconds:g} s", file=sys.stderr)


def run():
    """Entry point: ``keras-ssl-launch-workers`` and ``python -m experiments.launch_workers``."""
    start(__name__, launch_from_flags, takes_command=True)
