"""Which ops make the transformer's int8 slower than float32 (int8_ablation.py).

    python -m studies.transformer_compress.main --output_dir=runs/transformer_int8 [--model_path=mlm.keras]
"""
from absl import flags

from keras_ssl.cli.run import start

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", "runs/transformer_int8", "Folder for int8_ablation.json and int8_ablation.md.")
flags.DEFINE_string("model_path", None, "A .keras transformer MLM; default: the demo-size one, untrained.")
flags.DEFINE_integer("runs", 300, "Timed batch-1 invocations per artifact.", lower_bound=10)


def ablation_from_flags(args):
    """Runs the ablation from the flags and returns its markdown."""
    from studies.transformer_compress.int8_ablation import AblationConfig, run_ablation

    return run_ablation(AblationConfig(output_dir=FLAGS.output_dir, model_path=FLAGS.model_path, runs=FLAGS.runs))[1]


if __name__ == "__main__":
    start(__name__, ablation_from_flags)
