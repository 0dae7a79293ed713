"""Is int8 faster than float32 here, and if not, which layer and kernel make it slower?

    python -m studies.int8_speed.main --output_dir=runs/speed [--model_path=clf.keras] [--runs=2000]
"""
from absl import flags

from keras_ssl.cli.run import start

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", "runs/speed", "Folder for speed_study.json and speed_study.md.")
flags.DEFINE_list("models", ["probe", "probe_softmax", "pipeline_classifier"], "Built-in models to study.")
flags.DEFINE_string("model_path", None, "Also study this .keras image classifier.")
flags.DEFINE_integer("runs", 2000, "Timed batch-1 invocations per artifact.", lower_bound=10)


def study_from_flags(args):
    """Runs the study from the flags and returns its markdown."""
    from studies.int8_speed.speed_study import SpeedStudyConfig, run_speed_study

    return run_speed_study(SpeedStudyConfig(output_dir=FLAGS.output_dir, models=tuple(FLAGS.models),
                                            model_path=FLAGS.model_path, runs=FLAGS.runs))[1]


if __name__ == "__main__":
    start(__name__, study_from_flags)
