"""Configs as code: ``get_config(task, quick)`` returns the PipelineConfig the main job runs."""
from experiments.configs import image, text

_BY_TASK = {"image": image, "text": text}


def get_config(task, quick=False):
    return _BY_TASK[task].get_config(quick)
