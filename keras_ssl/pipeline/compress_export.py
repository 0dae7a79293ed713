"""The stages every task shares once it has a trained float model: prune, QAT, the recipes (and the search), then
every artifact exported, run and measured.  A task's runner (``image_task``, ``text_task``) trains the model and
describes it as a ``TrainedTask``; ``compress_and_export`` does the rest the same way for both."""
import dataclasses
import os
from typing import Callable

from keras_ssl.compress.prune import prune_magnitude
from keras_ssl.compress.quantize import quantize_aware
from keras_ssl.compress.recipes import RecipeContext
from keras_ssl.pipeline.recipe_book import recipe_rows
from keras_ssl.pipeline.stages import with_backup, with_logs
from keras_ssl.pipeline.variants import Evaluation, int4_mode, standard_variants
from keras_ssl.training.distribute import strategy_scope


@dataclasses.dataclass
class TrainedTask:
    """A task's trained float model and how to train, score and shrink it further."""
    model: object  # the float32 Keras model that is compressed and exported
    dataset: object  # training batches for pruning, QAT and the recipes
    compile: Callable  # compile(model, learning_rate) with the task's loss
    evaluation: Evaluation  # test inputs, scoring and calibration for every artifact
    build_student: Callable  # build_student(**kwargs) for distillation recipes
    search_task: object  # a SearchTask without model/context for --recipe=auto, else None
    qat_recipe: str  # the QAT row's recipe label in the report


def prune_recipe_name(prune_config):
    """The recipe label in report rows, e.g. "prune-polynomial-0.75"."""
    return f"prune-{prune_config.schedule}-{prune_config.target_sparsity:g}"


def compress_and_export(config, trained, artifacts_dir, timer, strategy):
    """Prune and QAT rows, the recipe rows of ``config.recipe``, then ``standard_variants``.

    Returns (report rows, baseline row name, export section, search section or None).
    """
    with timer.stage("prune"), strategy_scope(strategy):
        prune = with_backup(with_logs(config.prune, config, artifacts_dir, "prune"), config, "prune")
        pruned = prune_magnitude(trained.model, trained.dataset, prune,
                                 lambda m: trained.compile(m, config.prune.learning_rate))
    with timer.stage("qat"), strategy_scope(strategy):
        qat = quantize_aware(trained.model, trained.dataset,
                             with_backup(with_logs(config.qat, config, artifacts_dir, "qat"), config, "qat"),
                             lambda m: trained.compile(m, config.qat.learning_rate))
    int4 = int4_mode(trained.model)
    compressed = [("pruned_int8", pruned, prune_recipe_name(config.prune) + "+ptq-int8", "int8"),
                  (f"pruned_{int4}", pruned, f"{prune_recipe_name(config.prune)}+ptq-{int4}", int4),
                  ("qat_int8", qat, trained.qat_recipe, "int8")]
    with timer.stage("recipes"), strategy_scope(strategy):
        context = RecipeContext(dataset=trained.dataset, compile=trained.compile, build_student=trained.build_student)
        recipe_models, search = recipe_rows(config, trained.model, context, trained.search_task,
                                            os.path.dirname(artifacts_dir))
        compressed += recipe_models
    with timer.stage("export"):
        variants, baseline, export = standard_variants(trained.model, compressed, artifacts_dir, trained.evaluation)
    return variants, baseline, export, search
