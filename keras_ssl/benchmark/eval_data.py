"""Labelled data for the benchmark's accuracy column, rebuilt exactly as the pipeline built its test split."""
import os

import numpy as np

from keras_ssl.data.images import load_images
from keras_ssl.data.text import load_corpus
from keras_ssl.data.tokenizer import Vocabulary
from keras_ssl.errors import UserError
from keras_ssl.pipeline.config import TextTaskConfig
from keras_ssl.ssl.training import masked_token_accuracy


def image_eval(input_shape, data_path=None, seed=0):
    """(test images, score_fn) at the model's input size."""
    size = input_shape[0]
    if len(input_shape) != 3 or input_shape[0] != input_shape[1]:
        raise UserError(f"--task=image needs a square image input (H, W, C); the model takes {input_shape}")
    data = load_images(data_path, image_size=size, seed=seed)
    return data.x_test, lambda out: float(np.mean(np.argmax(out, -1) == data.y_test))


def text_eval(input_shape, vocab_path, text_files=None, seed=0, config=TextTaskConfig()):
    """(masked test sequences, score_fn) using the vocabulary shipped with the artifact."""
    from keras_ssl.pipeline.text_task import masked_eval_split

    if len(input_shape) != 1:
        raise UserError(f"--task=text needs a token-id sequence input (L,); the model takes {input_shape}")
    if not os.path.isfile(vocab_path):
        raise UserError(f"vocabulary not found: {vocab_path} (pass --vocab=artifacts/vocab.txt from the run)")
    vocab = Vocabulary.load(vocab_path)
    _, _, (inputs, labels, weights) = masked_eval_split(
        load_corpus(text_files), vocab, input_shape[0], config.test_fraction, config.max_eval_sequences, seed)
    return inputs, lambda out: masked_token_accuracy(out, labels, weights)
