"""Runs the Colab notebooks in notebooks/ end to end with tiny parameters, and checks they are stored stripped.

Each notebook has a cell tagged ``parameters``; the test inserts a cell right after it that overrides those values
(papermill's convention, done here with nbformat) and points ``OUTPUT_DIR`` at a temporary folder. The notebooks run
in a Jupyter kernel started from *this* interpreter (``sys.executable``, the venv's python): the fixture writes a
kernel spec for it into the temporary folder and hands nbclient a kernel-spec manager that only looks there, so a
``python3`` kernel installed elsewhere on the machine can never be picked up. Each notebook runs in its own test (one
kernel each), so ``make test``'s two workers run them side by side and no shared fixture can be run twice when the
workers split this module; the assertions read what they wrote to ``OUTPUT_DIR`` and printed.
"""
import asyncio
import json
import os
import pathlib
import sys
import time

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

NOTEBOOKS_DIR = pathlib.Path(__file__).resolve().parents[1] / "notebooks"
KERNEL_NAME = "keras-ssl-test"
CELL_TIMEOUT_S = 240
STARTUP_TIMEOUT_S = 120

# Tiny settings: each notebook's effects are real (trained, pruned, exported, validated) but cheap.
TINY = {
    "01_image_quickstart": dict(IMAGE_SIZE=8, ENCODER_WIDTHS=(8, 16), PRETRAIN_EPOCHS=2, FINETUNE_EPOCHS=6,
                                PRUNE_EPOCHS=1, TARGET_SPARSITY=0.5, QAT_EPOCHS=1, NUM_CALIBRATION=20,
                                LATENCY_RUNS=10, VERBOSE=0),
    "02_text_mlm": dict(VOCAB_SIZE=300, SEQ_LEN=8, EMBEDDING_DIM=8, LSTM_UNITS=8, MAX_DOCS=40, MAX_EVAL_SEQUENCES=60,
                        PRETRAIN_EPOCHS=2, LEARNING_RATE=1e-2, PRUNE_EPOCHS=1, TARGET_SPARSITY=0.5,
                        NUM_CALIBRATION=10, LATENCY_RUNS=20, VERBOSE=0),
    # RUN_EAGERLY: tracing the pruning-wrapped MobileNet's train step costs ~25 s; 5 eager steps cost ~4 s.
    "03_bring_your_own_model": dict(EPOCHS=1, STEPS_PER_EPOCH=3, BATCH_SIZE=32, RUN_EAGERLY=True, NUM_CALIBRATION=10,
                                    NUM_EVAL=40, PRUNE_EPOCHS=1, PRUNE_STEPS=2, LATENCY_RUNS=20, VERBOSE=0),
}


def notebook_paths():
    return sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def parameters_index(nb):
    tagged = [i for i, cell in enumerate(nb.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"expected exactly one cell tagged 'parameters', found {len(tagged)}"
    return tagged[0]


def with_overrides(nb, overrides):
    """A copy of ``nb`` with an ``injected-parameters`` cell after the parameters cell (replacing an old one)."""
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    params = nb.cells[parameters_index(nb)].source
    unknown = [name for name in overrides if f"{name} = " not in params]
    assert not unknown, f"overrides {unknown} are not in the notebook's parameters cell"
    lines = ["# Parameters injected by tests/test_notebooks.py"] + [f"{k} = {v!r}" for k, v in overrides.items()]
    lines += ["import sys", "print('kernel python:', sys.executable)"]
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(parameters_index(nb) + 1, cell)
    return nb


def write_kernel_spec(root):
    """A kernel spec whose argv is this interpreter, so the kernel runs the venv's python and packages."""
    spec_dir = root / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "keras-ssl tests (venv python)", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return root / "kernels"


async def execute(name, work_dir, kernels_dir):
    nb = with_overrides(nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4),
                        {**TINY[name], "OUTPUT_DIR": str(work_dir / "output")})
    specs = KernelSpecManager(kernel_dirs=[str(kernels_dir)])  # only our spec: never a system-wide "python3"
    km = AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)
    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT_S, startup_timeout=STARTUP_TIMEOUT_S,
                            resources={"metadata": {"path": str(work_dir)}})
    start = time.perf_counter()
    try:
        # cleanup_kc: stop the client's channels and shut the kernel down afterwards, although we own the manager.
        await client.async_execute(cleanup_kc=True)
    finally:
        nbformat.write(nb, work_dir / f"{name}.executed.ipynb")  # kept for debugging a failure
    return nb, time.perf_counter() - start


def run_notebook(name, tmp_path):
    """Executes notebook ``name`` with its TINY parameters; returns (executed notebook, results.json, OUTPUT_DIR)."""
    kernels_dir = write_kernel_spec(tmp_path)
    work_dir = tmp_path / name
    work_dir.mkdir()
    nb, seconds = asyncio.run(execute(name, work_dir, kernels_dir))
    output_dir = work_dir / "output"
    print(f"{name}: {seconds:.1f} s")
    texts = [out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
             if out.output_type == "stream"]
    assert any(f"kernel python: {sys.executable}" in t for t in texts), "the kernel did not run the venv's python"
    with open(output_dir / "results.json") as f:
        return nb, json.load(f), output_dir


def images(nb):
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
            if "image/png" in out.get("data", {})]


def int8_tensors(path):
    from tflite_export.runner import TFLiteModel

    return "int8" in TFLiteModel(model_path=str(path)).tensor_dtypes()


def test_notebooks_are_stored_without_outputs():
    paths = notebook_paths()
    assert {p.stem for p in paths} >= set(TINY), f"missing notebooks in {NOTEBOOKS_DIR}"
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        parameters_index(nb)
        assert not any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells), path.name
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, \
                    f"{path.name} has outputs or execution counts: clear them before committing"
        assert nb.cells[0].cell_type == "markdown"
        # The install cell installs what KERAS_SSL names (make wheel's file by default) only where keras_ssl is
        # missing; tests/test_packaging.py builds that wheel and imports the package from it.
        install = nb.cells[1].source
        assert 'KERAS_SSL = "keras_ssl-0.1.0-py3-none-any.whl"' in install and "%pip install -q {KERAS_SSL}" in install
        assert 'if importlib.util.find_spec("keras_ssl") is None:' in install and "OWNER" not in nb.cells[0].source


def test_image_quickstart(tmp_path):
    nb, results, output_dir = run_notebook("01_image_quickstart", tmp_path)
    variants = results["variants"]
    assert set(variants) == {"keras_float32", "tflite_float32", "tflite_int8", "pruned_int8", "qat_int8"}
    assert 0.0 < results["reconstruction_mse"] < 0.2
    assert 0.5 <= results["keras_accuracy"] <= 1.0  # 6 tiny epochs on 8x8 digits: ~0.8-0.9
    for name, row in variants.items():
        assert os.path.exists(row["path"]) and row["path"].startswith(str(output_dir)), name
        assert 0.0 <= row["accuracy"] <= 1.0 and row["p50_us"] > 0 and row["gzip_bytes"] > 0, name
    assert variants["tflite_float32"]["top1_agreement"] == 1.0 and variants["tflite_float32"]["passed"]
    for name in ("tflite_int8", "pruned_int8", "qat_int8"):
        assert "int8" in variants[name]["tensor_dtypes"] and int8_tensors(variants[name]["path"]), name
        assert abs(variants[name]["accuracy"] - variants[name]["source_accuracy"]) <= 0.05, name
    assert "int8" not in variants["tflite_float32"]["tensor_dtypes"]
    assert variants["pruned_int8"]["sparsity"] >= 0.49  # TARGET_SPARSITY=0.5, checked per weight by the library
    assert variants["pruned_int8"]["gzip_bytes"] < variants["tflite_int8"]["gzip_bytes"]
    assert (output_dir / "artifacts" / "labels.txt").exists() and (output_dir / "comparison.png").exists()
    assert len(images(nb)) >= 3  # digits, reconstructions, comparison plot


def test_text_mlm(tmp_path):
    nb, results, output_dir = run_notebook("02_text_mlm", tmp_path)
    variants = results["variants"]
    assert set(variants) == {"keras_float32", "tflite_float32", "tflite_dynamic", "tflite_int8_unrolled",
                             "pruned_int8_unrolled"}
    assert results["masked_positions"] > 0 and 0.0 <= results["unigram_accuracy"] < 1.0
    for name, row in variants.items():
        assert os.path.exists(row["path"]) and 0.0 <= row["accuracy"] <= 1.0 and row["p50_us"] > 0, name
    for name in ("tflite_float32", "tflite_dynamic", "tflite_int8_unrolled", "pruned_int8_unrolled"):
        assert variants[name]["input_shape"] == [1, 8], name  # the batch-1 signature
    assert variants["tflite_float32"]["lstm_ops"] == {"UNIDIRECTIONAL_SEQUENCE_LSTM": 2}  # fused, both directions
    assert variants["tflite_int8_unrolled"]["lstm_ops"] == {}  # unrolled: no LSTM op left
    assert variants["tflite_float32"]["passed"] and variants["tflite_float32"]["top1_agreement"] >= 0.95
    for name in ("tflite_int8_unrolled", "pruned_int8_unrolled"):
        assert int8_tensors(variants[name]["path"]), name
        assert abs(variants[name]["accuracy"] - variants[name]["source_accuracy"]) <= 0.1, name
    assert variants["pruned_int8_unrolled"]["sparsity"] >= 0.3  # embedding, LSTM and Dense kernels at 0.5
    assert (output_dir / "artifacts" / "vocab.txt").exists() and (output_dir / "size_vs_accuracy.png").exists()
    assert len(images(nb)) >= 2


def test_bring_your_own_model(tmp_path):
    nb, results, output_dir = run_notebook("03_bring_your_own_model", tmp_path)
    variants = results["variants"]
    assert results["model"].startswith("MobilenetV3") and results["params"] > 1_000_000
    assert 0.0 <= results["keras_accuracy"] <= 1.0 and results["eval_images"] == 40
    for mode in ("float32", "dynamic", "int8"):
        row = variants[f"tflite_{mode}"]
        assert os.path.exists(row["path"]) and 0.0 <= row["accuracy"] <= 1.0 and row["p50_us"] > 0, mode
        assert row["signature_inputs"] == ["image"] and row["signature_outputs"] == ["probabilities"], mode
    assert variants["tflite_float32"]["passed"] and variants["tflite_float32"]["max_abs_diff"] < 1e-4
    assert int8_tensors(variants["tflite_int8"]["path"]) and int8_tensors(variants["tflite_dynamic"]["path"])
    # Pruning an application model: either the library pruned what tfmot supports, or it gave a clear error.
    if results["prune_error"] is None:
        assert results["pruned_sparsity"] >= 0.4  # TARGET_SPARSITY=0.5 on the prunable kernels
        assert int8_tensors(variants["pruned_int8"]["path"])
    else:
        assert "pruned_int8" not in variants and "supported layer" in results["prune_error"]
