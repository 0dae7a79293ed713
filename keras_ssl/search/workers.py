"""Local search workers: N processes pulling trials from one study, each loading the task the search saved.

A worker is ``python -m experiments.search_worker --study_folder=DIR [--study_storage=URL --study_name=NAME]``; on
other hosts the same command (with an RDB ``--study_storage`` and a shared ``--study_folder``) joins the study.
Workers are independent: unlike a tf.distribute cluster, one that dies leaves the others running (its trial is
retried once its heartbeat goes stale), so the launcher waits for all of them and kills none.
"""
import os
import sys

from absl import logging

from keras_ssl.base.errors import UserError
from keras_ssl.training.launch import describe_exit, launch


def worker_command(config):
    """The argument list of one worker of the study ``config`` (a StudyConfig)."""
    return [sys.executable, "-m", "keras_ssl.cli.search_worker", f"--study_folder={config.folder}",
            f"--study_storage={config.url}", f"--study_name={config.name}",
            f"--heartbeat_seconds={config.heartbeat_seconds}", f"--grace_seconds={config.grace_seconds}",
            "--worker_index={index}"]


def task_folder(config):
    """Where the search saves the task its worker processes load: ``<folder>/task``."""
    return os.path.join(config.folder, "task")


def run_worker_processes(config, task):
    """Saves ``task`` for the workers, runs ``config.workers`` of them to the end and logs how each ended."""
    if task.data is None:
        raise UserError(f"--workers={config.workers}: this task's search runs in one process only (worker processes "
                        "load image classifiers); use --workers=1")
    task.data.save(task_folder(config), task.model)
    logging.info("starting %d search workers: %s", config.workers, " ".join(worker_command(config)))
    result = launch([worker_command(config)] * config.workers, timeout=config.timeout_seconds, independent=True)
    for index, code in enumerate(result.returncodes):
        if code:
            logging.warning("search worker %d %s; its trial runs again", index, describe_exit(code))
    return result
