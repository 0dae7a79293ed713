"""Data-parallel training on ``tf.distribute``: choosing a strategy, its scope, batch sizes and dataset sharding.

Three strategies, by name (``--strategy``):

- ``default``: TensorFlow's default strategy, i.e. what every run did before this module existed.  Its scope is a
  ``nullcontext``, so the default path builds, compiles and trains exactly as it always did.
- ``mirrored``: ``MirroredStrategy`` over the local GPUs, or over every logical CPU device when there is no GPU
  (normally one, so one replica: it runs, but cannot be faster than ``default``).
- ``multi_worker``: ``MultiWorkerMirroredStrategy`` over the processes named in the standard ``TF_CONFIG``
  environment variable (one process per host, or several on one host with ``experiments/launch_workers.py``).

Batch sizes in every config are **global**: ``batch_size=64`` on 4 replicas trains each replica on 16 examples per
step, so the optimizer sees the same 64-example steps whatever the strategy and the configs mean the same thing on
one machine and on many.  Keras does the split (``fit`` rebatches a dataset batched with the global size);
``per_replica_batch_size`` checks it is exact.  To keep the per-replica batch fixed while adding workers (weak
scaling), pass ``global_batch_size(per_replica, strategy)`` as the config's batch size.

Models, their optimizers and metrics must be *created* inside ``strategy_scope(strategy)``: build and compile
there (``fit`` may run inside or outside).  Variables created outside it cannot be mixed with ones created inside.
"""
import contextlib
import json
import os

from absl import logging

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf

STRATEGIES = ("default", "mirrored", "multi_worker")
TF_CONFIG_EXAMPLE = ('TF_CONFIG=\'{"cluster": {"worker": ["host0:12345", "host1:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}\'')
# MultiWorkerMirroredStrategy configures collective ops once per process: the strategy objects are kept here so
# that every stage of a run uses the same one.
_CREATED = {}


def make_strategy(name):
    """The ``tf.distribute.Strategy`` called ``name`` (one of STRATEGIES); the same object on every call.

    ``multi_worker`` must be made before any TensorFlow op runs in the process (TensorFlow's rule); a missing or
    invalid ``TF_CONFIG`` raises UserError saying how to set it.  Creating it blocks until every worker in
    ``TF_CONFIG`` has started: a peer that never comes makes it wait forever, so run workers under a timeout.
    """
    if name not in STRATEGIES:
        raise UserError(f"unknown strategy {name!r}: use one of {', '.join(STRATEGIES)}")
    if name == "default":
        return tf.distribute.get_strategy()
    if name not in _CREATED:
        _CREATED[name] = _mirrored() if name == "mirrored" else _multi_worker()
        strategy = _CREATED[name]
        logging.info("strategy %s: %d replica(s) on %s", name, strategy.num_replicas_in_sync,
                     ", ".join(strategy.extended.worker_devices))
    return _CREATED[name]


def _mirrored():
    if tf.config.list_physical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])


def _multi_worker():
    config = read_tf_config()
    # Logged before the call because the call blocks until every peer is up: a user watching a hang sees why.
    logging.info("multi_worker: %s %d of %s; waiting for every worker to start", config["task"]["type"],
                 config["task"]["index"], config["cluster"])
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as e:
        raise UserError(f"cannot start the multi_worker strategy ({str(e).splitlines()[0]}): it must be created "
                        "before any TensorFlow op runs; call make_strategy('multi_worker') first") from None


def read_tf_config(environ=None):
    """The parsed ``TF_CONFIG`` (cluster and this process's task), checked; UserError says how to fix it."""
    raw = (os.environ if environ is None else environ).get("TF_CONFIG", "")
    hint = f"set it on every worker, e.g. {TF_CONFIG_EXAMPLE} (index = this worker's position), or start local " \
        "workers with `python -m experiments.launch_workers`"
    if not raw.strip():
        raise UserError(f"--strategy=multi_worker needs the TF_CONFIG environment variable: {hint}")
    try:
        config = json.loads(raw)
        cluster, task = config["cluster"], config["task"]
        kind, index = task["type"], int(task["index"])
        members = cluster[kind]
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"TF_CONFIG is invalid ({type(e).__name__}: {e}): {hint}") from None
    if not isinstance(members, list) or not 0 <= index < len(members):
        raise UserError(f"TF_CONFIG task index {index} is not in cluster[{kind!r}] = {members}: {hint}")
    if set(cluster) - {"chief", "worker"}:
        raise UserError(f"TF_CONFIG cluster has {sorted(set(cluster) - {'chief', 'worker'})}: multi_worker uses only "
                        "'chief' and 'worker' jobs")
    return {"cluster": cluster, "task": {"type": kind, "index": index}}


def is_default(strategy):
    """True for None or TensorFlow's default (no-op) strategy."""
    return strategy is None or type(strategy).__name__ == "_DefaultDistributionStrategy"


def strategy_scope(strategy):
    """``strategy.scope()``, or a ``nullcontext`` for the default strategy so the default path is unchanged."""
    return contextlib.nullcontext() if is_default(strategy) else strategy.scope()


def num_replicas(strategy):
    """Replicas that each get a slice of every global batch (1 for the default strategy)."""
    return 1 if is_default(strategy) else strategy.num_replicas_in_sync


def is_chief(strategy):
    """Whether this process should write outputs: always, except on non-chief multi_worker workers."""
    return is_default(strategy) or bool(strategy.extended.should_checkpoint)


def per_replica_batch_size(global_batch, strategy):
    """What each replica trains on per step; UserError unless ``global_batch`` splits evenly over the replicas."""
    replicas = num_replicas(strategy)
    if global_batch < 1 or global_batch % replicas:
        raise UserError(f"global batch size {global_batch} does not split over {replicas} replicas: make "
                        f"--batch_size a multiple of {replicas}")
    return global_batch // replicas


def global_batch_size(per_replica, strategy):
    """The config batch size that gives each replica ``per_replica`` examples per step (weak scaling)."""
    if per_replica < 1:
        raise UserError(f"per-replica batch size {per_replica} must be at least 1")
    return per_replica * num_replicas(strategy)


def check_batch_sizes(strategy, **global_batches):
    """Checks each named global batch size splits over the replicas and logs the split (only when distributed)."""
    for name, size in global_batches.items():
        per_replica = per_replica_batch_size(size, strategy)
        if num_replicas(strategy) > 1:
            logging.info("%s: global batch %d = %d replicas x %d", name, size, num_replicas(strategy), per_replica)


def split_cpu(num_devices):
    """Splits the CPU into ``num_devices`` logical devices, so ``mirrored`` gets that many replicas without a GPU.

    For tests and benchmarks only: the replicas share the same cores (one CPU device already uses them all), so
    this shows that per-replica batches, all-reduce and tfmot's callbacks work, not a speed-up.  TensorFlow allows
    it only before its runtime starts; UserError otherwise.
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == num_devices:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)
    except RuntimeError:
        raise UserError(f"cannot split the CPU into {num_devices} devices: TensorFlow has already started; call "
                        "split_cpu first thing in the process") from None
