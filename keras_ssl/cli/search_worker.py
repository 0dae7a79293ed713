"""A search worker: joins the study a search command made and runs its trials until the study has them all.

    python -m experiments.search_worker --study_folder=runs/search.study
    python -m experiments.search_worker --study_storage=postgresql://user@db/optuna --study_folder=/shared/s.study

The search command (``experiments.search``, or ``experiments.pipeline --recipe=auto``) makes the study and saves
the task into ``--study_folder``; start workers on any host that sees that folder and the storage.  Exit 0 once
the study has its trials; a killed worker's trial runs again on another one.
"""
from absl import flags

from keras_ssl.cli import study_flags
from keras_ssl.cli.run import fail, start

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(study_flags)
flags.DEFINE_integer("worker_index", 0, "This worker's index: its sampler's seed offset.", lower_bound=0)


def worker_from_flags(args):
    """Runs this worker's trials; returns one line saying how many ran here."""
    from keras_ssl.search.study import StudyConfig
    from keras_ssl.search.worker import run_worker

    if not FLAGS.study_folder:
        fail("--study_folder is required: the folder the search command printed (default <output_dir>.study)")
    config = study_flags.study_config(StudyConfig(), "")
    return f"worker {FLAGS.worker_index}: ran {run_worker(config, FLAGS.worker_index)} trials"


def run():
    """Entry point: ``keras-ssl-search-worker`` and ``python -m experiments.search_worker``."""
    start(__name__, worker_from_flags)


if __name__ == "__main__":  # the search's own worker processes start here: it works from a checkout and a wheel
    run()
