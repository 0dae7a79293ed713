"""The search as an Optuna study: made once, run by 1..N workers pulling trials, resumed after a kill, read back.

One study per search, two objectives (gzip bytes of the int8 artifact, validation accuracy drop in points), the
budget as a constraint (``drop + margin_se * SE - budget <= 0``), so Optuna's feasible Pareto front is the search's.
The process that makes the study computes the sensitivity table, stores the search space and enqueues the
hand-made candidates (``space.py``); workers then loop: fail stale trials (a killed worker's trial is queued again),
stop once the study has its trials, else run one.  Every trial's trained model is saved to Optuna's artifact store,
so the choice never depends on which process trained it, nor on whether that process still lives.

An unfinished study made for the same model, budget and space (its ``contract``) is resumed, its finished trials
kept; a finished one, or one made for another contract, is refused unless ``overwrite`` starts it over.
"""
import atexit
import dataclasses
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time

import numpy as np
import optuna
from absl import logging
from optuna.artifacts import FileSystemArtifactStore, download_artifact, upload_artifact
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf, tf_keras
from keras_ssl.search.space import recipe_for, recipe_key
from keras_ssl.search.storage import StorageConfig, display_url, open_storage, quiet_optuna

DIRECTIONS = ("minimize", "minimize")  # gzip bytes, accuracy drop (points)
CANDIDATE_ERRORS = (UserError, ValueError, RuntimeError, tf.errors.OpError)


class CandidateFailed(Exception):
    """A candidate a technique could not take (e.g. more clusters than a pruned kernel has weights): its trial is
    recorded as failed with the reason, and the search goes on."""


@dataclasses.dataclass
class StudyConfig:
    """Where the study lives and how it runs.

    ``storage``: a journal file path or an RDB URL ("" = ``<folder>/journal.log``); ``folder``: the default
    journal, the trial models and the task the workers load (shared by every host when ``storage`` is an RDB URL);
    ``trials``: trials the sampler proposes after the enqueued candidates; ``workers``: local worker processes.
    """
    folder: str = ""
    storage: str = ""
    name: str = "search"
    trials: int = 4
    workers: int = 1
    overwrite: bool = False  # start a finished study (or one made for another model or budget) over
    resume: bool = True  # False: start even an unfinished study over
    heartbeat_seconds: int = 10
    grace_seconds: int = 40
    poll_seconds: float = 2.0
    timeout_seconds: float = 7 * 24 * 3600.0

    def __post_init__(self):
        if self.trials < 0 or self.workers < 1:
            raise UserError(f"study trials={self.trials} must be >= 0 and workers={self.workers} >= 1")
        if not self.name or "/" in self.name:
            raise UserError(f"study name {self.name!r} must be non-empty without '/'")

    @property
    def url(self):
        """The storage: ``storage``, or the journal file in ``folder``."""
        return self.storage or os.path.join(self.folder, "journal.log")

    def with_folder(self):
        """This config, or with a scratch folder (deleted at exit) when it names neither folder nor storage: a library
        call with no study settings gets a throwaway journal (nothing to resume, nothing left on disk)."""
        if self.folder or self.storage:
            return self
        scratch = tempfile.mkdtemp(prefix="keras-ssl-study-")
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
        return dataclasses.replace(self, folder=scratch)


def default_folder(output_dir):
    """``<output_dir>.study``, beside the output: it outlives the output's staging folder, and a rerun finds it."""
    return os.path.abspath(output_dir).rstrip(os.sep) + ".study"


def model_fingerprint(model):
    """A short hash of the model's layer names and weights: a study belongs to one trained model."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(weight.name.encode())
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()[:16]


def _sampler(seed):
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)


def study_storage(config):
    """The Optuna storage of ``config``, with its heartbeat settings."""
    quiet_optuna()
    return open_storage(StorageConfig(config.url, config.heartbeat_seconds, config.grace_seconds))


def load_study(config, seed=0, storage=None):
    """The existing study of ``config`` (KeyError when there is none), sampling with ``seed``."""
    return optuna.load_study(study_name=config.name, storage=storage or study_storage(config),
                             sampler=_sampler(seed))


def open_study(config, contract, seed=0):
    """(study, made): the study of ``config``, resumed when it is unfinished and made for ``contract``; else made
    anew, which a finished study or one made for another model, budget or space needs ``overwrite`` for."""
    if config.folder:
        os.makedirs(config.folder, exist_ok=True)
    storage = study_storage(config)  # opened once: loaded, deleted and made in the same storage
    try:
        study = load_study(config, seed, storage)
    except KeyError:
        study = None
    where = f"study {config.name!r} in {display_url(config.url)}"
    if study is not None and "contract" in study.user_attrs:
        refusal = _contract_mismatch(study.user_attrs["contract"], contract, where)
        if refusal is None and "finished" in study.user_attrs:
            refusal = f"{where} is finished (it chose {study.user_attrs['finished']})"
        if refusal is None and config.resume:
            logging.info("resuming %s: %d trials finished", where, len(finished_trials(study)))
            return study, False
        if refusal is not None and not config.overwrite:
            raise UserError(f"{refusal}: pass --overwrite to start it over, or another --study_name / "
                            "--study_storage")
    maker = study.user_attrs.get("maker") if study is not None and "contract" not in study.user_attrs else None
    if maker and _alive_elsewhere(maker) and not config.overwrite:
        raise UserError(f"{where} is being made by {maker} (its sensitivity table and candidates): start this "
                        "command again once that one logs 'trial 1 of N', or pass --overwrite if it died")
    if study is not None:  # started over, or made by a run killed before its contract was stored
        logging.info("starting %s over", where)
        optuna.delete_study(study_name=config.name, storage=storage)
    if config.folder:
        shutil.rmtree(_models_folder(config), ignore_errors=True)
    study = optuna.create_study(study_name=config.name, storage=storage, directions=DIRECTIONS,
                                sampler=_sampler(seed))
    study.set_metric_names(["gzip_bytes", "drop_points"])  # the dashboard's axis names
    study.set_user_attr("maker", f"{socket.gethostname()}:{os.getpid()}")
    logging.info("made %s", where)
    return study, True


def _alive_elsewhere(maker):
    """Whether the process ``maker`` ("host:pid") may still be making its study: always, on another host."""
    host, _, pid = maker.rpartition(":")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return int(pid) != os.getpid()


def _contract_mismatch(stored, contract, where):
    names = {"model": "another model (its weights differ)", "budget_points": "another accuracy budget",
             "margin_se": "another margin", "space": "another search space"}
    for key, what in names.items():
        if stored.get(key) != contract.get(key):
            detail = "" if key in ("model", "space") else f" ({stored.get(key)}, not {contract.get(key)})"
            return f"{where} was made for {what}{detail}"
    return None


def seal(study, contract, sensitivity, heuristics, baseline, seed=0):
    """Stores what every worker needs in a new study, then enqueues the hand-made candidates; the contract last, so
    a study without one (made by a run killed here) is made again."""
    study.set_user_attr("seed", seed)
    study.set_user_attr("sensitivity", sensitivity)
    study.set_user_attr("baseline_accuracy", baseline)
    study.set_user_attr("heuristics", len(heuristics))
    for name, params in heuristics:
        study.enqueue_trial(params, user_attrs={"name": name})
    study.set_user_attr("contract", contract)


def finished_trials(study):
    """Trials that count toward the study's total: completed ones and candidates that failed with a reason (a
    killed worker's trial has none: it is queued again instead)."""
    return [t for t in study.get_trials(deepcopy=False)
            if t.state == TrialState.COMPLETE or (t.state == TrialState.FAIL and "fail_reason" in t.user_attrs)]


def _models_folder(config):
    return os.path.join(config.folder, "models")


@dataclasses.dataclass
class Objective:
    """One trial: its recipe trained on ``task``, converted and run on the validation split (``measure``)."""
    task: object
    space: dict
    base_correct: np.ndarray
    measure: object  # measure(recipe, task, base_correct) → (model, row)
    store: object

    def __call__(self, trial):
        recipe = recipe_for(trial, self.space, name=trial.user_attrs.get("name"))
        key = recipe_key(recipe)
        trial.set_user_attr("name", recipe.name)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        trial.set_user_attr("recipe_key", key)
        trial.set_user_attr("recipe", recipe.describe())
        twin = next((t for t in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                     if t.user_attrs.get("recipe_key") == key), None)
        if twin is not None:  # the sampler proposed a recipe already measured: its numbers, no new training
            row = dict(twin.user_attrs["row"], name=recipe.name, twin_of=twin.number)
            trial.set_user_attr("model_artifact", twin.user_attrs["model_artifact"])
        else:
            logging.info("trial %d: %s = %s", trial.number, recipe.name, recipe.describe())
            # Seeded by the trial (a retried one by its original, which the retry names in a system attribute set
            # when the retry is made: a user attribute may not be written yet when a worker dies), not by what ran
            # before it in this process: a candidate trains alike whichever worker runs it.
            frozen = trial.study.get_trials(deepcopy=False)[trial.number]
            first = RetryHeartbeatStaleTrialCallback.retried_trial_number(frozen)
            first = trial.number if first is None else first
            trial.set_user_attr("seed_trial", first)
            tf_keras.utils.set_random_seed(trial.study.user_attrs.get("seed", 0) + first)
            try:
                model, row = self.measure(recipe, self.task, self.base_correct)
            except CANDIDATE_ERRORS as e:
                reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
                logging.warning("trial %d: candidate %s failed: %s", trial.number, recipe.name, reason)
                trial.set_user_attr("fail_reason", reason)
                raise CandidateFailed(reason) from None
            trial.set_user_attr("model_artifact", _upload_model(self.store, model, trial))
        row["trial"] = trial.number
        trial.set_user_attr("row", row)
        trial.set_constraint("budget", row["constraint"])  # feasible at <= 0: the samplers and best_trials use it
        logging.info("trial %d: %-26s gzip %7d B  val acc %.4f (%+.2f ± %.2f points)  %s", trial.number, row["name"],
                     row["gzip_bytes"], row["accuracy"], -row["drop_points"], row["drop_se_points"],
                     "ok" if row["within_budget"] else "over budget")
        return row["gzip_bytes"], row["drop_points"]


def _upload_model(store, model, trial):
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, f"trial-{trial.number}.keras")
        model.save(path)
        return upload_artifact(artifact_store=store, file_path=path, study_or_trial=trial)


def load_trial_model(config, trial):
    """The Keras model ``trial`` trained, from the artifact store."""
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "model.keras")
        download_artifact(artifact_store=artifact_store(config), file_path=path,
                          artifact_id=trial.user_attrs["model_artifact"])
        return tf_keras.models.load_model(path, compile=False)


def artifact_store(config):
    """Optuna's file-system artifact store of the study's trial models, in ``<folder>/models``."""
    os.makedirs(_models_folder(config), exist_ok=True)
    return FileSystemArtifactStore(base_path=_models_folder(config))


def run_trials(study, objective, total, poll_seconds):
    """Runs trials until the study has ``total`` finished ones; waits while other workers' trials may finish it.

    A trial whose worker died stays RUNNING until its heartbeat goes stale; ``optimize`` then fails it and Optuna's
    retry callback queues it again, so this loop never ends while such a trial may still need running."""
    ran = 0
    while True:
        optuna.storages.fail_stale_trials(study)
        done = len(finished_trials(study))
        if done >= total:
            return ran
        running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
        if done + running >= total:
            time.sleep(poll_seconds)
            continue
        logging.info("trial %d of %d (%d finished, %d running elsewhere)", done + running + 1, total, done, running)
        study.optimize(objective, n_trials=1, catch=(CandidateFailed,), gc_after_trial=True)
        ran += 1


def study_summary(study, config, finished_before, seconds):
    """The report's record of the study: where it is, its trials, how fast this run finished them, how to open it."""
    trials = study.get_trials(deepcopy=False)
    finished = len(finished_trials(study))
    return {"storage": display_url(config.url), "name": config.name, "finished_trials": finished,
            "resumed_with": finished_before, "workers": config.workers,
            "enqueued": study.user_attrs.get("heuristics", 0),
            "retried_trials": [t.number for t in trials if "failed_trial" in t.system_attrs],
            "trials_per_hour": round(3600 * (finished - finished_before) / seconds, 1) if seconds else None,
            "dashboard": f"optuna-dashboard {json.dumps(display_url(config.url))}"}
