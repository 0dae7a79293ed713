"""A tiny two-stage training job for tests/test_fault_tolerance.py, run in a subprocess so the test can SIGKILL it.

    python tests/resume_job.py BACKUP_DIR RESULT_JSON EPOCHS_LOG MLM_EPOCHS PRUNE_EPOCHS

Like the text pipeline: BiLSTM masked-LM pretraining (dynamic masking), then tfmot pruning of that MLM, each fit
with its own backup subfolder (``BACKUP_DIR/pretrain``, ``BACKUP_DIR/prune``; empty BACKUP_DIR = no backups).
Every epoch a fit starts is appended to EPOCHS_LOG as ``<fit> <epoch>``, so the test sees where a resumed run
started; the result file (written atomically at the end) holds the final metrics on a fixed held-out set.
"""
import hashlib
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from keras_ssl.base.io_utils import atomic_write_json  # noqa: E402
from keras_ssl.base.keras import tf_keras  # noqa: E402

VOCAB, SEQ_LEN = 63, 16


class EpochLog(tf_keras.callbacks.Callback):
    """Appends ``<fit> <epoch>`` to a file when an epoch starts (flushed: the process may be killed next)."""

    def __init__(self, path, fit):
        super().__init__()
        self.path, self.fit = path, fit

    def on_epoch_begin(self, epoch, logs=None):
        """Records the epoch Keras starts; a resumed fit starts after the backed-up ones."""
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(f"{self.fit} {epoch}\n")


def record_epochs(path):
    """Makes every ``Model.fit`` of this process log its epochs to ``path`` (fits numbered from 0)."""
    fit, fits = tf_keras.Model.fit, []

    def logged_fit(self, *args, **kwargs):
        fits.append(None)
        kwargs["callbacks"] = [EpochLog(path, len(fits) - 1)] + list(kwargs.get("callbacks") or [])
        return fit(self, *args, **kwargs)

    tf_keras.Model.fit = logged_fit


def corpus():
    """740 synthetic sequences: arithmetic progressions (mod 60) with 10% noise words, so masked words are partly
    predictable from context; the last 100 are held out."""
    rng = np.random.default_rng(0)
    start, step = rng.integers(0, 60, (740, 1)), rng.integers(1, 4, (740, 1))
    sequences = 3 + (start + step * np.arange(SEQ_LEN)) % 60
    noise = rng.random(sequences.shape) < 0.1
    sequences = np.where(noise, rng.integers(3, VOCAB, sequences.shape), sequences).astype(np.int32)
    return sequences[:640], sequences[640:]


def weights_digest(model):
    """sha256 of the model's weights (to tell bit-identical runs from merely close ones)."""
    digest = hashlib.sha256()
    for w in model.get_weights():
        digest.update(np.ascontiguousarray(w).tobytes())
    return digest.hexdigest()[:16]


def main(backup_dir, result_path, epochs_log, mlm_epochs, prune_epochs):
    """Pretrains, prunes, and writes the pruned MLM's masked-token accuracy/loss, sparsity and weight digest."""
    from keras_ssl.compress.prune import PruneConfig, prune_magnitude
    from keras_ssl.data.masking import fixed_masked_set, mlm_dataset
    from keras_ssl.models.bilstm_mlm import MLMConfig, build_mlm
    from keras_ssl.ssl.pretrain import pretrain_mlm
    from keras_ssl.training.fit import TrainConfig, compile_for_logits, masked_token_accuracy

    record_epochs(epochs_log)
    train, test = corpus()
    inputs, labels, weights = fixed_masked_set(test, VOCAB, seed=0)
    tf_keras.utils.set_random_seed(0)
    mlm = build_mlm(MLMConfig(vocab_size=VOCAB, seq_len=SEQ_LEN, embedding_dim=16, lstm_units=16, dropout=0.0))
    backup = {name: backup_dir and os.path.join(backup_dir, name) for name in ("pretrain", "prune")}
    pretrain_mlm(mlm, train, VOCAB, TrainConfig(epochs=int(mlm_epochs), batch_size=32, learning_rate=1e-2,
                                                verbose=0, backup_dir=backup["pretrain"]))
    pruned = prune_magnitude(mlm, mlm_dataset(train, VOCAB, 32, seed=0),
                             PruneConfig(epochs=int(prune_epochs), learning_rate=3e-3, backup_dir=backup["prune"]),
                             lambda m: compile_for_logits(m, 3e-3, sparse_weighted=True))
    logits = pruned.predict(inputs, verbose=0)
    loss = tf_keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True).numpy()
    kernels = [w.numpy() for w in pruned.weights if "kernel" in w.name or "embeddings" in w.name]
    atomic_write_json(result_path, {"accuracy": masked_token_accuracy(logits, labels, weights),
                                    "loss": float(np.sum(loss * weights) / np.sum(weights)),
                                    "sparsity": [round(float(np.mean(k == 0)), 4) for k in kernels],
                                    "weights": weights_digest(pruned)})


if __name__ == "__main__":
    main(*sys.argv[1:])
