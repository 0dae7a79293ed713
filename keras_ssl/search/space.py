"""The search space as Optuna parameters, and the hand-made candidates enqueued first.

A trial's parameters name one recipe (``recipe_for``):

- ``family = per_layer``: ``sparsity <layer>`` for each prunable layer (0 = spared) and, with clustering,
  ``clusters <layer>`` (0 = not clustered); the sensitivity table sets the enqueued values;
- ``family = uniform``: ``uniform_sparsity`` for every layer alike (tfmot's tutorials), ``uniform_clusters``;
- ``family = student``: a distilled ``student`` pruned to ``student_sparsity``, either ``after`` distillation or
  ``during`` it (pruning a distilled student afterwards cost 8-62 points: docs/compression.md);
- ``mode``: the int8 TFLite mode (per-channel ``int8``, or ``int8_per_tensor``, whose clustered values gzip packs),
  or one of the config's ``extra_modes`` (e.g. ``int4_unrolled``).

The space is plain JSON (``space_from_config``), stored in the study, so a worker on another host rebuilds the same
recipes from the study alone.  ``heuristic_trials`` are today's candidates (per-layer tolerances, uniform sparsities,
students), enqueued before the sampler's own trials: on at least as many trials, the study never does worse on
validation than the hand-written grid did.
"""
import dataclasses

from optuna.trial import FixedTrial

from keras_ssl.compress.recipes import DistillStepConfig, Recipe, recipe_from_dict


def space_from_config(config, layers):
    """The JSON search space of SearchConfig ``config`` over ``layers`` (the model's prunable layer names)."""
    base = Recipe("space", (("prune", config.prune), ("cluster", config.cluster_config),
                            ("distill", DistillStepConfig(distill=config.distill))))
    return {"layers": list(layers), "sparsity_levels": [0.0] + sorted(config.sparsity_levels),
            "cluster_levels": ([0] + sorted(set(config.cluster_levels) | {config.uniform_clusters}))
            if config.cluster else [0],
            "uniform_sparsities": sorted(config.uniform_sparsities), "students": [dict(s) for s in config.students],
            "student_sparsities": sorted(config.student_sparsities),
            "modes": list(dict.fromkeys((config.mode, config.cluster_mode) + tuple(config.extra_modes))),
            "base": base.to_dict()}


def recipe_for(trial, space, name=None):
    """The Recipe that ``trial``'s parameters (suggested now, or fixed) name in ``space``."""
    base = dict(recipe_from_dict(space["base"]).steps)
    families = ["per_layer"] + (["uniform"] if space["uniform_sparsities"] else []) + (
        ["student"] if space["students"] else [])
    family = trial.suggest_categorical("family", families)
    steps = []
    if family == "per_layer":
        sparsity = {layer: trial.suggest_categorical(f"sparsity {layer}", space["sparsity_levels"])
                    for layer in space["layers"]}
        clusters = {layer: trial.suggest_categorical(f"clusters {layer}", space["cluster_levels"])
                    for layer in space["layers"]}
        if any(sparsity.values()):
            steps.append(("prune", dataclasses.replace(base["prune"], per_layer=sparsity,
                                                       target_sparsity=max(sparsity.values()))))
        if any(clusters.values()):
            steps.append(("cluster", dataclasses.replace(base["cluster"], per_layer=clusters,
                                                         number_of_clusters=max(clusters.values()),
                                                         preserve_sparsity=any(sparsity.values()))))
    elif family == "uniform":
        level = trial.suggest_categorical("uniform_sparsity", space["uniform_sparsities"])
        clusters = trial.suggest_categorical("uniform_clusters", space["cluster_levels"])
        steps.append(("prune", dataclasses.replace(base["prune"], target_sparsity=level, per_layer={})))
        if clusters:
            steps.append(("cluster", dataclasses.replace(base["cluster"], number_of_clusters=clusters, per_layer={},
                                                         preserve_sparsity=True)))
    else:
        index = trial.suggest_categorical("student", list(range(len(space["students"]))))
        level = trial.suggest_categorical("student_sparsity", space["student_sparsities"])
        when = trial.suggest_categorical("student_prune", ["after", "during"]) if level else "after"
        distill = DistillStepConfig(student=dict(space["students"][index]), distill=base["distill"].distill,
                                    prune_sparsity=level if when == "during" else 0.0)
        steps.append(("distill", distill))
        if level and when == "after":
            steps.append(("prune", dataclasses.replace(base["prune"], target_sparsity=level, per_layer={})))
    mode = trial.suggest_categorical("mode", space["modes"])
    return Recipe(name or f"trial-{trial.number}", tuple(steps), mode)


def recipe_key(recipe):
    """Equal for recipes that train and convert alike, whatever their names."""
    data = recipe.to_dict()
    return repr((data["steps"], data["mode"]))


def heuristic_trials(sensitivity, config, space):
    """[(name, params)] of the hand-made candidates (module docstring), without duplicates."""
    layers = space["layers"]
    cluster_mode = config.cluster_mode if config.cluster else config.mode
    per_layer = {"family": "per_layer", **{f"clusters {layer}": 0 for layer in layers}, "mode": config.mode}
    trials = []
    for tolerance in config.tolerances:
        sparsity = {layer: _within(sensitivity, layer, "prune", tolerance, max, 0.0) for layer in layers}
        if not any(sparsity.values()):
            continue
        pruned = dict(per_layer, **{f"sparsity {layer}": level for layer, level in sparsity.items()})
        trials.append((f"auto-prune-t{tolerance:g}", pruned))
        clusters = {layer: _within(sensitivity, layer, "cluster", tolerance, min, 0) for layer in layers}
        if config.cluster and any(clusters.values()):
            trials.append((f"auto-prune-cluster-t{tolerance:g}",
                           dict(pruned, mode=cluster_mode, **{f"clusters {k}": v for k, v in clusters.items()})))
    for level in config.uniform_sparsities:
        trials.append((f"auto-uniform-s{level:g}",
                       {"family": "uniform", "uniform_sparsity": level, "uniform_clusters": 0, "mode": config.mode}))
        if config.cluster:
            trials.append((f"auto-uniform-cluster-s{level:g}",
                           {"family": "uniform", "uniform_sparsity": level,
                            "uniform_clusters": config.uniform_clusters, "mode": cluster_mode}))
    for index in range(len(config.students)):
        for level in config.student_sparsities:
            params = {"family": "student", "student": index, "student_sparsity": level, "mode": config.mode}
            trials.append((f"auto-student{index}-s{level:g}", dict(params, student_prune="after") if level else params))
    unique = {}
    for name, params in trials:
        unique.setdefault(recipe_key(recipe_for(FixedTrial(params), space)), (name, params))
    return list(unique.values())


def _within(sensitivity, layer, technique, tolerance, choose, none):
    """The level ``choose`` (max sparsity / min clusters) of ``layer`` among those whose one-shot drop was ≤
    ``tolerance`` points; ``none`` when no level was."""
    ok = [row["level"] for row in sensitivity
          if row["layer"] == layer and row["technique"] == technique and row["drop_points"] <= tolerance]
    return choose(ok) if ok else none
