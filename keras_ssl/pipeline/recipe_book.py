"""Named recipes (``--recipe=NAME``), as code, and the rows they add to a pipeline report.

``tutorial`` is the plain tfmot tutorial (polynomial pruning 50% → 80%, then int8 post-training quantization): it is
added to every non-default run as the peer row users compare against.  ``auto`` runs the accuracy-aware search
(``keras_ssl.search.accuracy_aware``); ``--recipe_file`` re-runs a recipe it saved.
"""
import dataclasses
import os

from keras_ssl.base.errors import UserError
from keras_ssl.base.io_utils import atomic_write_json, require_file
from keras_ssl.benchmark.plots import plot_size_accuracy
from keras_ssl.compress.channel_prune import ChannelPruneConfig
from keras_ssl.compress.cluster import ClusterConfig
from keras_ssl.compress.distill import DistillConfig
from keras_ssl.compress.lottery import LotteryConfig
from keras_ssl.compress.prune import PruneConfig
from keras_ssl.compress.quantize import QATConfig
from keras_ssl.compress.recipes import DistillStepConfig, FinetuneConfig, Recipe, apply_recipe, load_recipe
from keras_ssl.search.accuracy_aware import search
from keras_ssl.search.study import default_folder

TUTORIAL = "tutorial"
# Student-builder arguments per task: ≥10x fewer parameters than the default teacher (see models/students.py).
STUDENTS = {"image": {"widths": [4, 4, 8]}, "text": {"embedding_dim": 16, "lstm_units": 16}}


def tutorial_recipe(prune):
    """tfmot's pruning tutorial: PolynomialDecay 0.5 → 0.8 over the pruning epochs, then int8 PTQ."""
    return Recipe(TUTORIAL, (("prune", dataclasses.replace(prune, initial_sparsity=0.5, target_sparsity=0.8,
                                                           schedule="polynomial", per_layer={}, m_by_n=())),))


def named_recipes(task, prune):
    """Every named recipe for ``task`` ("image" or "text"), built from the run's pruning settings."""
    recipes = [
        tutorial_recipe(prune),
        Recipe("prune-cluster-pqat", (("prune", dataclasses.replace(prune, target_sparsity=0.75)),
                                      ("cluster", ClusterConfig(number_of_clusters=16, preserve_sparsity=True)),
                                      ("pqat", QATConfig(epochs=1)))),
        Recipe("2of4-int8", (("prune", dataclasses.replace(prune, m_by_n=(2, 4), per_layer={})),)),
        Recipe("distill-prune", (("distill", DistillStepConfig(student=STUDENTS[task], distill=DistillConfig())),
                                 ("prune", dataclasses.replace(prune, target_sparsity=0.5)))),
        Recipe("lottery", (("lottery", LotteryConfig(rounds=3, prune_per_round=0.4, epochs_per_round=3)),)),
    ]
    if task == "image":  # channel pruning rebuilds conv/dense chains; the BiLSTM MLM is not one
        channels = ChannelPruneConfig(keep_fraction=0.5, epochs=0)
        recipes.append(Recipe("channels-finetune", (("channel_prune", channels),
                                                    ("finetune", FinetuneConfig(epochs=4, learning_rate=1e-3)))))
    return {recipe.name: recipe for recipe in recipes}


RECIPE_NAMES = ("default", "auto") + tuple(named_recipes("image", PruneConfig()))
IMAGE_ONLY_STEPS = ("channel_prune",)  # it rebuilds conv/dense chains; the BiLSTM MLM is not one


def check_recipe_choice(task, recipe, recipe_file):
    """UserError, before anything trains, unless ``recipe`` is known for ``task`` and ``recipe_file`` (when given)
    reads as a recipe whose steps apply to ``task``."""
    names = ("default", "auto") + tuple(named_recipes(task, PruneConfig()))
    if recipe not in names:
        other = " (it is for the image task)" if recipe in RECIPE_NAMES else ""
        raise UserError(f"unknown recipe {recipe!r} for the {task} task{other}: available recipes are "
                        f"{', '.join(names)}")
    if not recipe_file:
        return
    require_file(recipe_file, "recipe file", "pass a chosen_recipe.json from a run")
    loaded = load_recipe(recipe_file)
    wrong = [kind for kind, _ in loaded.steps if task != "image" and kind in IMAGE_ONLY_STEPS]
    if wrong:
        raise UserError(f"{recipe_file}: step {wrong[0]!r} applies to the image task only, not to {task}")


def recipe_rows(config, model, context, search_task, out_dir):
    """(compressed rows for ``standard_variants``, the report's ``search`` section or None) for ``config.recipe``.

    ``search_task`` (a SearchTask without ``model``/``context``, or None) is needed by ``auto`` only; its search
    writes ``chosen_recipe.json``, ``search.json`` and ``search_pareto.png`` into ``out_dir``.
    """
    if config.recipe == "default" and not config.recipe_file:
        return [], None
    book = named_recipes(config.task, config.prune)
    chosen = []
    if config.recipe_file:
        chosen.append(load_recipe(config.recipe_file))
    elif config.recipe not in ("auto", TUTORIAL):
        chosen.append(book[config.recipe])
    rows = [(recipe.name, apply_recipe(model, recipe, context), recipe.describe(), recipe.mode)
            for recipe in [book[TUTORIAL]] + chosen]
    section = None
    if config.recipe == "auto":
        study = dataclasses.replace(config.search.study, folder=config.search.study.folder or default_folder(
            config.output_dir), overwrite=config.overwrite, resume=config.resume)
        search_config = dataclasses.replace(config.search, seed=config.seed, study=study)
        result = search(dataclasses.replace(search_task, model=model, context=context), search_config)
        if result.chosen is not None:
            rows.append(("auto_best", result.model, result.chosen.describe(), result.chosen.mode))
        section = search_section(result, config.search, out_dir)
    return rows, section


def search_section(result, search_config, out_dir):
    """Writes the chosen recipe (if any met the budget), the full search record and the Pareto plot; returns the
    report's summary."""
    if result.chosen is not None:
        atomic_write_json(os.path.join(out_dir, "chosen_recipe.json"), result.chosen.to_dict())
    section = {"chosen": result.chosen and result.chosen.name,
               "chosen_recipe": result.chosen and result.chosen.describe(), "study": result.study,
               "budget_points": search_config.budget_points, "margin_se": search_config.margin_se,
               "baseline_val_accuracy": result.baseline_accuracy,
               "seconds": result.seconds, "candidates": result.candidates, "failed": result.failed,
               "sensitivity": result.sensitivity}
    atomic_write_json(os.path.join(out_dir, "search.json"), section)
    plot_size_accuracy({"variants": [dict(row, name=row["name"]) for row in result.candidates],
                        "baseline": result.chosen and result.chosen.name}, os.path.join(out_dir, "search_pareto.png"),
                       f"search: int8 candidates, validation accuracy (budget {search_config.budget_points:g} pt)")
    return {key: value for key, value in section.items() if key != "sensitivity"}


def render_search(section):
    """The report's search section in markdown: every candidate, the chosen one marked, and the plot."""
    if not section:
        return ""
    budget = (f"{section['margin_se']:g} standard error stays within {section['budget_points']:g} point of the float "
              f"model's validation accuracy {section['baseline_val_accuracy']:.4f}")
    if section["chosen"]:
        lines = [f"Chosen: `{section['chosen']}` = {section['chosen_recipe']} (smallest int8 artifact whose drop plus "
                 f"{budget}; search took {section['seconds']:.0f} s; re-run it with "
                 "`--recipe_file=DIR/chosen_recipe.json`)."]
    else:
        lines = [f"**No candidate was chosen**: none had a drop that plus {budget}. The float artifacts stay."]
    study = section.get("study") or {}
    if study:
        lines += ["", f"Optuna study `{study['name']}` in `{study['storage']}`: {study['finished_trials']} trials "
                  f"({study['enqueued']} hand-made candidates enqueued first), {study['workers']} worker(s), "
                  f"{study['trials_per_hour']} trials/hour in this run"
                  + (f", resumed with {study['resumed_with']} finished" if study["resumed_with"] else "")
                  + (f", trials retried after a worker died: {study['retried_trials']}" if study["retried_trials"]
                     else "") + f". Open it with `{study['dashboard']}`."]
    lines += ["", "| candidate | recipe | gzip (B) | params | sparsity | val accuracy | Δ (pt) | ± SE (pt) | "
              "within budget |", "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for row in sorted(section["candidates"], key=lambda r: r["gzip_bytes"]):
        mark = " (chosen)" if row.get("chosen") else " (Pareto)" if row.get("pareto") else ""
        lines.append(f"| {row['name']}{mark} | {row['recipe']} | {row['gzip_bytes']:,} | {row['params']:,} | "
                     f"{row['sparsity']:.2f} | {row['accuracy']:.4f} | {-row['drop_points']:+.2f} | "
                     f"{row['drop_se_points']:.2f} | "
                     f"{'yes' if row['within_budget'] else 'no'} |")
    lines += [f"- failed: `{row['name']}` ({row['recipe']}): {row['reason']}" for row in section.get("failed", [])]
    lines += ["", "![search Pareto front](search_pareto.png)", "",
              "Per-layer sensitivity (one-shot, validation drop in points) is in `search.json`."]
    return "\n".join(lines)
