"""The image task: digits, MNIST, Fashion-MNIST or an image folder → SSL pretraining → label-fraction study →
compression → TFLite → measured rows."""
import dataclasses

import numpy as np

from keras_ssl.base.keras import tf_keras
from keras_ssl.data.images import hold_out_validation, labels_text, load_images
from keras_ssl.models.conv_autoencoder import build_autoencoder
from keras_ssl.models.students import build_student_classifier, student_config_for, student_fields
from keras_ssl.pipeline.compress_export import TrainedTask, compress_and_export
from keras_ssl.pipeline.stages import with_backup, with_logs
from keras_ssl.pipeline.variants import Evaluation
from keras_ssl.search.classifier_task import ClassifierSearchData
from keras_ssl.ssl.contrastive import pretrain_contrastive
from keras_ssl.ssl.finetune import label_fraction_study
from keras_ssl.ssl.pretrain import pretrain_autoencoder
from keras_ssl.training.distribute import check_batch_sizes, make_strategy, strategy_scope
from keras_ssl.training.fit import classification_dataset, compile_for_logits
from keras_ssl.training.precision import as_float32, precision_policy


def summarize_label_fractions(rows):
    """Per fraction: the best pretrained method against scratch, in points, whichever way it falls."""
    summary = []
    for fraction in sorted({r["label_fraction"] for r in rows}):
        by_method = {r["method"]: r["accuracy"] for r in rows if r["label_fraction"] == fraction}
        best = max((m for m in by_method if m != "scratch"), key=by_method.get)
        summary.append({"label_fraction": fraction, "scratch": by_method["scratch"], "best_pretrained": best,
                        "gain_points": round(100 * (by_method[best] - by_method["scratch"]), 2)})
    return summary


def pretrain_encoder(task, data, pretrain, config):
    """Self-supervised pretraining on the training images only (no labels): the autoencoder (reconstruction) or
    SimCLR (``task.ssl``).  Returns (the model whose ``encoder_*`` layers hold the weights, report metrics)."""
    if task.ssl == "contrastive":
        contrastive = dataclasses.replace(task.contrastive, seed=config.seed, log_dir=pretrain.log_dir,
                                          backup_dir=pretrain.backup_dir, verbose=pretrain.verbose)
        model, history = pretrain_contrastive(task.classifier.encoder, data.x_train, contrastive)
        return model, {"contrastive_loss_first_last": [float(history["loss"][0]), float(history["loss"][-1])]}
    tf_keras.utils.set_random_seed(config.seed)  # the initial weights: same seed, same run
    autoencoder = build_autoencoder(task.classifier.encoder)
    pretrain_autoencoder(autoencoder, data.x_train, pretrain)
    recon = autoencoder.predict(data.x_test, batch_size=256, verbose=0)
    return autoencoder, {"reconstruction_mse_test": float(np.mean((recon - data.x_test) ** 2))}


def fit_to_data(task, data):
    """``task`` with the models' channels and class count taken from the loaded images (gray or RGB, N classes)."""
    classifier = task.classifier
    encoder = dataclasses.replace(classifier.encoder, channels=data.channels)
    return dataclasses.replace(task, classifier=dataclasses.replace(classifier, encoder=encoder,
                                                                    num_classes=data.num_classes))


def run_image_task(config, artifacts_dir, timer):
    """Runs every image stage under ``timer``, writing artifacts to ``artifacts_dir``.

    Returns (report rows, baseline row name, ssl section, export section, search section or None) for
    ``build_report``; the search section is None unless ``config.recipe`` is "auto".
    """
    task = config.image
    # Models are built and compiled inside the strategy's scope (a no-op for "default"); batch sizes are global.
    strategy = make_strategy(config.strategy)
    check_batch_sizes(strategy, pretrain=task.pretrain.batch_size, finetune=task.finetune.batch_size)
    with timer.stage("data"):
        data = load_images(config.data_path, image_size=task.classifier.encoder.image_size, seed=config.seed,
                           dataset=config.dataset, image_dir=config.image_dir)
        task = fit_to_data(task, data)
        validation = None
        if config.recipe == "auto":  # the search chooses on images no training step sees
            data, validation = hold_out_validation(data, config.validation_fraction, config.seed)
    with timer.stage("pretrain"), precision_policy(config.precision), strategy_scope(strategy):
        pretrain = with_logs(dataclasses.replace(task.pretrain, seed=config.seed), config, artifacts_dir, "pretrain")
        pretrained, pretrain_metrics = pretrain_encoder(task, data, with_backup(pretrain, config, "pretrain"), config)
    with timer.stage("finetune"), precision_policy(config.precision), strategy_scope(strategy):
        finetune = with_logs(dataclasses.replace(task.finetune, seed=config.seed), config, artifacts_dir, "finetune")
        rows, models = label_fraction_study(data, pretrained, task.classifier,
                                            with_backup(finetune, config, "finetune"), task.label_fractions)
    # Compression and export work on float32 layers, whatever precision training used.
    with strategy_scope(strategy):  # a float32 rebuild must hold its variables in the same strategy
        classifier = as_float32(models[(1.0, "finetune")])
        dataset = classification_dataset(data.x_train, data.y_train, finetune.batch_size, seed=config.seed)
    evaluation = Evaluation(
        inputs=data.x_test, score=lambda out: float(np.mean(np.argmax(out, -1) == data.y_test)),
        top1=lambda out: np.argmax(out, -1), calibration=data.x_train[:config.num_calibration],
        associated_files={"labels.txt": labels_text(data.class_names)}, class_names=tuple(data.class_names),
        latency_runs=config.latency_runs, latency_warmup=config.latency_warmup, artifacts=config.artifacts)
    search_task = validation and ClassifierSearchData(
        x_train=data.x_train, y_train=data.y_train, x_val=validation[0], y_val=validation[1],
        calibration=evaluation.calibration, batch_size=finetune.batch_size, seed=config.seed,
        student=student_fields(task.classifier)).task()
    trained = TrainedTask(
        model=classifier, dataset=dataset, compile=compile_for_logits, evaluation=evaluation,
        build_student=lambda **kwargs: build_student_classifier(student_config_for(task.classifier, **kwargs)),
        search_task=search_task, qat_recipe="qat-int8")
    variants, baseline, export, search = compress_and_export(config, trained, artifacts_dir, timer, strategy)
    ssl = {"method": task.ssl, "encoder": task.classifier.encoder.architecture, "data": data.source,
           "image_shape": list(data.image_shape), "classes": list(data.class_names),
           "train_images": int(len(data.x_train)),
           "test_images": int(len(data.x_test)), **pretrain_metrics,
           "label_fractions": rows, "summary": summarize_label_fractions(rows)}
    return variants, baseline, ssl, export, search
