"""Streaming-text benchmark: generate a large corpus, stream it, report tokens/s and peak RSS.

    python -m studies.streaming.main --corpus_mb=1024 --output_json=runs/stream/stream.json

The corpus (pydoc paragraphs sampled with --seed) goes to a fresh folder under --work_dir and is deleted at the end
unless --keep.  The work happens in ``studies.streaming.stream_run``.
"""
from absl import flags

from keras_ssl.cli.run import start

FLAGS = flags.FLAGS
flags.DEFINE_integer("corpus_mb", 1024, "Size of the generated corpus, in MB.", lower_bound=1)
flags.DEFINE_integer("num_files", 4, "Files the corpus is split into.", lower_bound=1)
flags.DEFINE_string("work_dir", None, "Where the corpus folder is created (default: the system temp dir).")
flags.DEFINE_bool("keep", False, "Keep the generated corpus (its folder is printed and in the JSON).")
flags.DEFINE_integer("vocab_size", 2000, "Vocabulary size, special tokens included.", lower_bound=4)
flags.DEFINE_integer("seq_len", 32, "Tokens per MLM window.", lower_bound=2)
flags.DEFINE_integer("batch_size", 256, "Windows per batch.", lower_bound=1)
flags.DEFINE_float("max_seconds", 0.0, "Stop the dataset pass after this many seconds (0 = the whole corpus).",
                   lower_bound=0.0)
flags.DEFINE_integer("vocab_processes", 1, "Processes counting words (RSS is measured in this process only).",
                     lower_bound=1)
flags.DEFINE_list("prefix_mb", ["8", "16", "32"], "Corpus prefixes (MB) loaded whole vs streamed, in child processes.")
flags.DEFINE_integer("tokenizer_mb", 16, "MB tokenized by Python and by the in-graph tokenizer.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed for the corpus, shuffling and masking.")
flags.DEFINE_string("output_json", None, "Write all results here (atomically).")


def study_from_flags(args):
    """Runs the benchmark from the flags and returns its table."""
    from keras_ssl.base.errors import UserError
    from studies.streaming.stream import StreamBenchmarkConfig
    from studies.streaming.stream_run import run_stream_benchmark, stream_table

    try:
        prefix_mb = tuple(int(v) for v in FLAGS.prefix_mb) if FLAGS.prefix_mb else ()
    except ValueError:
        raise UserError(f"--prefix_mb={','.join(FLAGS.prefix_mb)} must be whole numbers of MB, e.g. 8,16,32") from None
    config = StreamBenchmarkConfig(
        vocab_size=FLAGS.vocab_size, seq_len=FLAGS.seq_len, batch_size=FLAGS.batch_size,
        max_seconds=FLAGS.max_seconds, vocab_processes=FLAGS.vocab_processes, prefix_mb=prefix_mb,
        tokenizer_mb=FLAGS.tokenizer_mb, seed=FLAGS.seed)
    results = run_stream_benchmark(config, FLAGS.corpus_mb << 20, FLAGS.num_files, FLAGS.work_dir, FLAGS.keep,
                                   FLAGS.output_json)
    return stream_table(results)


if __name__ == "__main__":
    start(__name__, study_from_flags)
