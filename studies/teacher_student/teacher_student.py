"""Teacher → student on every training image at 1% of the labels: does the unlabeled data help a second time?

The label study's best Fashion-MNIST method at 1% (600 labels) is the classifier fine-tuned from SimCLR (81.9 ± 0.5%),
8 points short of the benchmark's 88% target.  SimCLRv2 (Chen et al. 2020) and Noisy Student (Xie et al. 2020) gain
several points there by training a student on the teacher's labels of all the unlabeled images.  The teacher is
that fine-tuned classifier; the student starts from the same SimCLR encoder and trains on augmented views of every
training image, in one of three ways:

- ``soft``: against the teacher's probabilities of the clean images, sharpened (Noisy Student's soft labels);
- ``confident``: against the teacher's top class, only where it is at least ``threshold`` sure (pseudo-labelling);
- ``distill``: against the teacher's output on the same augmented view, at a temperature (SimCLRv2's distillation).

The labeled images keep their own labels in every mode.  Only training images are used; the test images score the
teacher and the student.
"""
import dataclasses

import numpy as np
from absl import logging

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf, tf_keras
from keras_ssl.compress.distill import DistillConfig, distill
from keras_ssl.data.images import label_subset, load_images
from keras_ssl.data.augment import digit_views
from keras_ssl.ssl.contrastive import pretrain_contrastive
from keras_ssl.ssl.finetune import make_classifier, train_classifier
from keras_ssl.ssl.self_training import pseudo_label_dataset, sharpen
from keras_ssl.training.fit import classifier_accuracy
from studies.label_study.label_study import fashion_mnist_study

MODES = ("soft", "confident", "distill")


@dataclasses.dataclass
class TeacherStudentConfig:
    """The label study's Fashion-MNIST settings (``fashion_mnist_study``) plus the student's."""
    dataset: str = "fashion_mnist"
    seed: int = 0
    fraction: float = 0.01
    modes: tuple = MODES  # each trains its own student from the same teacher
    sharpen: float = 0.5  # soft: the temperature the teacher's probabilities are raised to (1 = as they are)
    threshold: float = 0.95  # confident: the teacher's minimum top probability for an image to be used
    temperature: float = 2.0  # distill: softens both outputs
    epochs: int = 8
    batch_size: int = 128
    learning_rate: float = 1e-3  # cosine-decayed to 0 over the student's fit (soft, confident)
    study: object = dataclasses.field(default_factory=fashion_mnist_study)

    def __post_init__(self):
        unknown = [mode for mode in self.modes if mode not in MODES]
        if unknown or not self.modes:
            raise UserError(f"unknown or no modes {unknown or self.modes}: use some of {', '.join(MODES)}")
        if not 0.0 < self.sharpen <= 1.0 or not 0.0 <= self.threshold < 1.0:
            raise UserError(f"sharpen={self.sharpen} must be in (0, 1] and threshold={self.threshold} in [0, 1)")


def teacher_targets(teacher, x, labeled, labels, config, mode):
    """(images, one soft or one-hot target row per image) the student trains on, for ``soft`` and ``confident``."""
    probs = tf.nn.softmax(teacher.predict(x, batch_size=512, verbose=0)).numpy()
    one_hot = np.eye(probs.shape[1], dtype=np.float32)
    if mode == "confident":
        keep = probs.max(axis=1) >= config.threshold
        keep[labeled] = True
        targets = one_hot[probs.argmax(axis=1)]
    else:
        keep = slice(None)  # every image (a view, not a copy of x)
        targets = sharpen(probs, config.sharpen) if config.sharpen < 1 else probs
    targets[labeled] = one_hot[labels]
    return x[keep], targets[keep]


def train_student(teacher, pretrained, data, labeled, config, mode, classifier_config, augment_config):
    """A classifier initialised from ``pretrained``'s encoder, trained on every training image as ``mode`` says."""
    student = make_classifier("finetune", classifier_config, pretrained, config.seed + 1)
    labels = data.y_train[labeled]
    if mode == "distill":
        # One label column, -1 where unlabeled (the Distiller gives those the teacher's signal only).
        y = np.full((len(data.x_train), 1), -1.0, np.float32)
        y[labeled, 0] = labels
        ds = pseudo_label_dataset(data.x_train, y, config.batch_size, augment_config, seed=config.seed)
        return distill(teacher, student, ds, DistillConfig(temperature=config.temperature, alpha=0.1,
                                                           epochs=config.epochs, learning_rate=config.learning_rate),
                       copy=False)
    x, targets = teacher_targets(teacher, data.x_train, labeled, labels, config, mode)
    ds = pseudo_label_dataset(x, targets, config.batch_size, augment_config, seed=config.seed)
    student.compile(optimizer=tf_keras.optimizers.Adam(tf_keras.optimizers.schedules.CosineDecay(
                        config.learning_rate, config.epochs * int(ds.cardinality()))),
                    loss=tf_keras.losses.CategoricalCrossentropy(from_logits=True))
    student.fit(ds, epochs=config.epochs, verbose=2)
    return student


def run(config):
    """{"labels", "teacher", "students": {mode: accuracy}, ...}: test accuracies of the fine-tuned teacher and of
    one student per mode."""
    study = config.study
    data = load_images(image_size=study.classifier.encoder.image_size, seed=config.seed, dataset=config.dataset)
    logging.info("SimCLR pretraining on %d images (%d epochs)", len(data.x_train), study.contrastive.epochs)
    pretrained, _ = pretrain_contrastive(study.classifier.encoder, data.x_train,
                                         dataclasses.replace(study.contrastive, seed=config.seed))
    labeled = label_subset(data.y_train, config.fraction, seed=config.seed)
    teacher = make_classifier("finetune", study.classifier, pretrained, config.seed)
    train_classifier(teacher, data.x_train[labeled], data.y_train[labeled],
                     dataclasses.replace(study.finetune, seed=config.seed))
    augment_config = digit_views()  # the milder views: a 60% crop can cut a sleeve, the cue for shirt vs T-shirt
    teacher_accuracy = classifier_accuracy(teacher, data.x_test, data.y_test)
    logging.info("teacher (fine-tuned on %d labels): test accuracy %.4f", len(labeled), teacher_accuracy)
    students = {}
    for mode in config.modes:
        student = train_student(teacher, pretrained, data, labeled, config, mode, study.classifier, augment_config)
        students[mode] = classifier_accuracy(student, data.x_test, data.y_test)
        logging.info("student (%s): test accuracy %.4f", mode, students[mode])
    return {"dataset": config.dataset, "seed": config.seed, "labels": int(len(labeled)), "epochs": config.epochs,
            "teacher": teacher_accuracy, "students": students}
