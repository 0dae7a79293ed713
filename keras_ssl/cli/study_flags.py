"""The search study's flags, shared by the search, the pipeline (``--recipe=auto``) and the search worker."""
import dataclasses

from absl import flags

FLAGS = flags.FLAGS
STUDY_FLAGS = ("study_storage", "study_folder", "study_name", "search_trials", "workers", "heartbeat_seconds",
               "grace_seconds")
flags.DEFINE_string("study_storage", "", "Optuna storage of the search study: a journal file path (processes on one "
                    "host) or an RDB URL such as postgresql://user@host/db (several hosts). Default: a journal file "
                    "in --study_folder.")
flags.DEFINE_string("study_folder", "", "Folder of the default journal, the trial models and the task workers load "
                    "(shared by every host with an RDB storage). Default: <output_dir>.study beside the output.")
flags.DEFINE_string("study_name", "search", "Name of the study in its storage.")
flags.DEFINE_integer("search_trials", 4, "Trials the Optuna sampler proposes after the enqueued hand-made candidates.",
                     lower_bound=0)
flags.DEFINE_integer("workers", 1, "Local worker processes pulling search trials (image classifiers); on other hosts "
                     "run python -m experiments.search_worker with the same study flags.", lower_bound=1,
                     upper_bound=64)
flags.DEFINE_integer("heartbeat_seconds", 10, "A worker stamps its running trial this often; see --grace_seconds.",
                     lower_bound=1)
flags.DEFINE_integer("grace_seconds", 40, "A running trial not stamped for this long is failed and run again (its "
                     "worker died).", lower_bound=2)


def study_config(study, output_dir, overwrite=False, resume=True):
    """``study`` (a StudyConfig) with the flags applied; its folder defaults to ``<output_dir>.study``."""
    from keras_ssl.search.storage import check_url
    from keras_ssl.search.study import default_folder

    if FLAGS.study_storage:
        check_url(FLAGS.study_storage)  # before anything trains
    folder = FLAGS.study_folder or (default_folder(output_dir) if output_dir else "")
    return dataclasses.replace(study, folder=folder, storage=FLAGS.study_storage, name=FLAGS.study_name,
                               trials=FLAGS.search_trials, workers=FLAGS.workers, overwrite=overwrite, resume=resume,
                               heartbeat_seconds=FLAGS.heartbeat_seconds, grace_seconds=FLAGS.grace_seconds)
