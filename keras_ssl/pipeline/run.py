"""The main job: runs one task end to end and writes its report, all-or-nothing.

Everything is produced in a staging folder beside ``output_dir`` and moved in only when the whole run succeeded,
so a failure (bad data, a crash, Ctrl-C) never leaves a partial report or artifact behind.  Training state is
backed up every epoch outside the staging folder, so rerunning a killed or crashed run resumes it (resume.py).
"""
import dataclasses
import os

from absl import logging

from keras_ssl.base.errors import JobFailed, UserError
from keras_ssl.base.io_utils import staged_dir
from keras_ssl.base.output_lock import output_lock
from keras_ssl.pipeline.image_task import run_image_task
from keras_ssl.pipeline.report import build_report, write_report
from keras_ssl.pipeline.resume import backup_folder
from keras_ssl.pipeline.stages import StageTimer
from keras_ssl.pipeline.text_task import run_text_task
from keras_ssl.pipeline.workers import for_this_worker

TASK_RUNNERS = {"image": run_image_task, "text": run_text_task}


def check_output_dir(config):
    """A finished run's report and artifacts are what users ship: replacing them must be asked for."""
    existing = [name for name in ("report.json", "artifacts") if os.path.exists(os.path.join(config.output_dir, name))]
    if existing and not config.overwrite:
        raise UserError(f"{os.path.join(config.output_dir, existing[0])} already exists: pass --overwrite to "
                        "replace the previous run, or choose another --output_dir")


def run_pipeline(config):
    """Runs ``config.task`` and returns (report dict, markdown)."""
    config = for_this_worker(config)  # creates the strategy; non-chief workers write to a scratch folder
    timer = StageTimer()
    # The lock covers the backup folder too; the backup folder is left last: it is removed only once the outputs
    # are in place (see resume.py).
    with output_lock(config.output_dir):
        check_output_dir(config)
        with backup_folder(config), staged_dir(config.output_dir) as stage:
            artifacts = os.path.join(stage, "artifacts")
            os.makedirs(artifacts)
            variants, baseline, ssl, export, search = TASK_RUNNERS[config.task](config, artifacts, timer)
            report = build_report(config.task, baseline, variants, ssl, dataclasses.asdict(config), timer.timings,
                                  export, search)
            markdown = write_report(report, stage)
            check_output_dir(config)  # a report put there by hand while this run trained is not replaced either
    logging.info("report written to %s", os.path.join(config.output_dir, "report.md"))
    if search and search["chosen"] is None:
        raise JobFailed(f"no search candidate stayed within {config.search.budget_points:g} points of the float "
                        f"model on validation: {config.output_dir} has every other row and artifact, float32 "
                        "included; raise --budget_points or --search_trials")
    return report, markdown
