"""Configs as code: ``get_config(task, quick)`` returns the PipelineConfig the main job runs."""
from keras_ssl.configs import image, text

_BY_TASK = {"image": image, "text": text}


def get_config(task, quick=False):
    """The PipelineConfig for ``task`` ("image" or "text"); ``quick`` gives the smoke-run variant."""
    return _BY_TASK[task].get_config(quick)
