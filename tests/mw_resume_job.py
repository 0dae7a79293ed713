"""A tiny multi-worker run of the pipeline's resume machinery, for tests/test_fault_tolerance.py to SIGKILL.

    TF_CONFIG=... python tests/mw_resume_job.py OUTPUT_DIR EPOCHS

Each worker goes through what ``run_pipeline`` does around training (``for_this_worker``, then ``backup_folder``
with the chief's settings check, then a fit with a per-stage backup) and trains a tiny digits classifier under
``MultiWorkerMirroredStrategy``.  The chief writes ``OUTPUT_DIR/result.json`` with a digest of the final weights; each
worker prints ``WEIGHTS <digest>`` so the test can check all workers agree.
"""
import dataclasses
import hashlib
import os
import sys

import numpy as np
from absl import logging

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from keras_ssl.training.distribute import make_strategy  # noqa: E402


def main(output_dir, epochs):
    """Trains under the pipeline's worker and backup rules and reports the weights' digest."""
    logging.set_verbosity(logging.INFO)  # the test reads the "resuming from backup" line
    strategy = make_strategy("multi_worker")  # before any other TensorFlow op
    from keras_ssl.base.io_utils import atomic_write_json
    from keras_ssl.base.keras import tf_keras
    from keras_ssl.data.images import load_digits
    from keras_ssl.models.classifier import ClassifierConfig, build_classifier
    from keras_ssl.models.conv_autoencoder import AutoencoderConfig
    from keras_ssl.pipeline.config import PipelineConfig
    from keras_ssl.pipeline.resume import backup_folder
    from keras_ssl.pipeline.stages import with_backup
    from keras_ssl.pipeline.workers import for_this_worker
    from keras_ssl.ssl.finetune import train_classifier
    from keras_ssl.training.fit import TrainConfig

    config = for_this_worker(PipelineConfig(output_dir=output_dir, strategy="multi_worker"))
    data = load_digits(image_size=8, seed=0)
    with backup_folder(config):
        with strategy.scope():
            tf_keras.utils.set_random_seed(0)
            model = build_classifier(ClassifierConfig(encoder=AutoencoderConfig(image_size=8, widths=(8, 16)),
                                                      dropout=0.0))
            train = with_backup(TrainConfig(epochs=int(epochs), batch_size=64, learning_rate=3e-3, verbose=0),
                                config, "finetune")
            train_classifier(model, data.x_train, data.y_train, dataclasses.replace(train, seed=0))
        digest = hashlib.sha256(b"".join(np.ascontiguousarray(w).tobytes() for w in model.get_weights()))
        print("WEIGHTS", digest.hexdigest()[:16], flush=True)
        atomic_write_json(os.path.join(config.output_dir, "result.json"), {"weights": digest.hexdigest()[:16]})


if __name__ == "__main__":
    main(*sys.argv[1:])
