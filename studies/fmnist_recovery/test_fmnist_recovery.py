"""The study's recipes load as the library reads them (running them needs Fashion-MNIST and a trained model)."""
import pathlib

import pytest

from keras_ssl.compress.recipes import load_recipe

RECIPES = sorted((pathlib.Path(__file__).parent / "recipes").glob("*.json"))


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_loads_with_the_layers_of_the_benchmark_classifier(path):
    recipe = load_recipe(str(path))
    assert recipe.name == path.stem and recipe.mode in ("int8", "int8_per_tensor")
    for kind, config in recipe.steps:
        if kind in ("prune", "cluster"):
            assert set(config.per_layer) == {"encoder_conv0", "encoder_conv1", "logits"}, path.name
        else:
            assert kind == "distill" and config.prune_sparsity > 0, path.name
