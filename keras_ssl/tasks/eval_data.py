"""Labelled data for accuracy columns and calibration, rebuilt exactly as the pipeline built its splits.

Used by the benchmark (accuracy of any artifact) and the export job (calibration + validation), so a number from
either tool is comparable with the pipeline's report.
"""
import dataclasses
import os
from typing import Callable

import numpy as np

from keras_ssl.base.errors import UserError
from keras_ssl.data.images import labels_text, load_images
from keras_ssl.data.tokenizer import Vocabulary
from keras_ssl.tasks.config import TextTaskConfig
from keras_ssl.training.fit import masked_token_accuracy


@dataclasses.dataclass
class TaskData:
    """Everything a tool needs to score an artifact on a task; ``score`` is None when there are no labels."""
    inputs: np.ndarray  # test inputs
    score: Callable[[np.ndarray], float]  # outputs on ``inputs`` → accuracy
    top1: Callable[[np.ndarray], np.ndarray]  # outputs → the predictions that must agree across formats
    calibration: np.ndarray  # training inputs for int8 calibration
    associated_files: dict  # shipped next to artifacts: labels.txt or vocab.txt
    class_names: tuple = ()  # an image classifier's labels (its MediaPipe-ready artifacts carry them)


def image_eval(input_shape, data_path=None, seed=0, dataset="digits", image_dir=None):
    """The pipeline's image split at the model's input size: test split to score, train split to calibrate."""
    if len(input_shape) != 3 or input_shape[0] != input_shape[1] or input_shape[2] not in (1, 3):
        raise UserError(f"--task=image needs a square gray or RGB image input (H, W, 1|3); the model takes "
                        f"{input_shape}")
    data = load_images(data_path, image_size=input_shape[0], seed=seed, dataset=dataset, image_dir=image_dir)
    if data.channels != input_shape[2]:
        raise UserError(f"the model takes {input_shape[2]}-channel images but {data.source} has {data.channels}: "
                        "give the images it was trained on")
    return TaskData(data.x_test, lambda out: float(np.mean(np.argmax(out, -1) == data.y_test)),
                    lambda out: np.argmax(out, -1), data.x_train,
                    {"labels.txt": labels_text(data.class_names)}, tuple(data.class_names))


def text_eval(input_shape, vocab_path, text_files=None, seed=0, config=None, num_calibration=100):
    """Masked held-out sequences scored at masked positions, using the vocabulary shipped with the artifact.

    The split is the pipeline's own (``load_text``, streamed when ``config.stream``), so the numbers match its report.
    """
    config = TextTaskConfig() if config is None else config
    from keras_ssl.tasks.text_data import load_text

    if len(input_shape) != 1:
        raise UserError(f"--task=text needs a token-id sequence input (L,); the model takes {input_shape}")
    if not os.path.isfile(vocab_path):
        raise UserError(f"vocabulary not found: {vocab_path} (pass --vocab=artifacts/vocab.txt from the run)")
    vocab = Vocabulary.load(vocab_path)
    text = dataclasses.replace(config, mlm=dataclasses.replace(config.mlm, seq_len=input_shape[0]))
    _, split = load_text(text, tuple(text_files or ()), seed, num_calibration, vocab=vocab)
    inputs, labels, weights = split.eval_set
    chosen = weights > 0
    return TaskData(inputs, lambda out: masked_token_accuracy(out, labels, weights),
                    lambda out: np.argmax(out, -1)[chosen], split.calibration, {"vocab.txt": vocab.to_text()})
