"""Recipes: compression techniques chained as code, each step a model → model function with its dataclass config.

A ``Recipe`` is a name, an ordered tuple of ``(kind, config)`` steps and the TFLite mode of its final artifact.  It
round-trips through JSON (``to_dict`` / ``recipe_from_dict``), so the recipe the accuracy-aware search chose can be
saved beside the report and run again (``--recipe_file``).  ``apply_recipe`` runs the steps in order on a
``RecipeContext`` that carries what the task knows (training batches, loss, teacher, student builder); the
techniques themselves know nothing about recipes.
"""
import dataclasses
import json
from typing import Callable

import numpy as np
import tensorflow_model_optimization as tfmot
from absl import logging

from keras_ssl.base.errors import UserError
from keras_ssl.base.tflite_modes import MODES
from keras_ssl.compress.byo import copy_model
from keras_ssl.compress.channel_prune import ChannelPruneConfig, prune_channels
from keras_ssl.compress.cluster import ClusterConfig, cluster_weights
from keras_ssl.compress.distill import DistillConfig, distill
from keras_ssl.compress.layer_prune import LayerPruneConfig, prune_layers
from keras_ssl.compress.lottery import HoldMasks, LotteryConfig, lottery_ticket, maskable_weights
from keras_ssl.compress.peft import LoraConfig, peft_finetune
from keras_ssl.compress.preserve_qat import preserving_qat
from keras_ssl.compress.prune import PruneConfig, prunable_copy, prune_magnitude, strip_checked
from keras_ssl.compress.quantize import QATConfig, quantize_aware
from keras_ssl.training.fit import FitFields, fit_callbacks


@dataclasses.dataclass
class FinetuneConfig(FitFields):
    """Fine-tuning after compression (the design documents' last step): a few epochs at a low rate; zeros
    already in the matrices stay zero (their masks are held), so a pruned model keeps its sparsity."""
    epochs: int = 2
    learning_rate: float = 3e-4

    def __post_init__(self):
        if self.epochs < 1 or not self.learning_rate > 0:
            raise UserError(f"finetune needs epochs >= 1 and a positive learning rate, got {self.epochs}, "
                            f"{self.learning_rate}")


@dataclasses.dataclass
class DistillStepConfig:
    """Distil the current model (the teacher) into a fresh student: ``student`` holds the task's student-builder
    keyword arguments (e.g. ``{"widths": [4, 8]}`` for the classifier, ``{"lstm_units": 16}`` for the MLM).

    ``prune_sparsity`` > 0 prunes the student while it is distilled (magnitude pruning ramped over the distillation
    steps): it learns around its zeros, where pruning a distilled student afterwards lost 8-62 points."""
    student: dict = dataclasses.field(default_factory=dict)
    distill: DistillConfig = dataclasses.field(default_factory=DistillConfig)
    prune_sparsity: float = 0.0

    def __post_init__(self):
        if isinstance(self.distill, dict):
            self.distill = DistillConfig(**self.distill)
        if not 0.0 <= self.prune_sparsity < 1.0:
            raise UserError(f"distill step prune_sparsity={self.prune_sparsity} must be in [0, 1)")


@dataclasses.dataclass
class RecipeContext:
    """What the steps need from the task: ``dataset`` (training batches), ``compile(model, lr)`` with the task's loss,
    ``build_student(**kwargs)`` for distillation and ``distill_dataset`` (defaults to ``dataset``; may be unlabeled).
    """
    dataset: object
    compile: Callable
    build_student: Callable = None
    distill_dataset: object = None


def _compile_with(context, config):
    return lambda model: context.compile(model, config.learning_rate)


def finetune(model, dataset, config, compile_fn):
    """Fine-tunes a copy of ``model`` with every zero of its matrices held at zero (a no-op mask on dense models)."""
    model = copy_model(model)
    compile_fn(model)
    weights = maskable_weights(model)
    hold = HoldMasks(weights, [(w.numpy() != 0).astype(np.float32) for w in weights])
    model.fit(dataset, epochs=config.epochs, verbose=2, callbacks=[hold] + fit_callbacks(config, dataset))
    hold.apply()
    return model


def _distill_step(model, context, config):
    if context.build_student is None:
        raise UserError("this task has no student builder: a distill step needs RecipeContext.build_student")
    student = context.build_student(**config.student)
    dataset = context.distill_dataset or context.dataset
    if not config.prune_sparsity:
        return distill(model, student, dataset, config.distill, compile_fn=_compile_with(context, config.distill))
    prune = PruneConfig(target_sparsity=config.prune_sparsity, epochs=config.distill.epochs)
    wrapped = prunable_copy(student, prune, int(dataset.cardinality()) * prune.epochs)
    distill(model, wrapped, dataset, config.distill, callbacks=[tfmot.sparsity.keras.UpdatePruningStep()],
            copy=False)
    student = strip_checked(wrapped, prune)
    _compile_with(context, config.distill)(student)
    return student


# kind → (config class, step(model, context, config) → model)
STEPS = {
    "prune": (PruneConfig, lambda m, ctx, c: prune_magnitude(m, ctx.dataset, c, _compile_with(ctx, c))),
    "cluster": (ClusterConfig, lambda m, ctx, c: cluster_weights(m, ctx.dataset, c, _compile_with(ctx, c))),
    "channel_prune": (ChannelPruneConfig, lambda m, ctx, c: prune_channels(m, ctx.dataset, c, _compile_with(ctx, c))),
    "layer_prune": (LayerPruneConfig, lambda m, ctx, c: prune_layers(m, ctx.dataset, c, _compile_with(ctx, c))),
    "lottery": (LotteryConfig, lambda m, ctx, c: lottery_ticket(m, ctx.dataset, c, _compile_with(ctx, c))[0]),
    "qat": (QATConfig, lambda m, ctx, c: quantize_aware(m, ctx.dataset, c, _compile_with(ctx, c))),
    "pqat": (QATConfig, lambda m, ctx, c: preserving_qat(m, ctx.dataset, c, _compile_with(ctx, c), scheme="prune")),
    "cqat": (QATConfig, lambda m, ctx, c: preserving_qat(m, ctx.dataset, c, _compile_with(ctx, c),
                                                         scheme="cluster")),
    "distill": (DistillStepConfig, _distill_step),
    "peft": (LoraConfig, lambda m, ctx, c: peft_finetune(m, ctx.dataset, c, _compile_with(ctx, c))),
    "finetune": (FinetuneConfig, lambda m, ctx, c: finetune(m, ctx.dataset, c, _compile_with(ctx, c))),
}
QAT_KINDS = ("qat", "pqat", "cqat")  # their models must be converted with optimizations (tflite "int8" mode)


@dataclasses.dataclass
class Recipe:
    """An ordered chain of compression steps and the TFLite ``mode`` its final model is exported in."""
    name: str
    steps: tuple = ()
    mode: str = "int8"

    def __post_init__(self):
        self.steps = tuple((kind, config) for kind, config in self.steps)
        for index, (kind, config) in enumerate(self.steps):
            if kind not in STEPS:
                raise UserError(f"recipe {self.name!r} step {index}: unknown kind {kind!r}; use one of "
                                f"{sorted(STEPS)}")
            if not isinstance(config, STEPS[kind][0]):
                raise UserError(f"recipe {self.name!r} step {index} ({kind}) needs a {STEPS[kind][0].__name__}, got "
                                f"{type(config).__name__}")
            if kind in QAT_KINDS and index != len(self.steps) - 1:
                raise UserError(f"recipe {self.name!r}: {kind} must be the last step (its fake-quant model is what "
                                "gets converted)")
        if self.mode not in MODES:
            raise UserError(f"recipe {self.name!r}: unknown export mode {self.mode!r}; use one of {MODES}")

    def describe(self):
        """One short line for report rows, e.g. ``prune(0.8)+cluster(16)+int8``."""
        return "+".join([_short(kind, config) for kind, config in self.steps] + [self.mode])

    def to_dict(self):
        """JSON-ready data that ``recipe_from_dict`` turns back into an equal Recipe."""
        return {"name": self.name, "mode": self.mode,
                "steps": [{"kind": kind, "config": _plain(dataclasses.asdict(config))} for kind, config in self.steps]}


def _plain(value):
    return json.loads(json.dumps(value))


def _short(kind, config):
    detail = {"prune": lambda c: f"{c.target_sparsity:g}" + (f",{len(c.per_layer)}layers" if getattr(
        c, "per_layer", None) else ""),
              "cluster": lambda c: f"{c.number_of_clusters}",
              "channel_prune": lambda c: f"{c.keep_fraction}" if not isinstance(c.keep_fraction, dict) else "layers",
              "distill": lambda c: ",".join([f"{k}={v}" for k, v in sorted(c.student.items())] + (
                  [f"pruned={c.prune_sparsity:g}"] if c.prune_sparsity else []))}.get(kind)
    return f"{kind}({detail(config)})" if detail else kind


def _tuples(config_class, data):
    """Lists from JSON back to tuples where the dataclass default is a tuple (e.g. QATConfig.layers)."""
    defaults = {f.name: f for f in dataclasses.fields(config_class)}
    fixed = {}
    for key, value in data.items():
        if key not in defaults:
            raise UserError(f"{config_class.__name__} has no field {key!r}: fields are {sorted(defaults)}")
        field = defaults[key]
        default = field.default if field.default is not dataclasses.MISSING else None
        fixed[key] = tuple(value) if isinstance(value, list) and isinstance(default, tuple) else value
    return fixed


def recipe_from_dict(data):
    """The Recipe ``Recipe.to_dict`` wrote; UserError naming the step for anything malformed."""
    try:
        steps = []
        for index, step in enumerate(data["steps"]):
            kind = step["kind"]
            if kind not in STEPS:
                raise UserError(f"recipe step {index}: unknown kind {kind!r}; use one of {sorted(STEPS)}")
            config_class = STEPS[kind][0]
            steps.append((kind, config_class(**_tuples(config_class, step.get("config", {})))))
        return Recipe(name=data["name"], steps=tuple(steps), mode=data.get("mode", "int8"))
    except (KeyError, TypeError) as e:
        raise UserError(f"recipe is malformed ({type(e).__name__}: {e}): expected {{'name', 'mode', 'steps': "
                        "[{'kind', 'config'}]}") from None


def load_recipe(path):
    """A Recipe from a JSON file written by ``save_recipe`` (e.g. the search's ``chosen_recipe.json``)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read recipe file {path} ({e}): pass a chosen_recipe.json from a run") from None
    return recipe_from_dict(data)


def apply_recipe(model, recipe, context):
    """Runs the recipe's steps in order on ``model`` (not modified) and returns the final model."""
    for index, (kind, config) in enumerate(recipe.steps):
        logging.info("recipe %s step %d/%d: %s", recipe.name, index + 1, len(recipe.steps), _short(kind, config))
        model = STEPS[kind][1](model, context, config)
    return model
