"""Sharding with TensorFlow's own mechanism: ParameterServerStrategy and a variable partitioner.

``run_ps`` works (only vocabulary-sized variables are split, on axis 0); ``run_ps_fixed_shards`` and
``run_ps_kernel_vocab_axis`` record why the two obvious alternatives fail.
"""
import socket

from studies.model_parallel.attempts import attempt
from studies.model_parallel.evidence import train_and_compare


def vocab_partitioner(vocab_size):
    """Splits variables with a vocabulary-sized dimension in two along axis 0 (the only axis allowed).

    That is the embedding table (vocab rows), token_logits' kernel (its input rows) and bias; the LSTM's
    weights stay whole, because sharded LSTM weights break the LSTM (see ``ps_fixed_shards``).
    """
    def partition(shape, dtype):
        del dtype
        return [2] + [1] * (len(shape) - 1) if vocab_size in shape.as_list() else [1] * len(shape)
    return partition


def ps_strategy(partitioner):
    """ParameterServerStrategy on an in-process cluster: 1 worker and 2 parameter servers on 127.0.0.1."""
    from keras_ssl.base.keras import tf

    def port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    spec = tf.train.ClusterSpec({"worker": [f"127.0.0.1:{port()}"], "ps": [f"127.0.0.1:{port()}" for _ in range(2)]})
    worker_config = tf.compat.v1.ConfigProto(inter_op_parallelism_threads=2)  # TF tutorial: >= workers + 1
    for job in ("worker", "ps"):
        for task in range(len(spec.as_dict()[job])):
            tf.distribute.Server(spec, job_name=job, task_index=task, protocol="grpc",
                                 config=worker_config if job == "worker" else None, start=True)
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(spec, rpc_layer="grpc")
    return tf.distribute.experimental.ParameterServerStrategy(resolver, variable_partitioner=partitioner)


def run_ps(config, train, eval_set, run, export_path=None, partitioner=None):
    """The working TF mechanism: variables partitioned over two parameter servers, trained with Keras fit."""
    from keras_ssl.models.bilstm_mlm import build_mlm
    from keras_ssl.training.fit import compile_for_logits

    strategy = ps_strategy(partitioner or vocab_partitioner(config.vocab_size))

    def build():
        with strategy.scope():
            return compile_for_logits(build_mlm(config), run["learning_rate"], sparse_weighted=True)
    return train_and_compare(build, config, train, eval_set, run, export_path)


def run_ps_fixed_shards(config, train, eval_set, run, export_path=None):
    """TF's stock FixedShardsPartitioner(2): every variable, the LSTM's too, is split in two."""
    from keras_ssl.base.keras import tf

    partitioner = tf.distribute.experimental.partitioners.FixedShardsPartitioner(2)
    return {"status": "failed", "attempts": [attempt("build + fit with FixedShardsPartitioner(2)", lambda: run_ps(
        config, train, eval_set, run, export_path, partitioner))]}


def run_ps_kernel_vocab_axis(config, train, eval_set, run, export_path=None):
    """A partitioner asking to split token_logits' kernel on its vocabulary axis (axis 1)."""
    rows = vocab_partitioner(config.vocab_size)

    def partition(shape, dtype):
        return [1, 2] if len(shape) == 2 and shape[1] == config.vocab_size else rows(shape, dtype)
    return {"status": "failed", "attempts": [attempt("build with the kernel split on axis 1", lambda: run_ps(
        config, train, eval_set, run, export_path, partition))]}
