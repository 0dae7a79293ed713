"""Why int8 can be slower than float32 on a CPU, measured: every TFLite mode with XNNPACK and with builtin kernels,
which ops XNNPACK leaves behind, and a per-layer profile.

Models: the probe CNN (keras_ssl/models/probe.py: 8x8 digits CNN, 37.5k params, the model the design documents
timed slower in int8 than in float32; their numbers are in README.md beside this file), the same probe with a
softmax head, and the pipeline's classifier (16x16, conv-pool encoder), or any .keras file.
"""
import dataclasses
import os

from absl import logging

from keras_ssl.base.errors import UserError
from keras_ssl.base.io_utils import atomic_write_json, atomic_write_text
from keras_ssl.data.images import load_images
from keras_ssl.models.classifier import ClassifierConfig, build_classifier
from keras_ssl.models.probe import probe_cnn
from keras_ssl.training.fit import compile_for_logits
from studies.int8_speed.profile import layer_profile, mode_table

MODES = ("float32", "float16", "dynamic", "int8", "int8_io")


@dataclasses.dataclass
class SpeedStudyConfig:
    """Which models the speed study times and how long; ``runs`` is per mode (per-layer profiles use half)."""
    output_dir: str
    models: tuple = ("probe", "probe_softmax", "pipeline_classifier")
    model_path: str = None  # a .keras classifier to study as well
    runs: int = 2000
    train_epochs: int = 3  # latency does not depend on accuracy; calibration needs sensible weights only


def _trained(model, image_size, epochs):
    """A built-in model trained briefly on digits; returns (model, calibration inputs, one test input)."""
    data = load_images(None, image_size=image_size, seed=0)
    compile_for_logits(model, 1e-3)
    if model.layers[-1].get_config().get("activation") == "softmax":
        model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(data.x_train, data.y_train, epochs=epochs, verbose=0)
    return model, data.x_train[:100], data.x_test[0]


def _from_file(path):
    """A saved model with its task's data: images for image inputs, the pipeline's text split for token ids."""
    from keras_ssl.jobs.export_job import load_keras_model
    from keras_ssl.tasks.eval_data import image_eval, text_eval

    model = load_keras_model(path)
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    if model.inputs[0].dtype.is_integer:
        data = text_eval(shape, os.path.join(os.path.dirname(os.path.abspath(path)), "vocab.txt"))
    else:
        data = image_eval(shape)
    return model, data.calibration[:100], data.inputs[0]


def study_model(name, config):
    """One model's timings: every TFLite mode, XNNPACK vs builtin kernels, and per-layer profiles.

    ``name`` is a built-in model (trained briefly on digits) or "file" for ``config.model_path``.
    """
    if name == "file":
        model, calibration, example = _from_file(config.model_path)
    else:
        builders = {"probe": (probe_cnn, 8), "probe_softmax": (lambda: probe_cnn(softmax=True), 8),
                    "pipeline_classifier": (lambda: build_classifier(ClassifierConfig()), 16)}
        build, size = builders[name]
        model, calibration, example = _trained(build(), size, config.train_epochs)
    logging.info("speed study: %s (%d params)", name, model.count_params())
    return {"model": name, "params": int(model.count_params()),
            "modes": mode_table(model, MODES, calibration, example, config.runs),
            "layers_builtin": layer_profile(model, ("float32", "int8"), calibration, example, False, config.runs // 2),
            "layers_xnnpack": layer_profile(model, ("float32", "int8"), calibration, example, True, config.runs // 2)}


def render(results):
    """The study as markdown: a mode table, then per-layer tables for each kernel set."""
    lines = ["| model | params | mode | p50 µs (XNNPACK) | p50 µs (builtin kernels) | XNNPACK nodes | "
             "left on builtin |", "|---|---:|---|---:|---:|---|---|"]
    for r in results:
        for m in r["modes"]:
            x = m["xnnpack"]
            left = ", ".join(x["not_delegated_ops"]) or "-"
            lines.append(f"| {r['model']} | {r['params']:,} | {m['mode']} | {m['p50_us_xnnpack']:.2f} | "
                         f"{m['p50_us_builtin']:.2f} | {x['delegated_nodes']}/{x['nodes']} ({x['partitions']} "
                         f"partitions) | {left} |")
    for r in results:
        for kernels in ("builtin", "xnnpack"):
            lines += ["", f"Per-layer µs, {r['model']}, {kernels} kernels (prefix differences):", "",
                      "| layer | type | float32 | int8 |", "|---|---|---:|---:|"]
            lines += [f"| {row['layer']} | {row['type']} | {row['float32_us']:+.2f} | {row['int8_us']:+.2f} |"
                      for row in r[f"layers_{kernels}"]]
    return "\n".join(lines)


def run_speed_study(config):
    """Runs every requested model and writes speed_study.json/.md to ``config.output_dir``.

    Unknown model names raise UserError before any work.  Returns (results, markdown).
    """
    unknown = set(config.models) - {"probe", "probe_softmax", "pipeline_classifier"}
    if unknown:
        raise UserError(f"unknown --models {sorted(unknown)}: use probe, probe_softmax, pipeline_classifier")
    names = list(config.models) + (["file"] if config.model_path else [])
    results = [study_model(name, config) for name in names]
    markdown = render(results)
    os.makedirs(config.output_dir, exist_ok=True)
    atomic_write_json(os.path.join(config.output_dir, "speed_study.json"), results)
    atomic_write_text(os.path.join(config.output_dir, "speed_study.md"), markdown + "\n")
    return results, markdown
