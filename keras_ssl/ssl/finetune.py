"""Supervised stages after pretraining: full fine-tuning, the frozen-encoder linear probe, and the scratch baseline.

``label_fraction_study`` answers the question users pretrain for: with few labels, does pretraining help?  It
reports scratch beside both pretrained variants on the same label subsets, whichever way the numbers fall.
"""
import dataclasses
import os

from absl import logging

from keras_ssl.base.keras import tf_keras
from keras_ssl.data.images import label_subset
from keras_ssl.models.classifier import build_classifier, load_encoder_weights, set_encoder_trainable
from keras_ssl.training.fit import classification_dataset, classifier_accuracy, compile_for_logits, fit_callbacks

METHODS = ("scratch", "linear_probe", "finetune")


def train_classifier(model, x, y, config):
    """Fits a logits classifier on (x, y); runs at least ``config.min_steps`` steps however few labels there are."""
    epochs, passes = config.schedule_for(len(x))
    ds = classification_dataset(x, y, config.batch_size, seed=config.seed, passes=passes)
    compile_for_logits(model, config.learning_rate_for(epochs * int(ds.cardinality())))
    return model.fit(ds, epochs=epochs, verbose=config.verbose,
                     callbacks=fit_callbacks(config, ds)).history


def make_classifier(method, classifier_config, autoencoder, seed):
    """A fresh classifier for ``method``: random init (scratch), or pretrained encoder frozen/unfrozen."""
    tf_keras.utils.set_random_seed(seed)
    model = build_classifier(classifier_config)
    if method != "scratch":
        load_encoder_weights(model, autoencoder)
    set_encoder_trainable(model, method != "linear_probe")
    return model


def label_fraction_study(data, autoencoder, classifier_config, config, fractions, methods=METHODS):
    """Trains every method on every label fraction; returns result rows and the fitted models by (fraction, method)."""
    rows, models = [], {}
    for fraction in fractions:
        idx = label_subset(data.y_train, fraction, seed=config.seed)
        for method in methods:
            model = make_classifier(method, classifier_config, autoencoder, config.seed)
            run = f"{method}_labels{fraction:g}"  # each fit gets its own log and backup folder
            run_config = dataclasses.replace(config, log_dir=config.log_dir and os.path.join(config.log_dir, run),
                                             backup_dir=config.backup_dir and os.path.join(config.backup_dir, run))
            train_classifier(model, data.x_train[idx], data.y_train[idx], run_config)
            acc = classifier_accuracy(model, data.x_test, data.y_test)
            logging.info("label fraction %.3g (%d labels) %-12s test accuracy %.4f", fraction, len(idx), method, acc)
            rows.append({"label_fraction": fraction, "num_labels": int(len(idx)), "method": method,
                         "accuracy": acc})
            models[(fraction, method)] = model
    return rows, models
