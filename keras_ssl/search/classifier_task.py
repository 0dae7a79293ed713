"""An image classifier's search task as data: what a worker process (on this host or another) needs to rebuild it.

The pipeline and the search job both describe their classifier this way; with ``--workers`` above 1 the search
saves it beside the study (``task/``: the float model, the arrays, the settings) and each worker loads it.
"""
import dataclasses
import io
import json
import os

import numpy as np

from keras_ssl.base.errors import UserError
from keras_ssl.base.io_utils import atomic_write_bytes, atomic_write_json
from keras_ssl.base.keras import tf_keras
from keras_ssl.compress.recipes import RecipeContext
from keras_ssl.models.students import StudentClassifierConfig, build_student_classifier
from keras_ssl.search.accuracy_aware import SearchTask
from keras_ssl.training.fit import classification_dataset, compile_for_logits

ARRAYS = ("x_train", "y_train", "x_val", "y_val", "calibration")


@dataclasses.dataclass
class ClassifierSearchData:
    """Training, validation and calibration images, the batch size and seed of the recipes' training, and the
    student builder's fixed fields (``StudentClassifierConfig``: image size, channels, classes)."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    calibration: np.ndarray
    batch_size: int
    seed: int
    student: dict

    def task(self, model=None):
        """The SearchTask of ``model`` on this data."""
        student = self.student
        context = RecipeContext(
            dataset=classification_dataset(self.x_train, self.y_train, self.batch_size, seed=self.seed),
            compile=compile_for_logits,
            build_student=lambda **kwargs: build_student_classifier(StudentClassifierConfig(**{**student, **kwargs})))
        y_val = self.y_val
        return SearchTask(model=model, context=context, val_inputs=self.x_val, calibration=self.calibration,
                          correct=lambda out: np.argmax(out, -1) == y_val, data=self)

    def save(self, folder, model):
        """Writes ``folder/{model.keras, arrays.npz, task.json}`` (each via a temporary name)."""
        os.makedirs(folder, exist_ok=True)
        model.save(os.path.join(folder, ".model.tmp.keras"))
        os.replace(os.path.join(folder, ".model.tmp.keras"), os.path.join(folder, "model.keras"))
        arrays = io.BytesIO()
        np.savez(arrays, **{name: getattr(self, name) for name in ARRAYS})
        atomic_write_bytes(os.path.join(folder, "arrays.npz"), arrays.getvalue())
        atomic_write_json(os.path.join(folder, "task.json"), {"kind": "image_classifier", "batch_size": self.batch_size,
                                                              "seed": self.seed, "student": self.student})


def load_classifier_task(folder):
    """The SearchTask ``ClassifierSearchData.save`` wrote into ``folder``; UserError when it is missing or bad."""
    try:
        with open(os.path.join(folder, "task.json"), encoding="utf-8") as f:
            settings = json.load(f)
        with np.load(os.path.join(folder, "arrays.npz")) as arrays:
            data = ClassifierSearchData(**{name: arrays[name] for name in ARRAYS}, batch_size=settings["batch_size"],
                                        seed=settings["seed"], student=settings["student"])
        model = tf_keras.models.load_model(os.path.join(folder, "model.keras"), compile=False)
    except (OSError, ValueError, KeyError) as e:
        raise UserError(f"cannot load the search task from {folder} ({type(e).__name__}: {e}): run the search "
                        "command (it writes the task) before starting workers, and pass its --study_folder") from None
    return data.task(model)
