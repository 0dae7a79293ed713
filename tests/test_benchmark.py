"""The benchmark harness: statistics, ratios, outputs, and its behaviour on bad input."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.benchmark.claims import claim_row, claims_markdown
from keras_ssl.benchmark.harness import BenchmarkConfig, add_ratios
from keras_ssl.benchmark.output import CSV_COLUMNS
from keras_ssl.benchmark.plots import pareto_front
from keras_ssl.benchmark.stats import FIELDS, latency_stats, round_spread
from keras_ssl.jobs.benchmark_job import BenchmarkRequest, run_benchmark
from tflite_export.convert import to_tflite

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_stats_on_known_timings():
    s = latency_stats(np.arange(1, 101))
    assert (s["count"], s["min"], s["max"]) == (100, 1.0, 100.0)
    assert s["mean"] == pytest.approx(50.5) and s["p50"] == pytest.approx(50.5)
    assert s["std"] == pytest.approx(np.sqrt((100 ** 2 - 1) / 12))
    assert s["p90"] == pytest.approx(90.1) and s["p95"] == pytest.approx(95.05) and s["p99"] == pytest.approx(99.01)
    assert round_spread([10, 12, 11])["p50_spread_pct"] == pytest.approx(100 * 2 / 11)


def test_ratios_are_against_the_chosen_baseline():
    rows = [{"graph": "a", "size_bytes": 100, "gzip_bytes": 80, "p50": 10.0, "accuracy": 0.9},
            {"graph": "b", "size_bytes": 25, "gzip_bytes": 10, "p50": 5.0, "accuracy": 0.88}]
    add_ratios(rows, baseline_index=1)
    assert rows[0]["baseline"] == "b" and rows[0]["size_ratio"] == 0.25 and rows[0]["gzip_ratio"] == 0.125
    assert rows[0]["speed_ratio_p50"] == 0.5 and rows[0]["accuracy_change_points"] == pytest.approx(2.0)
    assert rows[1]["size_ratio"] == rows[1]["speed_ratio_p50"] == 1.0


def test_pareto_front_keeps_only_undominated_points():
    points = [(100, 97.0), (10, 97.0), (5, 95.0), (20, 96.0), (5, 94.0)]
    assert pareto_front(points) == [2, 1]


@pytest.fixture(scope="module")
def two_artifacts(tmp_path_factory, trained_classifier, digits8):
    folder = tmp_path_factory.mktemp("artifacts")
    paths = []
    for mode in ("float32", "int8"):
        path = folder / f"{mode}.tflite"
        path.write_bytes(to_tflite(trained_classifier, mode, representative_data=digits8.x_train))
        paths.append(str(path))
    return paths


def test_library_run_writes_every_field(tmp_path, two_artifacts):
    out_json, out_csv, plot = tmp_path / "b.json", tmp_path / "b.csv", tmp_path / "lat.png"
    request = BenchmarkRequest(graphs=two_artifacts, config=BenchmarkConfig(num_runs=20, warmup_runs=2, rounds=4),
                               baseline="int8.tflite", task="image", output_json=str(out_json),
                               output_csv=str(out_csv), output_plot=str(plot), thread_sweep=[1, 2])
    text = run_benchmark(request)
    payload = json.loads(out_json.read_text())
    assert payload["baseline"] == "int8.tflite"
    for row in payload["graphs"]:
        for field in FIELDS + ("init_us", "size_bytes", "gzip_bytes", "peak_rss_kb", "round_p50s", "accuracy",
                               "size_ratio", "gzip_ratio", "speed_ratio_p50"):
            assert row[field] is not None, field
        assert row["count"] == 20 and len(row["round_p50s"]) == 4
        assert row["min"] <= row["p50"] <= row["p90"] <= row["p99"] <= row["max"]
        assert 0.8 < row["accuracy"] <= 1.0
    float_row, int8_row = payload["graphs"]
    assert int8_row["size_ratio"] == 1.0 and float_row["size_ratio"] < 1.0
    assert {(r["graph"], r["num_threads"]) for r in payload["sweep"]} == {
        (g, t) for g in ("float32.tflite", "int8.tflite") for t in (1, 2)}
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["graph"] for r in rows] == ["float32.tflite", "int8.tflite"] and set(rows[0]) == set(CSV_COLUMNS)
    assert plot.stat().st_size > 1000 and "| float32.tflite | tflite |" in text


def test_cli_prints_table_and_writes_json(tmp_path, two_artifacts):
    out, out_csv = tmp_path / "cli.json", tmp_path / "cli.csv"
    result = subprocess.run(
        [sys.executable, "-m", "experiments.benchmark", f"--graph={','.join(two_artifacts)}", "--num_runs=10",
         "--warmup_runs=1", "--rounds=2", "--baseline=int8.tflite", f"--output_json={out}",
         f"--output_csv={out_csv}"], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| int8.tflite | tflite |" in result.stdout
    graphs = json.loads(out.read_text())["graphs"]
    assert [g["graph"] for g in graphs] == ["float32.tflite", "int8.tflite"]
    assert all(set(FIELDS) <= set(g) for g in graphs) and graphs[1]["gzip_ratio"] == 1.0
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 2 and all(rows[i][c] != "" for i in range(2) for c in FIELDS + ("init_us", "gzip_ratio"))


def _bad_request(tmp_path, two_artifacts, case):
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"\x00" * 64)
    cases = {
        "missing": (dict(graphs=[two_artifacts[0], str(tmp_path / "nope.tflite")]), "model not found"),
        "corrupt": (dict(graphs=[two_artifacts[0], str(corrupt)]), "cannot load TFLite model"),
        "shape": (dict(graphs=two_artifacts, task="text", vocab=str(tmp_path / "v.txt")), "token-id sequence"),
        "baseline": (dict(graphs=two_artifacts, baseline="other.tflite"), "--baseline"),
        "format": (dict(graphs=[str(tmp_path)]), "not a SavedModel"),
        "report": (dict(graphs=two_artifacts, reports=[str(corrupt)]), "cannot read pipeline report"),
    }
    return cases[case]


@pytest.mark.parametrize("case", ["missing", "corrupt", "shape", "baseline", "format", "report"])
def test_bad_inputs_raise_one_line_and_write_nothing(tmp_path, two_artifacts, case):
    kwargs, fragment = _bad_request(tmp_path, two_artifacts, case)
    out = tmp_path / "results" / "out.json"
    kwargs.setdefault("config", BenchmarkConfig(num_runs=2, warmup_runs=0, rounds=1))
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(UserError, match=fragment) as err:
        run_benchmark(BenchmarkRequest(output_json=str(out), **kwargs))
    assert "\n" not in str(err.value)
    assert sorted(os.listdir(tmp_path)) == before, "no output folder, lock or temp file left"


def test_dynamic_batch_models_run_larger_batches(tmp_path, two_artifacts):
    out = tmp_path / "b.json"
    run_benchmark(BenchmarkRequest(graphs=two_artifacts, config=BenchmarkConfig(num_runs=4, rounds=1, batch_size=8),
                                   output_json=str(out)))
    assert all(g["batch_size"] == 8 for g in json.loads(out.read_text())["graphs"])


@pytest.mark.parametrize("args,fragment", [
    (["--num_runs=0"], "num_runs=0"),
    (["--num_runs=-5"], "num_runs=-5"),
    (["--output_json=/proc/forbidden/x.json"], "cannot write"),
    (["--thread_sweep=1,two"], "--thread_sweep"),
])
def test_cli_bad_numbers_and_outputs(two_artifacts, args, fragment):
    result = subprocess.run([sys.executable, "-m", "experiments.benchmark", f"--graph={two_artifacts[0]}", *args],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    last = [line for line in result.stderr.splitlines() if line.strip()][-1]
    assert last.startswith("error: ") and fragment in last


def test_claims_compare_the_article_with_the_best_artifact_in_budget():
    report = {"task": "image", "baseline": "tflite_float32", "variants": [
        {"name": "keras_float32", "format": "keras", "size_bytes": 1000, "gzip_bytes": 900, "accuracy": 0.97,
         "latency_us_p50": 300.0, "recipe": "none"},
        {"name": "tflite_float32", "format": "tflite", "size_bytes": 400, "gzip_bytes": 380, "accuracy": 0.97,
         "latency_us_p50": 5.0, "recipe": "none"},
        {"name": "small_but_bad", "format": "tflite", "size_bytes": 50, "gzip_bytes": 20, "accuracy": 0.90,
         "latency_us_p50": 3.0, "recipe": "x"},
        {"name": "pruned_int8", "format": "tflite", "size_bytes": 100, "gzip_bytes": 38, "accuracy": 0.965,
         "latency_us_p50": 2.5, "recipe": "y"}]}
    row = claim_row(report)
    assert row["artifact"] == "pruned_int8" and row["gzip_ratio_vs_tflite_float32"] == 10.0
    assert row["size_ratio_vs_keras_file"] == 10.0 and row["speed_ratio_vs_keras"] == 120.0
    assert row["accuracy_change_points"] == pytest.approx(-0.5)
    assert "| measured: image | pruned_int8 | 10.0x | 10.0x | 120.0x | 2.00x | -0.50 |" in claims_markdown([report])


def test_keras_and_saved_model_graphs_time_and_score_like_tflite(tmp_path, two_artifacts, trained_classifier):
    from keras_ssl.base.keras import tf

    keras_path, saved_model = tmp_path / "model.keras", tmp_path / "saved"
    trained_classifier.save(keras_path)
    tf.saved_model.save(trained_classifier, str(saved_model))
    out = tmp_path / "b.json"
    run_benchmark(BenchmarkRequest(graphs=[two_artifacts[0], str(keras_path), str(saved_model)], task="image",
                                   config=BenchmarkConfig(num_runs=6, warmup_runs=1, rounds=2), output_json=str(out)))
    rows = json.loads(out.read_text())["graphs"]
    assert [r["format"] for r in rows] == ["tflite", "keras", "saved_model"]
    assert rows[0]["accuracy"] == rows[1]["accuracy"] == rows[2]["accuracy"]
