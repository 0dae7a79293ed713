"""Multi-worker runs of the main job: every worker trains, only the chief writes ``--output_dir``.

All workers run every stage, export included, in the same order: each fit's all-reduce (and a distributed
``predict``) needs all of them, so their code paths must never diverge.  On one host they would race for the same
report, artifacts, staging and backup folders, so a non-chief worker writes its copy into a private temporary
folder that is deleted when the process exits.

Multi-worker runs resume after a kill like single-process ones, from one backup: the chief's.  Keras's
``BackupAndRestore`` already works that way (every worker restores the chief's checkpoint; the others save to
temporary folders it deletes), so every worker gets the chief's backup folder.  The run-level bookkeeping
(``resume.py``: the settings marker, ``--noresume``, the final clean-up) is done by the chief alone, and every worker
waits for it at a barrier before any training: a worker that raced ahead could read a backup the chief was about to
refuse or discard, then start at another epoch than the chief and wait for it forever (measured before this: a
worker read the chief's half-written marker and refused the folder).
"""
import atexit
import dataclasses
import os
import shutil
import tempfile

from absl import logging

from keras_ssl.base.keras import tf
from keras_ssl.pipeline.stages import backup_root
from keras_ssl.training.distribute import is_chief, make_strategy, num_replicas


def for_this_worker(config):
    """``config`` for this process: unchanged, except that non-chief multi-worker processes write their outputs to a
    scratch folder (deleted at exit) and share the chief's backup folder.

    It also creates the run's strategy, first: ``multi_worker`` must exist before any TensorFlow op runs.
    """
    strategy = make_strategy(config.strategy)
    if config.strategy != "multi_worker" or is_chief(strategy):
        return config
    scratch = tempfile.mkdtemp(prefix="keras-ssl-worker-")
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    logging.info("not the chief: this worker trains with the others and writes its outputs to %s (deleted at exit); "
                 "the chief writes %s", scratch, config.output_dir)
    return dataclasses.replace(config, output_dir=os.path.join(scratch, "run"), backup_dir=backup_root(config))


def barrier(strategy):
    """Returns once every worker of ``strategy`` got here (an all-reduce of one number); a no-op without workers."""
    if num_replicas(strategy) > 1:
        strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(tf.function(lambda: tf.constant(1.0))), axis=None)
