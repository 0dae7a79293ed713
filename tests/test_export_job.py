"""The export job: artifacts + manifests + associated files, validated; refusals leave nothing behind."""
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.benchmark.harness import BenchmarkConfig, benchmark
from keras_ssl.jobs.export_job import ExportRequest, run_export
from tflite_export.artifacts import export_tflite, manifest_path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def saved_classifier(tmp_path_factory, trained_classifier, digits8):
    folder = tmp_path_factory.mktemp("model")
    path = str(folder / "clf.keras")
    trained_classifier.save(path)
    np.save(folder / "calibration.npy", digits8.x_train[:64])
    return path


def test_manifest_describes_the_file_it_sits_beside(tmp_path, trained_classifier, digits8):
    path = str(tmp_path / "m.tflite")
    manifest = export_tflite(trained_classifier, path, "int8_io", representative_data=digits8.x_train,
                             associated_files={"labels.txt": "0\n1\n"})
    data = open(path, "rb").read()
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest() and manifest["size_bytes"] == len(data)
    assert json.load(open(manifest_path(path))) == manifest
    assert manifest["inputs"][0]["dtype"] == "int8" and manifest["inputs"][0]["quantization"]["scale"] > 0
    assert manifest["associated_files"][0]["name"] == "labels.txt"
    assert open(tmp_path / "labels.txt").read() == "0\n1\n"
    assert "CONV_2D" in manifest["ops"] and manifest["xnnpack"]["fully_delegated"]
    # Where it was converted and validated: the CPU and ISA flags speed depends on, and the runtime versions.
    assert manifest["machine"]["cpu"] and "tensorflow" in manifest["machine"]["versions"]
    assert manifest["machine"]["versions"]["ai-edge-litert"] == "2.3.0"
    with pytest.raises(UserError, match="--overwrite"):
        export_tflite(trained_classifier, path, "float32")
    assert open(path, "rb").read() == data


def test_export_job_writes_validated_artifacts(tmp_path, saved_classifier):
    out = str(tmp_path / "out")
    request = ExportRequest(model=saved_classifier, output_dir=out, modes=("float32", "int8", "int8_io", "int4"),
                            calibration_npy=os.path.join(os.path.dirname(saved_classifier), "calibration.npy"),
                            onnx=True, xla=True, tvm=True)
    report, markdown = run_export(request)
    files = {a["file"]: a for a in report["artifacts"]}
    assert set(files) == {"clf_float32.tflite", "clf_int8.tflite", "clf_int8_io.tflite", "clf_int4.tflite", "clf.onnx",
                          "clf_xla", "clf.so"}
    assert all(a["passed"] for a in files.values())
    assert files["clf.so"]["format"] == "tvm" and files["clf.so"]["max_abs_diff"] < 1e-4
    # The benchmark harness times the TVM library beside the .tflite (docs/export.md has the numbers).
    timed = benchmark([os.path.join(out, "clf.so"), os.path.join(out, "clf_float32.tflite")],
                      BenchmarkConfig(num_runs=10, warmup_runs=2))
    assert [row["format"] for row in timed] == ["tvm", "tflite"] and all(row["p50"] > 0 for row in timed)
    assert files["clf_float32.tflite"]["max_abs_diff"] < 1e-4 and files["clf.onnx"]["max_abs_diff"] < 1e-4
    assert files["clf_xla"]["xla_compiled"]
    for name in ("clf_float32", "clf_int8", "clf_int8_io", "clf_int4"):
        manifest = json.load(open(os.path.join(out, name + ".manifest.json")))
        assert manifest["validation"]["passed"]
    assert manifest["quantization"] == "int4" and manifest["xnnpack"]["fully_delegated"]
    assert "| clf_int8_io.tflite | int8_io |" in markdown
    with pytest.raises(UserError, match="already exists"):
        run_export(request)


def test_an_image_classifier_export_includes_artifacts_mediapipe_loads(tmp_path, saved_classifier):
    out = tmp_path / "out"
    report, markdown = run_export(ExportRequest(model=saved_classifier, output_dir=str(out), modes=("float32",),
                                                task="image"))
    files = {a["file"]: a for a in report["artifacts"]}
    assert set(files) == {"clf_float32.tflite", "clf_mediapipe_float32.tflite", "clf_mediapipe_uint8.tflite"}
    for name in ("clf_mediapipe_float32", "clf_mediapipe_uint8"):
        manifest = json.load(open(out / f"{name}.manifest.json"))
        assert manifest["validation"]["passed"] and manifest["inputs"][0]["shape"] == [1, 8, 8, 3]
        assert manifest["mediapipe"]["images"] == 360 and manifest["mediapipe"]["top1_agreement_with_litert"] == 1.0
    assert files["clf_mediapipe_uint8.tflite"]["inputs"][0]["dtype"] == "uint8"
    assert "| clf_mediapipe_uint8.tflite | uint8_io |" in markdown


@pytest.mark.parametrize("overrides,fragment", [
    ({"modes": ("int3",)}, "unknown --modes"),
    ({"model": "/nonexistent/model.keras"}, "model not found"),
    ({"modes": ("int8",)}, "need calibration data"),
])
def test_bad_requests_fail_before_writing(tmp_path, saved_classifier, overrides, fragment):
    out = tmp_path / "out"
    with pytest.raises(UserError, match=fragment):
        run_export(ExportRequest(**{"model": saved_classifier, "output_dir": str(out), **overrides}))
    assert not out.exists()


def test_image_task_checks_the_models_channels_before_loading_it_all():
    from keras_ssl.tasks.eval_data import image_eval

    with pytest.raises(UserError, match="takes 3-channel images but sklearn-digits has 1"):
        image_eval((8, 8, 3))
    with pytest.raises(UserError, match=r"gray or RGB image input \(H, W, 1\|3\); the model takes \(8, 8, 2\)"):
        image_eval((8, 8, 2))


def test_num_validation_checks_onnx_and_xla_on_the_same_inputs(tmp_path, saved_classifier):
    """ONNX and XLA artifacts are compared on the --num_validation inputs the reference was computed on."""
    request = ExportRequest(model=saved_classifier, output_dir=str(tmp_path / "out"), modes=("float32",),
                            calibration_npy=os.path.join(os.path.dirname(saved_classifier), "calibration.npy"),
                            num_validation=20, onnx=True, xla=True)
    report, _ = run_export(request)
    assert [a["format"] for a in report["artifacts"]][1:] == ["onnx", "saved_model"]
    assert all(a["passed"] and a["max_abs_diff"] < 1e-4 for a in report["artifacts"])


def test_cli_exit_codes_and_one_line_errors(tmp_path, saved_classifier):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "experiments.export", f"--model={saved_classifier}", *args],
                              cwd=ROOT, capture_output=True, text=True, timeout=180)

    out = tmp_path / "out"
    ok = cli(f"--output_dir={out}", "--modes=float32,dynamic")
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "| clf_dynamic.tflite | dynamic |" in ok.stdout
    assert sorted(os.listdir(out)) == ["clf_dynamic.manifest.json", "clf_dynamic.tflite", "clf_float32.manifest.json",
                                       "clf_float32.tflite", "export_report.json", "export_report.md"]
    again = cli(f"--output_dir={out}", "--modes=float32")
    errors = [line for line in again.stderr.splitlines() if line.startswith("error:")]
    assert again.returncode == 2 and len(errors) == 1 and "--overwrite" in errors[0]
    assert "Traceback" not in again.stderr
