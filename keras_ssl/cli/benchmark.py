"""The benchmark harness, modelled on TFLite's benchmark_model but for several artifacts side by side.

    python -m experiments.benchmark --graph=a.tflite,b.tflite --num_runs=500 --output_json=bench.json

Graphs are timed interleaved in rounds; ratios are against --baseline (default: the first graph).
"""
from absl import flags

from keras_ssl.cli import image_flags
from keras_ssl.cli.image_flags import image_source
from keras_ssl.cli.run import start

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(image_flags)  # --data_path, --dataset, --image_dir in this binary's --helpshort
flags.DEFINE_list("graph", None, ".tflite, .keras, .h5, .onnx, .so (TVM) files or SavedModel folders to time, comma "
                  "separated.")
flags.DEFINE_integer("num_runs", 200, "Timed inferences per graph.")
flags.DEFINE_integer("warmup_runs", 20, "Untimed inferences per graph before timing.")
flags.DEFINE_integer("rounds", 5, "Interleaving rounds: each runs num_runs/rounds inferences of every graph in turn.")
flags.DEFINE_float("max_secs", 0.0, "Stop timing a graph after this many seconds (0 = no limit).")
flags.DEFINE_integer("num_threads", 1, "Threads for the interpreter / runtime.")
flags.DEFINE_bool("use_xnnpack", True, "Use LiteRT's default XNNPACK delegate (.tflite only).")
flags.DEFINE_integer("batch_size", 1, "Inputs per inference (models with a fixed batch of 1 only take 1).",
                     lower_bound=1, upper_bound=65536)
flags.DEFINE_string("baseline", None, "Which graph ratios are against (a --graph entry or its file name).")
flags.DEFINE_enum("task", None, ["image", "text"], "Measure accuracy on this task's test split too.")
flags.DEFINE_list("text_files", None, "Corpus for --task=text (default: Python's pydoc_data.topics).")
flags.DEFINE_bool("stream_text", False, "The test split of a pipeline run made with --stream_text (same files).")
flags.DEFINE_string("vocab", None, "vocab.txt for --task=text (default: vocab.txt beside the first graph).")
flags.DEFINE_list("thread_sweep", None, "Also time every graph at these thread counts, e.g. 1,2.")
flags.DEFINE_list("batch_sweep", None, "Also time every graph at these batch sizes, e.g. 1,8,32.")
flags.DEFINE_string("output_json", None, "Write all results here (atomically).")
flags.DEFINE_string("output_csv", None, "Write one row per graph here (atomically).")
flags.DEFINE_string("output_plot", None, "Write a latency plot (PNG) here.")
flags.DEFINE_list("reports", None, "Pipeline report.json files: write the claims table and Pareto plot beside "
                  "--output_json (or print the table).")
flags.mark_flag_as_required("graph")


def _ints(name, values):
    from keras_ssl.base.errors import UserError

    try:
        numbers = [int(v) for v in values]
    except ValueError:
        raise UserError(f"--{name}={','.join(values)} must be whole numbers, e.g. 1,2") from None
    if min(numbers) < 1:
        raise UserError(f"--{name} values must be at least 1, got {numbers}")
    return numbers


def benchmark_from_flags(args):
    """Builds a BenchmarkRequest from the flags, runs it and returns the tables."""
    from keras_ssl.benchmark.harness import BenchmarkConfig
    from keras_ssl.jobs.benchmark_job import BenchmarkRequest, run_benchmark

    config = BenchmarkConfig(num_runs=FLAGS.num_runs, warmup_runs=FLAGS.warmup_runs, rounds=FLAGS.rounds,
                             max_secs=FLAGS.max_secs, num_threads=FLAGS.num_threads,
                             use_xnnpack=FLAGS.use_xnnpack, batch_size=FLAGS.batch_size)
    request = BenchmarkRequest(
        graphs=list(FLAGS.graph), config=config, baseline=FLAGS.baseline, task=FLAGS.task,
        **image_source(), text_files=FLAGS.text_files, stream_text=FLAGS.stream_text,
        vocab=FLAGS.vocab,
        thread_sweep=_ints("thread_sweep", FLAGS.thread_sweep) if FLAGS.thread_sweep else [],
        batch_sweep=_ints("batch_sweep", FLAGS.batch_sweep) if FLAGS.batch_sweep else [],
        output_json=FLAGS.output_json, output_csv=FLAGS.output_csv, output_plot=FLAGS.output_plot,
        reports=FLAGS.reports or [])
    return run_benchmark(request)


def run():
    """Entry point: ``keras-ssl-benchmark`` and ``python -m experiments.benchmark``."""
    start(__name__, benchmark_from_flags)
