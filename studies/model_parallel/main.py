"""Can the BiLSTM MLM's embedding and token_logits layers be sharded over two devices with TensorFlow's own
mechanisms (the model-parallel question of the design documents)?

    python -m studies.model_parallel.main [--quick] [--approach=ps] [--json_out=r.json] [--export_path=mlm.keras]
    python -m studies.model_parallel.main --quick --approach=all      # every attempt, each in a fresh process

Approaches (studies/model_parallel/README.md has the measured results):
  ps                    works: ParameterServerStrategy, in-process cluster (1 worker + 2 parameter servers on
                        127.0.0.1), a partitioner that splits only vocabulary-sized variables in two (axis 0)
  manual                works: model parallel by hand, table rows / kernel columns pinned to /CPU:0 and /CPU:1
  dtensor               fails: tf_keras LayoutMap accepts the layouts, but DTensor cannot run the (Bi)LSTM
  ps_fixed_shards       fails: FixedShardsPartitioner(2) also splits the LSTM weights, which breaks the LSTM
  ps_kernel_vocab_axis  fails: a partitioner may only split axis 0, so the kernel cannot be split on vocab
Every approach needs its own process: logical devices and cluster connections are fixed once TF starts.
"""
from absl import flags

from keras_ssl.cli.run import fail, start
from studies.model_parallel import FAILING, WORKING, ModelParallelConfig, resolve_approaches, run

FLAGS = flags.FLAGS
flags.DEFINE_list("approach", ["ps"], f"One or more of {WORKING + FAILING}, or 'all' (several: one process each).")
flags.DEFINE_bool("quick", False, "Tiny model and few steps (the test uses it).")
flags.DEFINE_integer("steps", None, "Timed training steps (default 200, quick 20).", lower_bound=1)
flags.DEFINE_integer("batch_size", 64, "Training batch size.", lower_bound=1)
flags.DEFINE_float("learning_rate", 8e-3, "Adam learning rate (the text task's).")
flags.DEFINE_bool("compare", True, "Also train an unsharded copy from the same start (step time, loss).")
flags.DEFINE_string("json_out", None, "Also write the results as JSON here.")
flags.DEFINE_string("export_path", None, "Save the re-assembled plain MLM (.keras) here, for keras-ssl-export.")


def study_from_flags(args):
    """Flags -> ModelParallelConfig -> ``studies.model_parallel.run`` (which prints and optionally writes evidence)."""
    try:
        approaches = resolve_approaches(FLAGS.approach)
    except ValueError as exc:
        fail(exc)
    run(ModelParallelConfig(approaches=approaches, quick=FLAGS.quick, steps=FLAGS.steps, batch_size=FLAGS.batch_size,
                            learning_rate=FLAGS.learning_rate, compare=FLAGS.compare, json_out=FLAGS.json_out,
                            export_path=FLAGS.export_path))


if __name__ == "__main__":
    start(__name__, study_from_flags)
