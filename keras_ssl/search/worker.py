"""One search worker process: joins a study the search command made and runs its trials until it has them all."""
from functools import partial

from keras_ssl.base.errors import UserError
from keras_ssl.search.accuracy_aware import SearchConfig, float_correct, measure
from keras_ssl.search.classifier_task import load_classifier_task
from keras_ssl.search.storage import display_url
from keras_ssl.search.study import Objective, artifact_store, load_study, model_fingerprint, run_trials
from keras_ssl.search.workers import task_folder


def run_worker(config, index=0):
    """Runs trials of the study of ``config`` (a StudyConfig) until it has its total; returns how many ran here."""
    where = f"study {config.name!r} in {display_url(config.url)}"
    try:
        study = load_study(config, seed=index + 1)
    except KeyError:
        raise UserError(f"there is no {where}: start the search command first (it makes the study)") from None
    contract = study.user_attrs.get("contract")
    if contract is None or "total_trials" not in study.user_attrs:
        raise UserError(f"{where} is still being made (no search space yet): start workers once the search command "
                        "logs 'starting N search workers'")
    task = load_classifier_task(task_folder(config))
    if model_fingerprint(task.model) != contract["model"]:
        raise UserError(f"the model in {task_folder(config)} is not the one {where} was made for: pass the "
                        "--study_folder of that search")
    search_config = SearchConfig(budget_points=contract["budget_points"], margin_se=contract["margin_se"])
    objective = Objective(task, contract["space"], float_correct(task), partial(measure, config=search_config),
                          artifact_store(config))
    return run_trials(study, objective, study.user_attrs["total_trials"], config.poll_seconds)
