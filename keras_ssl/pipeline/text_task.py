"""The text task: corpus → vocabulary → BiLSTM MLM pretraining → prune → batch-1 TFLite → measured rows."""
import dataclasses

import numpy as np

from keras_ssl.compress.prune import prune_magnitude
from keras_ssl.compress.quantize import quantize_aware
from keras_ssl.data.masking import fixed_masked_set, mlm_dataset, unigram_accuracy
from keras_ssl.data.text import load_corpus
from keras_ssl.data.tokenizer import Vocabulary, to_sequences
from keras_ssl.distribute import check_batch_sizes, make_strategy, strategy_scope
from keras_ssl.errors import UserError
from keras_ssl.models.bilstm_mlm import build_mlm
from keras_ssl.pipeline.image_task import prune_recipe_name
from keras_ssl.pipeline.stages import with_backup, with_logs
from keras_ssl.pipeline.variants import Evaluation, standard_variants
from keras_ssl.ssl.precision import as_float32, precision_policy
from keras_ssl.ssl.pretrain import pretrain_mlm
from keras_ssl.ssl.training import compile_for_logits, masked_token_accuracy


def split_sequences(sequences, test_fraction, max_eval, seed):
    """Seeded (train, test) split of a numpy array of sequences; at least 1 and at most ``max_eval`` test rows.

    Raises UserError for fewer than 4 sequences.
    """
    if len(sequences) < 4:
        raise UserError(f"the text corpus gives only {len(sequences)} sequences: at least 4 are needed "
                        "(add text or lower --seq_len)")
    order = np.random.default_rng(seed).permutation(len(sequences))
    n_test = min(max(1, int(len(sequences) * test_fraction)), max_eval)
    return sequences[order[n_test:]], sequences[order[:n_test]]


def masked_eval_split(docs, vocab, seq_len, test_fraction, max_eval, seed):
    """(train sequences, test sequences, fixed masked test set): the same split for the pipeline and benchmarks."""
    train, test = split_sequences(to_sequences(docs, vocab, seq_len), test_fraction, max_eval, seed)
    inputs, labels, weights = fixed_masked_set(test, len(vocab), seed=seed)
    if not (weights > 0).any():
        raise UserError("the held-out text has no maskable word: add text or raise --vocab_size")
    return train, test, (inputs, labels, weights)


def run_text_task(config, artifacts_dir, timer):
    """Runs every text stage under ``timer``, writing artifacts and vocab.txt to ``artifacts_dir``.

    Returns (report rows, baseline row name, ssl section, export section) for ``build_report``.
    """
    task = config.text
    # Models are built and compiled inside the strategy's scope (a no-op for "default"); batch sizes are global.
    strategy = make_strategy(config.strategy)
    check_batch_sizes(strategy, pretrain=task.pretrain.batch_size)
    with timer.stage("data"):
        docs = load_corpus(config.text_files)
        if task.max_docs:
            docs = docs[:task.max_docs]
        vocab = Vocabulary.build(docs, task.mlm.vocab_size)
        mlm_config = dataclasses.replace(task.mlm, vocab_size=len(vocab))
        train, test, (inputs, labels, weights) = masked_eval_split(
            docs, vocab, mlm_config.seq_len, task.test_fraction, task.max_eval_sequences, config.seed)
    with timer.stage("pretrain"), precision_policy(config.precision), strategy_scope(strategy):
        pretrain = with_logs(dataclasses.replace(task.pretrain, seed=config.seed), config, artifacts_dir, "pretrain")
        mlm = build_mlm(mlm_config)
        pretrain_mlm(mlm, train, len(vocab), with_backup(pretrain, config, "pretrain"),
                     val_data=(inputs, labels, weights))
    with strategy_scope(strategy):
        mlm = as_float32(mlm)  # compression and export work on float32 layers, whatever precision training used
    with timer.stage("prune"), strategy_scope(strategy):
        dataset = mlm_dataset(train, len(vocab), pretrain.batch_size, seed=config.seed)
        pruned = prune_magnitude(mlm, dataset, with_backup(with_logs(config.prune, config, artifacts_dir, "prune"),
                                                           config, "prune"),
                                 lambda m: compile_for_logits(m, config.prune.learning_rate, sparse_weighted=True))
    with timer.stage("qat"), strategy_scope(strategy):
        qat = quantize_aware(mlm, dataset, with_backup(with_logs(config.qat, config, artifacts_dir, "qat"),
                                                       config, "qat"),
                             lambda m: compile_for_logits(m, config.qat.learning_rate, sparse_weighted=True))
    with timer.stage("export"):
        chosen = weights > 0
        evaluation = Evaluation(
            inputs=inputs, score=lambda out: masked_token_accuracy(out, labels, weights),
            top1=lambda out: np.argmax(out, -1)[chosen], calibration=train[:config.num_calibration],
            associated_files={"vocab.txt": vocab.to_text()},
            latency_runs=config.latency_runs, latency_warmup=config.latency_warmup)
        compressed = [("pruned_int8", pruned, prune_recipe_name(config.prune) + "+ptq-int8"),
                      ("qat_int8", qat, "qat-dense-int8")]
        variants, baseline, export = standard_variants(mlm, compressed, artifacts_dir, evaluation)
    keras_accuracy = variants[0]["accuracy"]
    unigram, token_id = unigram_accuracy(train, labels, weights)
    ssl = {"method": "masked_lm", "data": "files" if config.text_files else "pydoc_data.topics",
           "vocab_size": len(vocab), "seq_len": mlm_config.seq_len, "train_sequences": int(len(train)),
           "test_sequences": int(len(test)), "masked_positions": int(chosen.sum()),
           "masked_token_accuracy": keras_accuracy, "unigram_accuracy": unigram,
           "unigram_token": vocab.tokens[token_id], "gain_points": round(100 * (keras_accuracy - unigram), 2)}
    return variants, baseline, ssl, export
