"""The accuracy-aware compression search on your own image classifier (or a built-in one), outside the pipeline.

    python -m experiments.search --model_path=my_classifier.keras --output_dir=runs/search [--budget_points=1]
    python -m experiments.search --builtin=probe --output_dir=runs/search-probe

Flags only build the job; the work happens in ``keras_ssl.jobs.search_job``.
"""
import dataclasses

from absl import flags

from keras_ssl.cli import study_flags
from keras_ssl.cli.run import start

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(study_flags)  # --study_storage, --workers, --search_trials, ...
flags.DEFINE_string("output_dir", None, "Folder for search_report.{json,md}, search.json, chosen_recipe.json, PNG.")
flags.DEFINE_string("model_path", None, "A trained .keras image classifier with a logits output (square input).")
flags.DEFINE_enum("builtin", "probe", ["probe", "classifier"], "Built-in model trained here when no --model_path: "
                  "probe = the 37.5k-param 8x8 probe CNN (keras_ssl/models/probe.py), classifier = the pipeline's "
                  "16x16 classifier.")
flags.DEFINE_string("data_path", None, "Local MNIST file in the Keras mnist.npz format (default: embedded digits).")
flags.DEFINE_float("budget_points", 1.0, "Allowed accuracy drop vs the float model, in points.", lower_bound=0.0)
flags.DEFINE_integer("seed", 0, "Seed for the validation split, training and the search.")
flags.DEFINE_bool("overwrite", False, "Start a finished search study (or one made for another model or budget) over; "
                  "an unfinished one is resumed without it.")
flags.mark_flag_as_required("output_dir")


def search_from_flags(args):
    """Builds the job from the flags, runs it and returns its markdown."""
    from keras_ssl.jobs.search_job import SearchJob, run_search_job

    job = SearchJob(output_dir=FLAGS.output_dir, model_path=FLAGS.model_path or "", builtin=FLAGS.builtin,
                    data_path=FLAGS.data_path or "", seed=FLAGS.seed)
    study = study_flags.study_config(job.search.study, FLAGS.output_dir, FLAGS.overwrite)
    job = dataclasses.replace(job, search=dataclasses.replace(job.search, budget_points=FLAGS.budget_points,
                                                              seed=FLAGS.seed, study=study))
    return run_search_job(job)[1]


def run():
    """Entry point: ``keras-ssl-search`` and ``python -m experiments.search``."""
    start(__name__, search_from_flags)
