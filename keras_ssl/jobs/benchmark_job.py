"""The benchmark job behind ``experiments/benchmark.py``: validate, time, sweep, write outputs, all or nothing."""
import dataclasses
import json
import os

from absl import logging

from keras_ssl.base.errors import UserError
from keras_ssl.base.io_utils import atomic_write_json, atomic_write_text
from keras_ssl.base.output_lock import locks_output
from keras_ssl.base.machine import machine_info, machine_line
from keras_ssl.benchmark.claims import claims_markdown
from keras_ssl.benchmark.harness import BenchmarkConfig, add_ratios, benchmark
from keras_ssl.benchmark.output import sweep_table, table, write_csv
from keras_ssl.benchmark.plots import plot_latency, plot_size_accuracy


@dataclasses.dataclass
class BenchmarkRequest:
    """Everything ``experiments/benchmark.py`` asks for, as one object for ``run_benchmark``.

    ``baseline`` is a ``graphs`` entry or its file name (default: the first graph); ``task`` adds accuracy, with
    ``vocab`` defaulting to vocab.txt beside the first graph; ``reports`` are pipeline report.json files whose claims
    are compared (written beside ``output_json``).
    """
    graphs: list
    config: BenchmarkConfig = dataclasses.field(default_factory=BenchmarkConfig)
    baseline: str = None
    task: str = None
    data_path: str = None  # --task=image: one of data_path, dataset, image_dir (keras_ssl.data.images)
    dataset: str = "digits"
    image_dir: str = None
    text_files: list = None
    stream_text: bool = False  # the pipeline's streamed split of text_files (--stream_text runs)
    vocab: str = None
    thread_sweep: list = dataclasses.field(default_factory=list)
    batch_sweep: list = dataclasses.field(default_factory=list)
    output_json: str = None
    output_csv: str = None
    output_plot: str = None
    reports: list = dataclasses.field(default_factory=list)


def _baseline_index(graphs, baseline):
    if baseline is None:
        return 0
    for i, path in enumerate(graphs):
        if baseline in (path, os.path.basename(os.path.normpath(path))):
            return i
    raise UserError(f"--baseline={baseline} is not one of the --graph entries {graphs}")


def _check_writable(*paths):
    """Fails before any timing if an output cannot be written, so a long run is not lost at the end; creates
    nothing (a failed benchmark leaves no empty folder)."""
    for path in filter(None, paths):
        if os.path.isdir(path):
            raise UserError(f"output {path} is a folder: give a file name")
        folder = os.path.dirname(os.path.abspath(path))
        while not os.path.exists(folder):
            folder = os.path.dirname(folder)
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise UserError(f"cannot write {path}: {folder} is not a writable folder")


def _load_reports(paths):
    reports = []
    for path in paths:
        try:
            with open(path) as f:
                report = json.load(f)
        except (OSError, ValueError) as e:
            raise UserError(f"cannot read pipeline report {path}: {e.__class__.__name__}: {e}") from None
        missing = {"task", "baseline", "variants"} - set(report if isinstance(report, dict) else ())
        if missing:
            raise UserError(f"{path} is not a keras-ssl report.json: missing {sorted(missing)}")
        reports.append(report)
    return reports


def _eval_data(request, input_shape):
    """The labelled test split for ``--task``, built to fit the first graph's input."""
    from keras_ssl.tasks.config import TextTaskConfig
    from keras_ssl.tasks.eval_data import image_eval, text_eval

    if request.task == "image":
        data = image_eval(input_shape, request.data_path, dataset=request.dataset,
                          image_dir=request.image_dir)
    else:
        vocab = request.vocab or os.path.join(os.path.dirname(os.path.abspath(request.graphs[0])), "vocab.txt")
        data = text_eval(input_shape, vocab, request.text_files,
                         config=TextTaskConfig(stream=request.stream_text))
    return data.inputs, data.score


@locks_output("output_json")
def run_benchmark(request):
    """Runs the whole request; returns the text printed for the user. Outputs are written only at the end."""
    base_index = _baseline_index(request.graphs, request.baseline)
    _check_writable(request.output_json, request.output_csv, request.output_plot)
    reports = _load_reports(request.reports)
    data = (lambda input_shape: _eval_data(request, input_shape)) if request.task else None
    results = add_ratios(benchmark(request.graphs, request.config, data), base_index)
    sweep = []
    if request.thread_sweep or request.batch_sweep:
        for threads in request.thread_sweep or [request.config.num_threads]:
            for batch in request.batch_sweep or [request.config.batch_size]:
                logging.info("sweep: %d threads, batch %d", threads, batch)
                config = dataclasses.replace(request.config, num_threads=threads, batch_size=batch)
                sweep += [{k: r[k] for k in ("graph", "num_threads", "batch_size", "p50", "mean", "std", "p90")}
                          for r in benchmark(request.graphs, config)]
    parts = [f"On {machine_line()}:", "", table(results)]
    if sweep:
        parts += ["", sweep_table(sweep)]
    claims = claims_markdown(reports) if reports else None
    if claims:
        parts += ["", claims]
    if request.output_plot:
        plot_latency([r["graph"] for r in results], results, request.output_plot,
                     f"latency, batch {request.config.batch_size}, {request.config.num_threads} thread(s)")
    if request.output_json:
        payload = {"config": dataclasses.asdict(request.config), "baseline": results[base_index]["graph"],
                   "graphs": results, "sweep": sweep, "machine": machine_info()}
        if reports:
            _write_report_extras(reports, request.output_json, claims, payload)
        atomic_write_json(request.output_json, payload)
    if request.output_csv:
        write_csv(request.output_csv, results)
    return "\n".join(parts)


def _write_report_extras(reports, output_json, claims, payload):
    """Claims table and a Pareto plot over every variant of the given pipeline reports, beside the JSON."""
    from keras_ssl.benchmark.claims import claim_row
    stem = os.path.splitext(output_json)[0]
    atomic_write_text(stem + "_claims.md", claims + "\n")
    payload["claims"] = [claim_row(r) for r in reports]
    for report in reports:
        plot_size_accuracy(report, f"{stem}_pareto_{report['task']}.png",
                           f"{report['task']}: size vs accuracy, Pareto front")
