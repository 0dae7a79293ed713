"""Accuracy-aware search: the smallest int8 artifact whose accuracy stays within a budget of the float model.

Users of today's toolkits guess a combination (e.g. 80% pruning + int8) and lose points or size.  Here:

1. **Sensitivity.**  Each prunable layer is pruned alone, one-shot (smallest |w| zeroed), at every sparsity level,
   and clustered alone at every cluster count; the validation accuracy drop of each is the sensitivity table.
2. **Candidates.**  For each tolerance t (points), every layer gets the highest sparsity (and the fewest clusters)
   whose one-shot drop was ≤ t: robust layers are pruned hard, fragile ones spared.  Each setting becomes a recipe
   (prune per layer, then optionally sparsity-preserving clustering), and so do uniform sparsities (what tfmot's
   tutorials do, so the search can never do worse than them on validation) and every distilled student at every
   uniform sparsity.  Each candidate is trained, converted to int8 TFLite and *run* on the validation split.
   These hand-made candidates are enqueued first in an Optuna study (``study.py``, ``space.py``) whose sampler then
   proposes ``study.trials`` more from the same space (two objectives: gzip bytes and accuracy drop; the budget
   is its constraint).  One or many worker processes, on one host or several, pull the trials; a killed one's
   trial runs again, and a killed search resumes where it stopped.
3. **Choice.**  The smallest gzip artifact whose validation drop is within the budget *with a margin*: the drop
   plus ``margin_se`` standard errors of it must fit.  The standard error is the paired one (McNemar): it counts
   the examples the candidate and the float model disagree on being right, sqrt(b + c) / n.  On digits' ~200
   validation images one image is 0.5 points, and choosing on the raw drop picked a student that lost more on
   test than on validation (docs/compression.md, "Measurements behind the code"); a candidate that agrees with
   the float model almost everywhere has a small error and keeps its place.  The Pareto front (size vs accuracy)
   of all candidates is plotted, and the chosen recipe is saved as JSON that re-runs with ``--recipe_file``.

The validation split is held out of every training step, so the choice never looks at the test split; the report
then scores the chosen artifact on the test split like every other row.
"""
import dataclasses
import json
import time
from functools import partial
from typing import Callable

import numpy as np
from absl import logging
from optuna.trial import FixedTrial, TrialState

from keras_ssl.base.errors import UserError
from keras_ssl.base.metrics import count_params, gzip_bytes, sparsity
from keras_ssl.base.tflite_modes import MODES
from keras_ssl.compress.byo import copy_model
from keras_ssl.compress.cluster import ClusterConfig
from keras_ssl.compress.distill import DistillConfig
from keras_ssl.compress.lottery import maskable_weights
from keras_ssl.compress.prune import PruneConfig, can_mask
from keras_ssl.compress.recipes import Recipe, apply_recipe
from keras_ssl.search.space import heuristic_trials, recipe_for, space_from_config
from keras_ssl.search.study import (Objective, StudyConfig, artifact_store, finished_trials, load_trial_model,
                                    model_fingerprint, open_study, run_trials, seal, study_summary)
from keras_ssl.search.workers import run_worker_processes
from tflite_export.convert import to_tflite
from tflite_export.runner import TFLiteModel


@dataclasses.dataclass
class SearchConfig:
    """What the search tries; defaults fit the digits classifier in a few minutes on 2 cores.

    ``budget_points`` is the allowed validation accuracy drop vs the float32 model; ``tolerances`` are per-layer
    one-shot drops (points) that set how hard each candidate prunes; ``students`` are student-builder keyword
    arguments, each distilled and then pruned uniformly at ``student_sparsities``.
    """
    budget_points: float = 1.0
    margin_se: float = 1.0  # standard errors of the paired accuracy drop added before comparing with the budget
    sparsity_levels: tuple = (0.5, 0.7, 0.8, 0.9, 0.95)
    cluster_levels: tuple = (4, 8, 16, 32)
    tolerances: tuple = (0.5, 1.0, 2.0, 4.0)
    cluster: bool = True  # also try each pruned candidate with sparsity-preserving clustering
    # Uniform sparsities tried as well (every layer alike, like tfmot's tutorials), each also with clustering.
    uniform_sparsities: tuple = (0.7, 0.8, 0.9)
    uniform_clusters: int = 16
    students: tuple = ()
    student_sparsities: tuple = (0.0, 0.5, 0.75)
    prune: PruneConfig = dataclasses.field(default_factory=lambda: PruneConfig(epochs=6, learning_rate=5e-4))
    cluster_config: ClusterConfig = dataclasses.field(
        default_factory=lambda: ClusterConfig(epochs=2, learning_rate=1e-4))
    distill: DistillConfig = dataclasses.field(default_factory=lambda: DistillConfig(epochs=30, alpha=0.1))
    mode: str = "int8"
    # Clustered candidates are converted with one int8 scale per Dense tensor, so their k shared values stay k bytes
    # that gzip packs (see tflite_export.convert); set it to "int8" to keep per-channel scales.
    cluster_mode: str = "int8_per_tensor"
    # Modes the sampler may also pick for any candidate, e.g. "int4_unrolled" (ai-edge-quantizer's int4 weights).
    extra_modes: tuple = ()
    seed: int = 0  # seeds the sampler and each trial's training (seed + its trial number)
    study: StudyConfig = dataclasses.field(default_factory=StudyConfig)

    def __post_init__(self):
        if not self.budget_points >= 0:
            raise UserError(f"accuracy budget {self.budget_points} must be >= 0 points")
        if any(not 0.0 < s < 1.0 for s in self.sparsity_levels + tuple(self.student_sparsities) if s):
            raise UserError(f"sparsity levels must be in [0, 1): {self.sparsity_levels}, {self.student_sparsities}")
        if any(k < 2 for k in self.cluster_levels):
            raise UserError(f"cluster counts must be at least 2: {self.cluster_levels}")
        unknown = [m for m in (self.mode, self.cluster_mode) + tuple(self.extra_modes) if m not in MODES]
        if unknown:
            raise UserError(f"search modes {unknown}: use TFLite modes from {MODES}")


@dataclasses.dataclass
class SearchTask:
    """The task as the search sees it: the float model, how steps train (``context``), the held-out validation
    inputs and ``correct(outputs) → bool array`` (per image, or per masked position), and calibration inputs."""
    model: object
    context: object
    val_inputs: np.ndarray
    correct: Callable
    calibration: np.ndarray
    data: object = None  # a ClassifierSearchData that worker processes can load; None: in-process only

    def score(self, outputs):
        """Accuracy: the fraction of ``correct``."""
        return float(np.mean(self.correct(outputs)))


@dataclasses.dataclass
class SearchResult:
    """The chosen recipe and model, every candidate's row, the sensitivity table and the baseline it was judged by."""
    chosen: Recipe  # None when no candidate met the budget
    model: object
    candidates: list
    sensitivity: list
    baseline_accuracy: float
    seconds: float
    failed: list = dataclasses.field(default_factory=list)  # candidates that could not be trained or converted
    study: dict = dataclasses.field(default_factory=dict)  # where the study is, its trials, trials per hour


def prunable_layers(model):
    """Names of the layers whose matrices (kernels, embeddings, recurrent kernels) the search may prune and cluster:
    those the pruning step can mask.  MobileNetV2's DepthwiseConv2D layers are left out (tfmot prunes and clusters
    no weight of theirs); naming one in a candidate failed that candidate."""
    return [layer.name for layer in model.layers if maskable_weights(layer) and can_mask(layer)]


def one_shot(model, layer_name, transform):
    """A copy of ``model`` with ``transform(array) → array`` applied to the matrices of one layer, no training."""
    clone = copy_model(model)
    for weight in maskable_weights(clone.get_layer(layer_name)):
        weight.assign(transform(weight.numpy()))
    return clone


def zero_smallest(fraction):
    """``array → array`` with the ``fraction`` smallest |values| set to 0 (magnitude pruning, one shot)."""
    def transform(values):
        threshold = np.quantile(np.abs(values), fraction)
        return np.where(np.abs(values) <= threshold, 0.0, values).astype(values.dtype)
    return transform


def nearest_centroids(clusters):
    """``array → array`` with every value replaced by the nearest of ``clusters`` 1-D k-means centroids."""
    from sklearn.cluster import KMeans

    def transform(values):
        flat = values.reshape(-1, 1)
        kmeans = KMeans(n_clusters=min(clusters, len(np.unique(flat))), n_init=1, random_state=0).fit(flat)
        return kmeans.cluster_centers_[kmeans.labels_].reshape(values.shape).astype(values.dtype)
    return transform


def keras_accuracy(model, task):
    """Validation accuracy of a Keras model."""
    return task.score(model.predict(task.val_inputs, batch_size=256, verbose=0))


def layer_sensitivity(task, config, baseline):
    """Rows of (layer, technique, level, accuracy, drop_points): each layer alone, one shot, at every level."""
    rows = []
    for name in prunable_layers(task.model):
        params = sum(int(np.prod(w.shape)) for w in maskable_weights(task.model.get_layer(name)))
        trials = [("prune", s, zero_smallest(s)) for s in config.sparsity_levels]
        trials += [("cluster", k, nearest_centroids(k)) for k in config.cluster_levels] if config.cluster else []
        for technique, level, transform in trials:
            accuracy = keras_accuracy(one_shot(task.model, name, transform), task)
            rows.append({"layer": name, "params": params, "technique": technique, "level": level,
                         "accuracy": accuracy, "drop_points": round(100 * (baseline - accuracy), 2)})
            logging.info("sensitivity %-16s %-7s %-5g drop %+.2f points", name, technique, level,
                         rows[-1]["drop_points"])
    return rows


def paired_drop(base_correct, correct):
    """(accuracy drop, its paired standard error), both in points: (b - c) / n and sqrt(b + c) / n, where b counts
    what only the base got right and c what only the candidate got right."""
    only_base = int(np.sum(base_correct & ~correct))
    only_candidate = int(np.sum(~base_correct & correct))
    n = len(correct)
    return 100 * (only_base - only_candidate) / n, float(100 * np.sqrt(only_base + only_candidate) / n)


def measure(recipe, task, base_correct, config):
    """Trains ``recipe`` on the task, converts it and runs the artifact on the validation split: a candidate row."""
    start = time.perf_counter()
    model = apply_recipe(task.model, recipe, task.context)
    artifact = to_tflite(model, recipe.mode, representative_data=task.calibration)
    correct = np.asarray(task.correct(TFLiteModel(model_content=artifact).predict(task.val_inputs)), bool)
    drop, error = paired_drop(base_correct, correct)
    return model, {"name": recipe.name, "recipe": recipe.describe(), "recipe_config": recipe.to_dict(),
                   "gzip_bytes": gzip_bytes(artifact), "size_bytes": len(artifact), "params": count_params(model),
                   "sparsity": round(sparsity(model), 4), "accuracy": float(correct.mean()),
                   "drop_points": round(drop, 2), "drop_se_points": round(error, 2),
                   "within_budget": bool(drop + config.margin_se * error <= config.budget_points),
                   "constraint": round(drop + config.margin_se * error - config.budget_points, 4),
                   "seconds": round(time.perf_counter() - start, 1)}


def float_correct(task):
    """Per validation example, whether the float32 TFLite model gets it right: what every candidate is paired with."""
    outputs = TFLiteModel(model_content=to_tflite(task.model, "float32")).predict(task.val_inputs)
    return np.asarray(task.correct(outputs), bool)


def open_search(task, config):
    """(study, objective): the search's study, made (sensitivity table, space, enqueued candidates) or resumed, and
    the objective that runs its trials in this process."""
    base_correct = float_correct(task)
    baseline = float(base_correct.mean())
    space = space_from_config(config, prunable_layers(task.model))
    # Through JSON, as the storage keeps it (tuples become lists), so a resumed study compares equal.
    contract = json.loads(json.dumps({"model": model_fingerprint(task.model), "budget_points": config.budget_points,
                                      "margin_se": config.margin_se, "space": space}))
    study, made = open_study(config.study, contract, seed=config.seed)
    if made:
        sensitivity = layer_sensitivity(task, config, baseline)
        seal(study, contract, sensitivity, heuristic_trials(sensitivity, config, contract["space"]), baseline,
             config.seed)
    study.set_user_attr("total_trials", study.user_attrs["heuristics"] + config.study.trials)
    return study, Objective(task, contract["space"], base_correct, partial(measure, config=config),
                            artifact_store(config.study))


def search(task, config):
    """Runs sensitivity, candidates and choice (module docstring) as an Optuna study (``study.py``).

    The chosen model is None when no candidate met the budget (the report then keeps the float model and says so);
    UserError when every candidate failed."""
    start = time.perf_counter()
    config = dataclasses.replace(config, study=config.study.with_folder())
    study, objective = open_search(task, config)
    before = len(finished_trials(study))
    if config.study.workers > 1:
        run_worker_processes(config.study, task)
    # In-process: the only worker, or the one that finishes what dead workers left.
    run_trials(study, objective, study.user_attrs["total_trials"], config.study.poll_seconds)
    rows, failed = collect(study)
    if not rows:
        reasons = "; ".join(f"{f['name']}: {f['reason']}" for f in failed[:3])
        raise UserError(f"every one of the {len(failed)} search candidates failed to train or convert ({reasons}"
                        f"{'; ...' if len(failed) > 3 else ''}): check the model and data, or the search settings")
    ok = [row for row in rows if row["within_budget"]]
    chosen = model = None
    if ok:
        best = min(ok, key=lambda row: (row["gzip_bytes"], -row["accuracy"]))
        best["chosen"] = True
        trial = study.trials[best["trial"]]
        chosen = recipe_for(FixedTrial(trial.params), objective.space, name=best["name"])
        model = load_trial_model(config.study, trial)
    else:
        logging.warning("no candidate stayed within %s points (+ %g standard errors) of the float model's validation "
                        "accuracy (best: %.4f)", config.budget_points, config.margin_se,
                        max(r["accuracy"] for r in rows))
    study.set_user_attr("finished", best["name"] if ok else "no candidate")
    seconds = round(time.perf_counter() - start, 1)
    return SearchResult(chosen=chosen, model=model, candidates=rows, sensitivity=study.user_attrs["sensitivity"],
                        baseline_accuracy=study.user_attrs["baseline_accuracy"], seconds=seconds, failed=failed,
                        study=study_summary(study, config.study, before, seconds))


def collect(study):
    """(candidate rows, failed candidates) of the study's finished trials; rows on the feasible Pareto front are
    marked ``pareto``.  A duplicate recipe's trial reuses its twin's row and is left out."""
    front = {t.number for t in study.best_trials}
    rows, failed = [], []
    for trial in finished_trials(study):
        if trial.state == TrialState.FAIL:
            failed.append({"name": trial.user_attrs.get("name", f"trial-{trial.number}"), "trial": trial.number,
                           "recipe": trial.user_attrs.get("recipe", ""), "reason": trial.user_attrs["fail_reason"]})
        elif "twin_of" not in trial.user_attrs["row"]:
            rows.append(dict(trial.user_attrs["row"], pareto=trial.number in front))
    return rows, failed
