"""The main job: runs one task end to end and writes its report, all-or-nothing.

Everything is produced in a staging folder beside ``output_dir`` and moved in only when the whole run succeeded,
so a failure (bad data, a crash, Ctrl-C) never leaves a partial report or artifact behind.
"""
import dataclasses
import os

from absl import logging

from keras_ssl.io_utils import staged_dir
from keras_ssl.pipeline.image_task import run_image_task
from keras_ssl.pipeline.report import build_report, write_report
from keras_ssl.pipeline.stages import StageTimer
from keras_ssl.pipeline.text_task import run_text_task

TASK_RUNNERS = {"image": run_image_task, "text": run_text_task}


def run_pipeline(config):
    """Runs ``config.task`` and returns (report dict, markdown)."""
    timer = StageTimer()
    with staged_dir(config.output_dir) as stage:
        artifacts = os.path.join(stage, "artifacts")
        os.makedirs(artifacts)
        variants, baseline, ssl, export = TASK_RUNNERS[config.task](config, artifacts, timer)
        report = build_report(config.task, baseline, variants, ssl, dataclasses.asdict(config), timer.timings,
                              export)
        markdown = write_report(report, stage)
    logging.info("report written to %s", os.path.join(config.output_dir, "report.md"))
    return report, markdown
