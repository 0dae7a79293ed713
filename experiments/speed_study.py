"""Is int8 faster than float32 here, and if not, which layer and kernel make it slower?

    python -m experiments.speed_study --output_dir=runs/speed [--model_path=clf.keras] [--runs=2000]
"""
import sys

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", "runs/speed", "Folder for speed_study.json and speed_study.md.")
flags.DEFINE_list("models", ["probe", "probe_softmax", "pipeline_classifier"], "Built-in models to study.")
flags.DEFINE_string("model_path", None, "Also study this .keras image classifier.")
flags.DEFINE_integer("runs", 2000, "Timed batch-1 invocations per artifact.", lower_bound=10)


def main(argv):
    """Runs the speed study from the flags and prints its markdown."""
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}: all options are --flags (see --helpfull)")
    from keras_ssl.benchmark.speed_study import SpeedStudyConfig, run_speed_study
    from keras_ssl.errors import UserError

    try:
        _, markdown = run_speed_study(SpeedStudyConfig(output_dir=FLAGS.output_dir, models=tuple(FLAGS.models),
                                                       model_path=FLAGS.model_path, runs=FLAGS.runs))
    except UserError as e:
        sys.exit(f"error: {e}")
    print(markdown)


if __name__ == "__main__":
    app.run(main)
