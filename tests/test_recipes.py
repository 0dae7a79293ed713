"""Recipes compose techniques and round-trip through JSON; the search picks the smallest artifact within budget."""
import dataclasses
import json

import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.compress.cluster import ClusterConfig
from keras_ssl.compress.distill import DistillConfig
from keras_ssl.compress.prune import PruneConfig
from keras_ssl.compress.quantize import QATConfig
from keras_ssl.compress.recipes import (DistillStepConfig, FinetuneConfig, Recipe, RecipeContext, apply_recipe,
                                        recipe_from_dict)
from keras_ssl.models.students import build_student_classifier, student_config_for
from keras_ssl.search.accuracy_aware import SearchConfig, SearchTask, search
from keras_ssl.search.study import StudyConfig
from keras_ssl.training.fit import classification_dataset, compile_for_logits


@pytest.fixture(scope="module")
def context(digits8, tiny_classifier_config):
    return RecipeContext(dataset=classification_dataset(digits8.x_train, digits8.y_train, 128),
                         compile=compile_for_logits, build_student=lambda **kwargs: build_student_classifier(
                             student_config_for(tiny_classifier_config, **kwargs)))


def test_recipes_round_trip_through_json():
    recipe = Recipe("mixed", (("prune", PruneConfig(per_layer={"logits": 0.9}, epochs=2)),
                              ("cluster", ClusterConfig(number_of_clusters=8, preserve_sparsity=True)),
                              ("finetune", FinetuneConfig(epochs=1)),
                              ("distill", DistillStepConfig(student={"widths": [4]})),
                              ("pqat", QATConfig(epochs=1, layers=("Dense",)))))
    again = recipe_from_dict(json.loads(json.dumps(recipe.to_dict())))
    assert again == recipe and again.steps[-1][1].layers == ("Dense",)
    assert recipe.describe() == "prune(0.75,1layers)+cluster(8)+finetune+distill(widths=[4])+pqat+int8"


@pytest.mark.parametrize("build,message", [
    (lambda: Recipe("x", (("sharpen", PruneConfig()),)), "unknown kind 'sharpen'"),
    (lambda: Recipe("x", (("prune", ClusterConfig()),)), "needs a PruneConfig"),
    (lambda: Recipe("x", (("qat", QATConfig()), ("prune", PruneConfig()))), "qat must be the last step"),
    (lambda: Recipe("x", (), mode="int3"), "unknown export mode"),
    (lambda: SearchConfig(cluster_mode="int3"), "search modes"),
    (lambda: recipe_from_dict({"name": "x", "steps": [{"kind": "prune", "config": {"sparsity": 2}}]}),
     "PruneConfig has no field 'sparsity'"),
    (lambda: recipe_from_dict({"steps": []}), "recipe is malformed"),
    (lambda: recipe_from_dict({"name": "x", "steps": [{"kind": "prune", "config": {"target_sparsity": 1.5}}]}),
     "sparsity must satisfy"),
])
def test_bad_recipes_are_refused_with_one_line(build, message):
    with pytest.raises(UserError, match=message):
        build()


def test_a_recipe_chains_pruning_clustering_and_masked_finetuning(trained_classifier, context, digits8):
    recipe = Recipe("chain", (("prune", PruneConfig(target_sparsity=0.6, per_layer={"encoder_conv0": 0.0},
                                                    epochs=2, learning_rate=1e-3)),
                              ("cluster", ClusterConfig(number_of_clusters=8, preserve_sparsity=True, epochs=1)),
                              ("finetune", FinetuneConfig(epochs=2, learning_rate=1e-3))))
    model = apply_recipe(trained_classifier, recipe, context)
    kernel = model.get_layer("encoder_conv1").kernel.numpy()
    assert np.mean(kernel == 0) >= 0.59, "pruning survived clustering and fine-tuning"
    assert np.mean(model.get_layer("encoder_conv0").kernel.numpy() == 0) < 0.05, "per-layer 0.0: left dense"
    assert len(np.unique(model.get_layer("logits").kernel.numpy())) > 8, "fine-tuning moves the cluster values"
    accuracy = np.mean(np.argmax(model.predict(digits8.x_test, verbose=0), -1) == digits8.y_test)
    assert accuracy > 0.8, accuracy


def test_search_chooses_the_smallest_artifact_within_budget(trained_classifier, context, digits8):
    x_val, y_val = digits8.x_test[:150], digits8.y_test[:150]
    task = SearchTask(model=trained_classifier, context=context, val_inputs=x_val, calibration=digits8.x_train[:50],
                      correct=lambda out: np.argmax(out, -1) == y_val)
    config = SearchConfig(budget_points=3.0, sparsity_levels=(0.5, 0.9), cluster_levels=(8,), tolerances=(1.0, 50.0),
                          students=({"widths": (4,)},), student_sparsities=(0.0,), uniform_sparsities=(0.8,),
                          prune=PruneConfig(epochs=2, learning_rate=1e-3),
                          distill=DistillConfig(epochs=3), study=StudyConfig(trials=0))
    result = search(task, config)
    layers = {row["layer"] for row in result.sensitivity}
    assert layers == {"encoder_conv0", "encoder_conv1", "logits"}
    assert len(result.sensitivity) == 3 * 3, "each layer at 2 sparsities and 1 cluster count"
    assert all(row["drop_points"] >= -5 for row in result.sensitivity)
    names = [row["name"] for row in result.candidates]
    assert "auto-student0-s0" in names and any(name.startswith("auto-prune-cluster") for name in names)
    tried = set(names) | {row["name"] for row in result.failed}  # a kernel too small to cluster may fail, by name
    assert {"auto-uniform-s0.8", "auto-uniform-cluster-s0.8"} <= tried
    assert all(row["reason"] for row in result.failed)
    modes = {row["name"]: row["recipe_config"]["mode"] for row in result.candidates}
    assert all(mode == ("int8_per_tensor" if "cluster" in name else "int8") for name, mode in modes.items()), modes
    ok = [row for row in result.candidates if row["drop_points"] + row["drop_se_points"] <= 3.0]
    chosen = next(row for row in result.candidates if row.get("chosen"))
    assert chosen["gzip_bytes"] == min(row["gzip_bytes"] for row in ok) and chosen["within_budget"]
    assert result.chosen.name == chosen["name"] and recipe_from_dict(chosen["recipe_config"]) == result.chosen
    json.dumps(result.candidates)  # the report stores them as they are
    assert result.study["finished_trials"] == len(names) + len(result.failed) == result.study["enqueued"]
    assert any(row["pareto"] for row in result.candidates)
    none = search(task, SearchConfig(budget_points=0.0, sparsity_levels=(0.99,), cluster_levels=(2,),
                                     tolerances=(100.0,), cluster=False, uniform_sparsities=(),
                                     prune=PruneConfig(epochs=1), study=StudyConfig(trials=0)))
    assert none.chosen is None and none.model is None and none.candidates, "no choice: the float model stays"


def test_search_says_why_when_every_candidate_fails(trained_classifier, context, digits8):
    def broken_compile(model, learning_rate):
        raise ValueError("compile refused on purpose")

    task = SearchTask(model=trained_classifier, context=dataclasses.replace(context, compile=broken_compile),
                      val_inputs=digits8.x_test[:60], calibration=digits8.x_train[:20],
                      correct=lambda out: np.argmax(out, -1) == digits8.y_test[:60])
    config = SearchConfig(sparsity_levels=(0.5,), cluster_levels=(8,), tolerances=(1.0,), cluster=False,
                          uniform_sparsities=(0.5,), prune=PruneConfig(epochs=1), study=StudyConfig(trials=0))
    with pytest.raises(UserError, match=r"every one of the 2 search candidates failed .*compile refused on purpose"):
        search(task, config)


def test_search_job_refuses_bad_models(tmp_path):
    from keras_ssl.jobs.search_job import SearchJob, run_search_job

    with pytest.raises(UserError, match="model not found"):
        SearchJob(output_dir=str(tmp_path / "out"), model_path=str(tmp_path / "missing.keras"))
    with pytest.raises(UserError, match="unknown built-in model"):
        SearchJob(output_dir=str(tmp_path / "out"), builtin="resnet")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a model")
    with pytest.raises(UserError, match="cannot load"):
        run_search_job(SearchJob(output_dir=str(tmp_path / "out"), model_path=str(bad)))
    assert not (tmp_path / "out").exists(), "nothing written"
