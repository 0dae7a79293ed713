"""Stage timing (each stage logs when it starts and how long it took; the report keeps the numbers) and
per-stage TensorBoard and backup folders."""
import contextlib
import dataclasses
import os
import time

from absl import logging


class StageTimer:
    """Logs each stage's start and end and keeps its duration in seconds in ``timings`` for the report."""
    def __init__(self):
        self.timings = {}

    @contextlib.contextmanager
    def stage(self, name):
        """Context manager timing one stage; a stage that raises is not recorded."""
        logging.info("stage %s: start", name)
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 2)
        logging.info("stage %s: done in %.1f s", name, self.timings[name])


def with_logs(stage_config, config, artifacts_dir, name):
    """``stage_config`` with its TensorBoard folder set to ``<run>/tensorboard/<name>`` (when logging is on).

    The folder sits beside ``artifacts/`` in the run's staging folder, so logs land in ``--output_dir`` with the
    report, and a failed run leaves none behind."""
    if not config.tensorboard:
        return stage_config
    return dataclasses.replace(stage_config, log_dir=os.path.join(os.path.dirname(artifacts_dir), "tensorboard", name))


def backup_root(config):
    """The run's backup folder: ``config.backup_dir``, or ``<output_dir>.backup`` beside ``output_dir``.

    Never inside the staging folder: a failed run deletes that, and the backup must outlive the run it rescues."""
    return os.path.abspath(config.backup_dir or os.path.abspath(config.output_dir).rstrip(os.sep) + ".backup")


def with_backup(stage_config, config, name):
    """``stage_config`` with its backup folder set to ``<backup root>/<name>``: a backup holds one model's state,
    so every fit gets its own folder (fits inside a stage add their own subfolders, see ``label_fraction_study``)."""
    return dataclasses.replace(stage_config, backup_dir=os.path.join(backup_root(config), name))
