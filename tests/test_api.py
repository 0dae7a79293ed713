"""The public API: the README's example runs as written, and importing the library leaves global state alone."""
import json
import pathlib
import re
import subprocess
import sys

from tflite_export.runner import TFLiteModel

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _readme_example():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Python API"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_api_example_runs(tmp_path):
    result = subprocess.run([sys.executable, "-c", _readme_example()], cwd=tmp_path, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    size, accuracy = re.search(r"(\d+) B gzip, accuracy ([\d.]+)", result.stdout).groups()
    assert int(size) > 0 and float(accuracy) > 0.5, result.stdout
    assert "int8" in TFLiteModel(model_path=str(tmp_path / "model_int8.tflite")).tensor_dtypes()


def test_every_public_name_resolves():
    import keras_ssl as ks

    missing = [name for name in ks.__all__ if getattr(ks, name, None) is None]
    assert missing == [] and ks.prune.__name__ == "prune_magnitude"


_STATE = """
import json, logging, os, sys, warnings
def state():
    return {"tf_level": logging.getLogger("tensorflow").level, "absl_filters": len(logging.getLogger("absl").filters),
            "root_filters": len(logging.getLogger().filters), "cpp_log_level": os.environ.get("TF_CPP_MIN_LOG_LEVEL"),
            "our_warning_filters": [str(f[1]) for f in warnings.filters if f[1] and "quantized" in str(f[1])]}
before = state()
import keras_ssl as ks
light = "tensorflow" not in sys.modules
ks.prune, ks.export_tflite, ks.benchmark, ks.run_pipeline, ks.search
print(json.dumps({"light": light, "before": before, "after": state()}))
"""


def test_importing_the_library_changes_no_logging_or_warnings_state():
    """What the binaries set (keras_ssl.cli.run.quiet_logs) stays unset by the library, even with TensorFlow and
    every layer loaded."""
    out = subprocess.run([sys.executable, "-c", _STATE], capture_output=True, text=True, timeout=300, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["light"], "import keras_ssl alone must not start TensorFlow"
    assert result["after"] == result["before"]
