"""Multi-worker runs of the main job: every worker trains, only the chief writes ``--output_dir``.

All workers run every stage, export included, in the same order: each fit's all-reduce (and a distributed
``predict``) needs all of them, so their code paths must never diverge.  On one host they would race for the same
report, artifacts, staging and backup folders, so a non-chief worker writes its copy into a private temporary
folder that is deleted when the process exits.

Multi-worker runs do not resume after a kill: the chief's backup is discarded and every worker starts at epoch 0.
Resuming needs every worker to restore the same epoch from one backup (Keras's ``BackupAndRestore`` reads the
chief's folder on every worker), but the run-level backup bookkeeping (``resume.py``) is per process and raced when
two workers shared it (measured: a worker read the chief's half-written marker and refused the folder).  A
worker that restarted at epoch 0 while the chief resumed at epoch k would wait for it forever.
"""
import atexit
import dataclasses
import os
import shutil
import tempfile

from absl import logging

from keras_ssl.distribute import is_chief, make_strategy


def for_this_worker(config):
    """``config`` for this process: unchanged without multi-worker; else no resume, and scratch output off-chief.

    It also creates the run's strategy, first: ``multi_worker`` must exist before any TensorFlow op runs.
    """
    strategy = make_strategy(config.strategy)
    if config.strategy != "multi_worker":
        return config
    if config.resume:
        logging.warning("multi_worker runs do not resume: any backup of an interrupted run is discarded and training "
                        "starts at epoch 0 on every worker")
    config = dataclasses.replace(config, resume=False)
    if is_chief(strategy):
        return config
    scratch = tempfile.mkdtemp(prefix="keras-ssl-worker-")
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    logging.info("not the chief: this worker trains with the others and writes its outputs to %s (deleted at exit); "
                 "the chief writes %s", scratch, config.output_dir)
    return dataclasses.replace(config, output_dir=os.path.join(scratch, "run"), backup_dir="")
