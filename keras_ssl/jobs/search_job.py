"""The accuracy-aware search on any image classifier (a .keras file, or a built-in model), outside the pipeline.

Users who bring their own trained classifier want the same answer the pipeline's ``--recipe=auto`` gives: the
smallest int8 artifact within a budget, next to the plain tfmot tutorial recipe.  Data: digits (or a local mnist.npz)
at the model's input size; a seeded validation split of the training images drives the choice, the test split
scores the three rows (float32 TFLite, tutorial, chosen), each by running the artifact.
"""
import dataclasses
import os

import numpy as np
from absl import logging

from keras_ssl.base.errors import JobFailed, UserError
from keras_ssl.base.io_utils import atomic_write_json, atomic_write_text, staged_dir
from keras_ssl.base.output_lock import locks_output
from keras_ssl.base.keras import tf_keras
from keras_ssl.base.metrics import count_params, gzip_bytes
from keras_ssl.compress.distill import DistillConfig
from keras_ssl.compress.prune import PruneConfig
from keras_ssl.compress.recipes import apply_recipe
from keras_ssl.data.images import hold_out_validation, load_images
from keras_ssl.models.classifier import ClassifierConfig, build_classifier
from keras_ssl.models.conv_autoencoder import AutoencoderConfig
from keras_ssl.models.probe import probe_cnn
from keras_ssl.pipeline.recipe_book import render_search, search_section, tutorial_recipe
from keras_ssl.search.accuracy_aware import SearchConfig, search
from keras_ssl.search.classifier_task import ClassifierSearchData
from keras_ssl.search.study import default_folder
from keras_ssl.training.fit import classification_dataset, compile_for_logits
from tflite_export.convert import to_tflite
from tflite_export.runner import TFLiteModel

BUILTINS = {"probe": (probe_cnn, 8),  # the probe CNN (keras_ssl/models/probe.py): 37.5k params, 8x8 input
            "classifier": (lambda: build_classifier(ClassifierConfig(encoder=AutoencoderConfig(image_size=16))), 16)}


@dataclasses.dataclass
class SearchJob:
    """One search run: ``model_path`` (.keras, logits output) or ``builtin`` (trained here for ``train_epochs``)."""
    output_dir: str
    model_path: str = ""
    builtin: str = "probe"
    data_path: str = ""
    train_epochs: int = 30
    validation_fraction: float = 0.15
    seed: int = 0
    # Students: a small CNN, a one-conv CNN and a one-hidden-layer MLP.  The MLP is there for 8x8 inputs such as
    # the probe's: a 3-block CNN like (4, 4, 8), which fits 16x16 images, pools 8x8 ones down to 1x1 and loses
    # accuracy, while the distilled MLP matched the float teacher (docs/compression.md, "Measurements behind the code").
    search: SearchConfig = dataclasses.field(default_factory=lambda: SearchConfig(
        students=({"widths": (8, 8, 16)}, {"widths": (8,), "hidden": (16,)}, {"widths": (), "hidden": (24,)}),
        distill=DistillConfig(epochs=100, learning_rate=3e-3, alpha=0.1)))
    prune: PruneConfig = dataclasses.field(default_factory=lambda: PruneConfig(epochs=6, learning_rate=5e-4))

    def __post_init__(self):
        if not self.model_path and self.builtin not in BUILTINS:
            raise UserError(f"unknown built-in model {self.builtin!r}: use one of {sorted(BUILTINS)} or --model_path")
        if self.model_path and not os.path.isfile(self.model_path):
            raise UserError(f"model not found: {self.model_path} (pass a .keras file saved by tf_keras)")


def _load_model(job):
    if job.model_path:
        try:
            model = tf_keras.models.load_model(job.model_path, compile=False)
        except Exception as e:  # noqa: BLE001 -- Keras raises many types for a bad file; all mean "cannot load"
            raise UserError(f"cannot load {job.model_path} ({type(e).__name__}): pass a .keras file saved by "
                            "tf_keras") from None
        shape = model.input_shape[1:]
        if len(shape) != 3 or shape[0] != shape[1]:
            raise UserError(f"{job.model_path} takes inputs of shape {shape}: the search needs a square image input")
        return model, shape[0], False
    build, size = BUILTINS[job.builtin]
    return build(), size, True


def _test_row(name, recipe, artifact, data):
    outputs = TFLiteModel(model_content=artifact).predict(data.x_test)
    return {"name": name, "recipe": recipe, "size_bytes": len(artifact), "gzip_bytes": gzip_bytes(artifact),
            "accuracy": float(np.mean(np.argmax(outputs, -1) == data.y_test))}


@locks_output("output_dir")
def run_search_job(job):
    """Runs the search and writes search_report.{json,md}, search.json, chosen_recipe.json and the Pareto PNG;
    returns (report dict, markdown)."""
    if not job.search.study.folder:
        job = dataclasses.replace(job, search=dataclasses.replace(job.search, study=dataclasses.replace(
            job.search.study, folder=default_folder(job.output_dir))))
    tf_keras.utils.set_random_seed(job.seed)
    model, size, untrained = _load_model(job)
    data, (x_val, y_val) = hold_out_validation(load_images(job.data_path, image_size=size, seed=job.seed),
                                               job.validation_fraction, job.seed)
    dataset = classification_dataset(data.x_train, data.y_train, 64, seed=job.seed)
    if untrained:
        compile_for_logits(model, 1e-3).fit(dataset, epochs=job.train_epochs, verbose=0)
    task = ClassifierSearchData(
        x_train=data.x_train, y_train=data.y_train, x_val=x_val, y_val=y_val, calibration=data.x_train[:100],
        batch_size=64, seed=job.seed, student={"image_size": size, "channels": model.input_shape[-1],
                                               "num_classes": model.output_shape[-1]}).task(model)
    with staged_dir(job.output_dir) as stage:
        result = search(task, job.search)
        section = search_section(result, job.search, stage)
        tutorial = apply_recipe(model, tutorial_recipe(job.prune), task.context)
        rows = [_test_row("tflite_float32", "none", to_tflite(model, "float32"), data),
                _test_row("tutorial", tutorial_recipe(job.prune).describe(),
                          to_tflite(tutorial, "int8", representative_data=task.calibration), data)]
        if result.chosen is not None:
            rows.append(_test_row("auto_best", result.chosen.describe(), to_tflite(
                result.model, result.chosen.mode, representative_data=task.calibration), data))
        base = rows[0]
        for row in rows:
            row["gzip_ratio"] = round(base["gzip_bytes"] / row["gzip_bytes"], 2)
            row["drop_points"] = round(100 * (base["accuracy"] - row["accuracy"]), 2)
        report = {"model": job.model_path or job.builtin, "params": count_params(model), "rows": rows,
                  "search": section}
        atomic_write_json(os.path.join(stage, "search_report.json"), report)
        markdown = render_job(report)
        atomic_write_text(os.path.join(stage, "search_report.md"), markdown)
    logging.info("search report written to %s", job.output_dir)
    if result.chosen is None:
        raise JobFailed(f"no candidate stayed within {job.search.budget_points:g} points of the float model on "
                        f"validation: the report in {job.output_dir} keeps the float32 row; raise --budget_points or "
                        "--search_trials")
    return report, markdown


def render_job(report):
    """The job's markdown: the three test-set rows, then the search's own section."""
    lines = [f"# Accuracy-aware search: {report['model']} ({report['params']:,} params)", "",
             "| row | recipe | size (B) | gzip (B) | gzip vs float32 | test accuracy | Δ (pt) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['name']} | {r['recipe']} | {r['size_bytes']:,} | {r['gzip_bytes']:,} | {r['gzip_ratio']:.1f}x | "
              f"{r['accuracy']:.4f} | {-r['drop_points']:+.2f} |" for r in report["rows"]]
    return "\n".join(lines + ["", "## Search (validation split)", "", render_search(report["search"]), ""])
