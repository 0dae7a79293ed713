"""How small can the Fashion-MNIST classifier get within a point, given longer recovery than the search's?

    python -m studies.fmnist_recovery.main --model_path=runs/fashion_mnist/artifacts/keras_float32.keras \
        --recipe=studies/fmnist_recovery/recipes/prune95_cluster4.json
"""
import json

from absl import flags

from keras_ssl.cli.run import start

FLAGS = flags.FLAGS
flags.DEFINE_string("model_path", None, "The benchmark's float classifier (artifacts/keras_float32.keras).")
flags.DEFINE_string("recipe", None, "A recipe JSON file (the format of chosen_recipe.json).")
flags.DEFINE_integer("seed", 0, "Seed of the data split and of the recipe's training.")
flags.mark_flags_as_required(["model_path", "recipe"])


def study_from_flags(args):
    """Runs the recipe and returns its result as one JSON line."""
    from keras_ssl.compress.recipes import load_recipe
    from studies.fmnist_recovery.recover import recover

    return json.dumps(recover(FLAGS.model_path, load_recipe(FLAGS.recipe), FLAGS.seed))


if __name__ == "__main__":
    start(__name__, study_from_flags)
