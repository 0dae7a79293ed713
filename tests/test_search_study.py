"""The search on Optuna: its space and enqueued candidates, its storages, its contract, and workers sharing a study —
one of them SIGKILLed mid-trial, whose trial runs again on the other."""
import dataclasses
import os
import signal
import socket
import subprocess
import time

import numpy as np
import optuna
import pytest
from optuna.trial import FixedTrial, TrialState

from keras_ssl.base.errors import UserError
from keras_ssl.compress.cluster import ClusterConfig
from keras_ssl.compress.distill import DistillConfig
from keras_ssl.compress.prune import PruneConfig
from keras_ssl.search.accuracy_aware import SearchConfig, open_search, search
from keras_ssl.search.classifier_task import ClassifierSearchData
from keras_ssl.search.space import heuristic_trials, recipe_for, space_from_config
from keras_ssl.search.storage import StorageConfig, open_storage
from keras_ssl.search.study import StudyConfig, finished_trials, open_study, run_trials, seal
from keras_ssl.search.workers import task_folder, worker_command

SENSITIVITY = [{"layer": layer, "technique": technique, "level": level, "drop_points": drop}
               for layer, drops in {"conv": (0.0, 3.0), "dense": (0.5, 0.8)}.items()
               for technique, levels in {"prune": (0.5, 0.8), "cluster": (8, 4)}.items()
               for level, drop in zip(levels, drops)]


def small_config(**study):
    return SearchConfig(budget_points=5.0, sparsity_levels=(0.5, 0.8), cluster_levels=(4, 8), tolerances=(1.0,),
                        uniform_sparsities=(0.5,), uniform_clusters=4, students=({"widths": (4,)},),
                        student_sparsities=(0.0, 0.5), prune=PruneConfig(epochs=1),
                        cluster_config=ClusterConfig(epochs=1), distill=DistillConfig(epochs=1),
                        study=StudyConfig(**study))


def test_the_hand_made_candidates_are_the_first_trials_and_name_the_same_recipes():
    config = small_config()
    space = space_from_config(config, ["conv", "dense"])
    trials = dict(heuristic_trials(SENSITIVITY, config, space))
    assert list(trials) == ["auto-prune-t1", "auto-prune-cluster-t1", "auto-uniform-s0.5",
                            "auto-uniform-cluster-s0.5", "auto-student0-s0", "auto-student0-s0.5"]
    per_layer = recipe_for(FixedTrial(trials["auto-prune-cluster-t1"]), space)
    (_, prune), (_, cluster) = per_layer.steps
    assert prune.per_layer == {"conv": 0.5, "dense": 0.8} and prune.target_sparsity == 0.8
    assert cluster.per_layer == {"conv": 8, "dense": 4} and cluster.preserve_sparsity and per_layer.mode == (
        "int8_per_tensor")
    student = recipe_for(FixedTrial(trials["auto-student0-s0.5"]), space)
    assert [kind for kind, _ in student.steps] == ["distill", "prune"], "today's candidate: prune after distilling"
    during = recipe_for(FixedTrial(dict(trials["auto-student0-s0.5"], student_prune="during")), space)
    assert [kind for kind, _ in during.steps] == ["distill"] and during.steps[0][1].prune_sparsity == 0.5


@pytest.mark.parametrize("url,message", [
    ("redis+x://host", "unknown scheme"),
    ("sqlite:////no/such/folder/study.db", "cannot open study storage"),
    ("postgresql://user:secret@127.0.0.1:9/db", "database driver is missing|cannot open study storage"),
    ("/no/such/folder/journal.log", "its folder is missing"),
    (".", "is a folder"),
])
def test_a_bad_storage_is_one_line(url, message):
    with pytest.raises(UserError, match=message) as error:
        open_storage(StorageConfig(url))
    assert "\n" not in str(error.value) and "secret" not in str(error.value)


@pytest.mark.parametrize("storage", ["", "sqlite:///{folder}/study.db"])  # the journal file, and an RDB
def test_a_study_belongs_to_one_model_and_budget_and_is_resumed_until_finished(tmp_path, storage):
    config = StudyConfig(folder=str(tmp_path), storage=storage.format(folder=tmp_path))
    contract = {"model": "abc", "budget_points": 1.0, "margin_se": 1.0, "space": {"layers": ["a"]}}
    study, made = open_study(config, contract)
    seal(study, contract, [], [("auto-x", {"family": "uniform"})], 0.9)
    assert made and study.trials[0].state == TrialState.WAITING and study.trials[0].user_attrs["name"] == "auto-x"
    for other, message in [({"model": "def"}, "another model"), ({"budget_points": 2.0}, r"budget \(1.0, not 2.0\)")]:
        with pytest.raises(UserError, match=message + ".*pass --overwrite"):
            open_study(config, dict(contract, **other))
    again, made = open_study(config, contract)
    assert not made and len(again.trials) == 1, "resumed, its queue kept"
    again.set_user_attr("finished", "auto-x")
    with pytest.raises(UserError, match="is finished"):
        open_study(config, contract)
    fresh, made = open_study(dataclasses.replace(config, overwrite=True), contract)
    assert made and not fresh.trials
    fresh.set_user_attr("maker", "another-host:1")  # made there, its contract not stored yet
    with pytest.raises(UserError, match="is being made by another-host:1"):
        open_study(config, contract)
    fresh.set_user_attr("maker", f"{socket.gethostname()}:999999")  # a process of this host that died making it
    assert open_study(config, contract)[1], "made again"


def tiny_task():
    from keras_ssl.base.keras import tf_keras
    from keras_ssl.training.fit import classification_dataset, compile_for_logits

    rng = np.random.default_rng(0)
    x = rng.random((200, 8, 8, 1), dtype=np.float32)
    y = (x[:, :4].mean((1, 2, 3)) > x[:, 4:].mean((1, 2, 3))).astype(np.int64)
    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential([tf_keras.Input((8, 8, 1)), tf_keras.layers.Conv2D(8, 3, activation="relu"),
                                 tf_keras.layers.Flatten(), tf_keras.layers.Dense(2)])
    compile_for_logits(model, 1e-2).fit(classification_dataset(x[:160], y[:160], 32, seed=0), epochs=3, verbose=0)
    return ClassifierSearchData(x_train=x[:160], y_train=y[:160], x_val=x[160:], y_val=y[160:], calibration=x[:20],
                                batch_size=32, seed=0, student={"image_size": 8, "channels": 1, "num_classes": 2}
                                ).task(model)


def _second_trial_of(study, pid):
    """The trial ``pid`` is running once it finished one: killed there, both workers took part."""
    mine = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("worker", "").endswith(f":{pid}")]
    if any(t.state == TrialState.COMPLETE for t in mine):
        return next((t for t in mine if t.state == TrialState.RUNNING), None)
    return None


def test_two_workers_share_a_study_and_a_killed_workers_trial_runs_again(tmp_path):
    task = tiny_task()
    config = small_config(folder=str(tmp_path / "study"), trials=2, heartbeat_seconds=1, grace_seconds=4,
                          poll_seconds=0.5)
    study, objective = open_search(task, config)
    total = study.user_attrs["total_trials"]
    enqueued = [t.user_attrs["name"] for t in study.trials]
    assert total == len(enqueued) + 2 and enqueued[0] == "auto-prune-t1"
    task.data.save(task_folder(config.study), task.model)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    workers = [subprocess.Popen([str(a).replace("{index}", str(i)) for a in worker_command(config.study)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
               for i in range(2)]
    victim, survivor = workers
    try:
        deadline = time.monotonic() + 240
        while (trial := _second_trial_of(study, victim.pid)) is None:
            assert time.monotonic() < deadline and victim.poll() is None, victim.stderr.read().decode()[-2000:]
            time.sleep(0.2)
        os.kill(victim.pid, signal.SIGKILL)
        killed = trial.number
        assert survivor.wait(timeout=240) == 0, survivor.stderr.read().decode()[-2000:]
    finally:
        for proc in workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    trials = study.get_trials()
    assert trials[killed].state == TrialState.FAIL and "fail_reason" not in trials[killed].user_attrs
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE, "the killed trial ran again"
    assert retried[0].user_attrs["name"] == trials[killed].user_attrs["name"]
    assert retried[0].user_attrs["seed_trial"] == killed, "seeded as the original: it trains alike on any worker"
    finished = finished_trials(study)
    assert len(finished) == total
    names = [t.user_attrs["name"] for t in finished]
    assert sorted(n for n in names if n.startswith("auto-")) == sorted(enqueued), "each enqueued candidate ran once"
    assert len({t.user_attrs["worker"] for t in finished}) == 2, "both workers finished trials"
    assert retried[0].user_attrs["worker"].endswith(f":{survivor.pid}")
    # Rerunning resumes: the study has its trials, so no new one runs, and the choice reads them back.
    assert run_trials(study, objective, total, poll_seconds=0.1) == 0
    result = search(task, config)
    assert len(study.get_trials()) == len(trials) and result.study["resumed_with"] == total
    assert result.chosen is not None and result.model.count_params() > 0
    with pytest.raises(UserError, match="is finished"):
        search(task, config)
    assert optuna.load_study(study_name="search", storage=study._storage).user_attrs["finished"] == result.chosen.name
