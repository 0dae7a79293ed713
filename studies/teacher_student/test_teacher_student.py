"""The teacher's targets are what each mode says, and every mode trains a student end to end on tiny digits."""
import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf_keras
from keras_ssl.models.classifier import ClassifierConfig
from keras_ssl.models.conv_autoencoder import AutoencoderConfig
from keras_ssl.ssl.contrastive import ContrastiveConfig
from keras_ssl.training.fit import TrainConfig
from studies.label_study.label_study import LabelStudyConfig
from studies.teacher_student.teacher_student import TeacherStudentConfig, run, teacher_targets


def fixed_teacher(logits):
    """A model whose output on input row i is ``logits[i]`` (inputs are one-hot row indices)."""
    inputs = tf_keras.Input((len(logits),))
    dense = tf_keras.layers.Dense(logits.shape[1], use_bias=False)
    model = tf_keras.Model(inputs, dense(inputs))
    dense.set_weights([logits.astype(np.float32)])
    return model


def test_targets_keep_the_labels_and_follow_the_mode():
    logits = np.array([[9.0, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 9.0], [0.2, 0.0, 0.0]])
    x = np.eye(4, dtype=np.float32)
    labeled, labels = np.array([3]), np.array([2])  # the teacher is wrong on the labeled row
    config = TeacherStudentConfig(threshold=0.95, study=None)
    _, soft = teacher_targets(fixed_teacher(logits), x, labeled, labels, config, "soft")
    assert soft.argmax(axis=1).tolist() == [0, 1, 2, 2] and soft[3].tolist() == [0.0, 0.0, 1.0]
    raw = np.exp(logits[1]) / np.exp(logits[1]).sum()
    assert soft[1].max() > raw.max() and np.allclose(soft.sum(axis=1), 1.0)  # sharpened, still a distribution
    kept, hard = teacher_targets(fixed_teacher(logits), x, labeled, labels, config, "confident")
    assert kept.argmax(axis=1).tolist() == [0, 2, 3]  # the two sure rows and the labeled one
    assert hard.tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 1]]


def test_unknown_mode_is_refused():
    with pytest.raises(UserError, match="unknown or no modes"):
        TeacherStudentConfig(modes=("soft", "fixmatch"), study=None)


def test_every_mode_trains_a_student_from_one_teacher():
    fast = TrainConfig(epochs=1, min_steps=5, verbose=0)
    study = LabelStudyConfig(
        classifier=ClassifierConfig(encoder=AutoencoderConfig(image_size=8, widths=(4, 8)), dropout=0.0),
        contrastive=ContrastiveConfig(epochs=1, verbose=0), finetune=fast)
    result = run(TeacherStudentConfig(dataset="digits", fraction=0.1, threshold=0.5, epochs=1, study=study))
    assert set(result["students"]) == {"soft", "confident", "distill"} and result["labels"] > 0
    assert all(0.0 <= acc <= 1.0 for acc in [result["teacher"], *result["students"].values()])
