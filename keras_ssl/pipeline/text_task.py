"""The text task: corpus → vocabulary → BiLSTM MLM pretraining → prune → batch-1 TFLite → measured rows."""
import dataclasses

import numpy as np

from keras_ssl.base.keras import tf_keras
from keras_ssl.models.bilstm_mlm import build_mlm
from keras_ssl.models.students import build_student_mlm
from keras_ssl.models.transformer import build_transformer_mlm
from keras_ssl.pipeline.compress_export import TrainedTask, compress_and_export
from keras_ssl.pipeline.stages import with_backup, with_logs
from keras_ssl.pipeline.variants import Evaluation
from keras_ssl.search.accuracy_aware import SearchTask
from keras_ssl.ssl.pretrain import pretrain_mlm
from keras_ssl.tasks.text_data import load_text
from keras_ssl.training.distribute import check_batch_sizes, make_strategy, strategy_scope
from keras_ssl.training.fit import compile_for_logits, masked_token_accuracy
from keras_ssl.training.precision import as_float32, precision_policy


def build_text_model(task, mlm_config):
    """The MLM to pretrain: the BiLSTM of ``mlm_config``, or the transformer of ``task.transformer`` at the same
    vocabulary and sequence length."""
    if task.model == "transformer":
        return build_transformer_mlm(dataclasses.replace(task.transformer, vocab_size=mlm_config.vocab_size,
                                                         seq_len=mlm_config.seq_len))
    return build_mlm(mlm_config)


def run_text_task(config, artifacts_dir, timer):
    """Runs every text stage under ``timer``, writing artifacts and vocab.txt to ``artifacts_dir``.

    Returns (report rows, baseline row name, ssl section, export section, search section or None) for
    ``build_report``; the search section is None unless ``config.recipe`` is "auto".
    """
    task = config.text
    # Models are built and compiled inside the strategy's scope (a no-op for "default"); batch sizes are global.
    strategy = make_strategy(config.strategy)
    check_batch_sizes(strategy, pretrain=task.pretrain.batch_size)
    with timer.stage("data"):
        vocab, split = load_text(config.text, config.text_files, config.seed, config.num_calibration,
                                 validation=config.recipe == "auto")
        mlm_config = dataclasses.replace(task.mlm, vocab_size=len(vocab))
        inputs, labels, weights = split.eval_set
    with timer.stage("pretrain"), precision_policy(config.precision), strategy_scope(strategy):
        pretrain = with_logs(dataclasses.replace(task.pretrain, seed=config.seed), config, artifacts_dir, "pretrain")
        tf_keras.utils.set_random_seed(config.seed)  # the initial weights: same seed, same run
        mlm = build_text_model(task, mlm_config)
        pretrain_mlm(mlm, split.train_dataset(pretrain.batch_size, config.seed), len(vocab),
                     with_backup(pretrain, config, "pretrain"), val_data=split.eval_set)
    with strategy_scope(strategy):
        mlm = as_float32(mlm)  # compression and export work on float32 layers, whatever precision training used
        dataset = split.train_dataset(pretrain.batch_size, config.seed)
    chosen = weights > 0
    evaluation = Evaluation(
        inputs=inputs, score=lambda out: masked_token_accuracy(out, labels, weights),
        top1=lambda out: np.argmax(out, -1)[chosen], calibration=split.calibration,
        associated_files={"vocab.txt": vocab.to_text()},
        latency_runs=config.latency_runs, latency_warmup=config.latency_warmup, artifacts=config.artifacts)
    search_task = split.validation and SearchTask(
        model=None, context=None, val_inputs=split.validation[0], calibration=split.calibration,
        correct=lambda out: (np.argmax(out, -1) == split.validation[1])[split.validation[2] > 0])
    trained = TrainedTask(
        model=mlm, dataset=dataset, compile=lambda m, lr: compile_for_logits(m, lr, sparse_weighted=True),
        evaluation=evaluation, build_student=lambda **kwargs: build_student_mlm(mlm_config, **kwargs),
        search_task=search_task, qat_recipe="qat-dense-int8")
    variants, baseline, export, search = compress_and_export(config, trained, artifacts_dir, timer, strategy)
    keras_accuracy = variants[0]["accuracy"]
    unigram = split.unigram_accuracy()
    ssl = {"method": "masked_lm", "model": task.model, "data": "files" if config.text_files else "pydoc_data.topics",
           "streamed": split.streamed, "vocab_size": len(vocab), "seq_len": mlm_config.seq_len,
           "train_sequences": int(split.num_train), "test_sequences": int(split.num_test),
           "masked_positions": int(chosen.sum()), "masked_token_accuracy": keras_accuracy, "unigram_accuracy": unigram,
           "unigram_token": vocab.tokens[split.unigram_token],
           "gain_points": round(100 * (keras_accuracy - unigram), 2)}
    return variants, baseline, ssl, export, search
