"""Every binary has one shape: --helpshort lists its own flags (under python -m and the console script alike), a
bad flag or stray argument is one ``error:`` line and exit code 2 (keras_ssl/cli/run.py states the rule)."""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = pathlib.Path(sys.executable).parent
# binary -> a flag only that binary defines
PRODUCT = {"pipeline": "recipe_file", "export": "calibration_npy", "benchmark": "thread_sweep",
           "search": "budget_points", "search_worker": "worker_index", "launch_workers": "num_workers"}
STUDIES = {"studies.model_parallel.main": "approach", "studies.scaling.main": "per_replica_batch",
           "studies.int8_speed.main": "runs", "studies.streaming.main": "corpus_mb",
           "studies.label_study.main": "selftrain_neighbors"}
MODULES = {**{f"experiments.{name}": flag for name, flag in PRODUCT.items()}, **STUDIES}


def _run(command, *args):
    return subprocess.run([*command, *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def _commands():
    for module, flag in MODULES.items():
        yield pytest.param([sys.executable, "-m", module], flag, id=module)
    for name, flag in PRODUCT.items():
        script = BIN / f"keras-ssl-{name.replace('_', '-')}"
        yield pytest.param([str(script)], flag, id=script.name,
                           marks=pytest.mark.skipif(not script.exists(), reason="console scripts not installed"))


@pytest.mark.parametrize("command,flag", list(_commands()))
def test_helpshort_lists_the_binarys_own_flags(command, flag):
    result = _run(command, "--helpshort")
    assert result.returncode == 0 and f"--{flag}" in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]


@pytest.mark.parametrize("name", ["pipeline", "export", "benchmark"])
def test_helpshort_lists_the_shared_image_flags(name):
    result = _run([sys.executable, "-m", f"experiments.{name}"], "--helpshort")
    flags = ("data_path", "dataset", "image_dir")
    assert result.returncode == 0 and all(f"--{flag}" in result.stdout for flag in flags)


@pytest.mark.parametrize("module", list(MODULES))
@pytest.mark.parametrize("bad", [["--no_such_flag=1"], ["--output_dir=/tmp/x", "stray"]], ids=["flag", "argument"])
def test_bad_usage_is_one_error_line_and_exit_2(module, bad):
    if module.endswith("launch_workers") and bad[-1] == "stray":
        bad = ["--num_workers=0"]  # its positional arguments are the command to launch
    result = _run([sys.executable, "-m", module], *bad)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr


def test_a_job_whose_result_did_not_pass_is_one_line_and_exit_1(capsys):
    from keras_ssl.base.errors import JobFailed
    from keras_ssl.cli.run import run_main

    message = "no search candidate stayed within 1 points of the float model on validation"

    def no_candidate(args):
        raise JobFailed(message)

    with pytest.raises(SystemExit) as exit_info:
        run_main(no_candidate)
    assert exit_info.value.code == 1 and capsys.readouterr().err == f"error: {message}\n"
