"""Resuming the main job after a kill: one backup folder per run, tied to the settings that made it.

``<output_dir>.backup/`` holds ``config.json`` (the settings that change what training computes) and one subfolder
per fit (``pretrain/``, ``finetune/<method>_labels<f>/``, ``prune/``, ``qat/``), each a ``BackupAndRestore`` folder.
Rerunning the same command resumes the fit that was cut from its last finished epoch.  Fits that had finished
already (their backups are deleted when they end) train again from epoch 0 with the same seed: simple, and only
the interrupted stage's progress is worth keeping.  A backup made with other settings is refused, not used: its
weights would silently continue a different run.  (The staging folders killed runs left behind are removed by
``io_utils.staged_dir``.)
"""
import contextlib
import dataclasses
import json
import os
import shutil

from absl import logging

from keras_ssl.base.errors import UserError
from keras_ssl.base.io_utils import atomic_write_json
from keras_ssl.pipeline.stages import backup_root
from keras_ssl.pipeline.workers import barrier
from keras_ssl.training.distribute import is_chief, make_strategy

MARKER = "config.json"
# Fields that do not change any trained weight: a rerun may change them and still resume.
NOT_TRAINING = ("overwrite", "resume", "tensorboard", "backup_dir", "latency_runs", "latency_warmup",
                "num_calibration")


def training_settings(config):
    """The config as JSON-ready data, without the fields that do not affect training."""
    settings = json.loads(json.dumps(dataclasses.asdict(config)))
    for name in NOT_TRAINING + ("text" if config.task == "image" else "image",):  # the other task's settings
        settings.pop(name, None)
    return settings


def first_difference(saved, wanted, path=""):
    """``"a.b: old != new"`` for the first field that differs between two JSON trees, or None."""
    if isinstance(saved, dict) and isinstance(wanted, dict):
        for key in sorted(set(saved) | set(wanted)):
            found = first_difference(saved.get(key), wanted.get(key), f"{path}.{key}" if path else key)
            if found:
                return found
        return None
    return None if saved == wanted else f"{path}: {saved!r} != {wanted!r}"


def check_backup(root, config):
    """Prepares ``root`` for this run: refuses a folder that is not ours or a backup of other settings, discards
    it on ``resume=False``; returns True when there is a backup to resume from."""
    marker = os.path.join(root, MARKER)
    if os.path.isdir(root) and os.listdir(root) and not os.path.isfile(marker):
        raise UserError(f"backup folder {root} exists and is not a keras-ssl backup: choose another --backup_dir")
    if os.path.exists(root) and not os.path.isdir(root):
        raise UserError(f"backup folder {root} is an existing file: choose another --backup_dir")
    if os.path.isfile(marker) and not config.resume:
        logging.info("--noresume: discarding the interrupted run's backup in %s", root)
        shutil.rmtree(root)
    if not os.path.isfile(marker):
        return False
    try:
        with open(marker, encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {marker} ({e}): delete {root} or pass --noresume to start over") from None
    difference = first_difference(saved, training_settings(config))
    if difference:
        raise UserError(f"{root} holds the backup of an interrupted run with other settings ({difference}): rerun "
                        "that command to finish it, or pass --noresume to discard it")
    return True


def remove_empty_folders(root):
    """Removes the stage folders under ``root`` that hold no file (a fit that crashed before its first epoch ended)."""
    for folder, _, _ in os.walk(root, topdown=False):  # children before their parents
        if folder != root and not os.listdir(folder):
            os.rmdir(folder)


@contextlib.contextmanager
def backup_folder(config):
    """Yields the run's backup folder; it is removed when the run succeeds and kept when it fails with something
    to resume (a kill skips all of this, which is the point).

    Multi-worker: only the chief checks, creates and removes it; the others use it as it is (``workers.py``), after
    waiting for the chief's check at a barrier.  The chief removes it only after a second barrier: the other workers
    write their last checkpoint into temporary folders inside it, and a chief that finished first removed the folder
    under a lagging worker's save (seen in CI under load: ``SaveV2 ... No such file or directory``).
    """
    root = backup_root(config)
    strategy = make_strategy(config.strategy)
    if not is_chief(strategy):
        barrier(strategy)
        yield root
        barrier(strategy)  # done writing into the chief's folder: it may go
        return
    if check_backup(root, config):
        logging.info("resuming the interrupted run backed up in %s: the cut stage continues from its last finished "
                     "epoch; stages that had finished train again", root)
    else:
        atomic_write_json(os.path.join(root, MARKER), training_settings(config))
    barrier(strategy)
    try:
        yield root
    except BaseException:
        remove_empty_folders(root)
        if os.listdir(root) == [MARKER]:  # no finished epoch to resume from: leave no backup behind
            shutil.rmtree(root, ignore_errors=True)
        raise
    barrier(strategy)  # every worker's last save is done
    shutil.rmtree(root, ignore_errors=True)
