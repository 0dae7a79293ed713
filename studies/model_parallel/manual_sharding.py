"""Model parallel by hand: the embedding table's rows and the logits kernel's columns pinned to two devices.

The only approach found here that splits the compute (not just the storage) across devices.
"""
import numpy as np

from studies.model_parallel.devices import two_logical_cpus
from studies.model_parallel.evidence import train_and_compare


def run_manual(config, train, eval_set, run, export_path=None):
    """Model parallel by hand: half of the table and of the logits kernel on /CPU:0, half on /CPU:1."""
    from keras_ssl.base.keras import tf
    from keras_ssl.training.fit import compile_for_logits

    devices = two_logical_cpus()
    result, model = train_and_compare(
        lambda: compile_for_logits(build_sharded_mlm(config, devices), run["learning_rate"], sparse_weighted=True),
        config, train, eval_set, run, export_path, return_model=True)
    ids = eval_set[0][:2]
    hidden = np.zeros((2, config.seq_len, 2 * config.lstm_units), np.float32)  # the BiLSTM output's shape
    result["compute_devices"] = {"embedding": [p.device for p in model.get_layer("embedding").partials(ids)],
                                 "token_logits": [p.device for p in model.get_layer("token_logits").partials(hidden)]}
    # Training runs as a graph: the ops Keras traces carry the same pins (the LSTM's are unpinned: /CPU:0).
    graph = tf.function(model).get_concrete_function(tf.TensorSpec((None, config.seq_len), tf.int32)).graph
    result["graph_ops_pinned"] = sorted({f"{op.type}@{op.device}" for op in graph.get_operations()
                                         if op.device and op.type in ("ResourceGather", "MatMul", "BiasAdd")})
    return result


def build_sharded_mlm(config, devices):
    """``build_mlm`` with ShardedEmbedding and ShardedLogits (same layer names, so weights map one to one)."""
    from keras_ssl.base.keras import tf_keras

    layers = _sharded_layers()
    inputs = tf_keras.Input((config.seq_len,), dtype="int32", name="token_ids")
    x = layers.ShardedEmbedding(config.vocab_size, config.embedding_dim, devices, name="embedding")(inputs)
    x = tf_keras.layers.Dropout(config.dropout, name="dropout")(x)
    x = tf_keras.layers.Bidirectional(tf_keras.layers.LSTM(config.lstm_units, return_sequences=True),
                                      name="bilstm")(x)
    logits = layers.ShardedLogits(config.vocab_size, devices, name="token_logits")(x)
    return tf_keras.Model(inputs, logits, name="bilstm_mlm_sharded")


def _sharded_layers():
    """The two hand-sharded layers, defined on first use so ``--help`` and the driver need no TensorFlow."""
    import types

    from keras_ssl.base.keras import tf, tf_keras

    def split(n, parts):
        return [len(p) for p in np.array_split(np.arange(n), parts)]

    class ShardedEmbedding(tf_keras.layers.Layer):
        """Embedding whose table rows are split over ``devices``; each device looks up the ids it owns."""

        def __init__(self, input_dim, output_dim, devices, **kwargs):
            super().__init__(**kwargs)
            self.output_dim, self.devices, self.sizes = output_dim, list(devices), split(input_dim, len(devices))

        def build(self, input_shape):
            """One table shard per device, created under that device (Keras' default 'uniform' initializer)."""
            self.tables = []
            for i, (device, size) in enumerate(zip(self.devices, self.sizes)):
                with tf.device(device):
                    self.tables.append(self.add_weight(f"embeddings_{i}", shape=(size, self.output_dim),
                                                       initializer="uniform"))
            super().build(input_shape)

        def partials(self, ids):
            """Each device's rows for ``ids``, zero where it does not own the id; computed on that device."""
            out, offset = [], 0
            for device, size, table in zip(self.devices, self.sizes, self.tables):
                with tf.device(device):
                    local = tf.cast(ids, tf.int32) - offset
                    rows = tf.gather(table, tf.clip_by_value(local, 0, size - 1))
                    out.append(rows * tf.cast((local >= 0) & (local < size), rows.dtype)[..., None])
                offset += size
            return out

        def call(self, ids):
            """Exactly one shard owns each id, so the sum is the plain lookup."""
            return tf.add_n(self.partials(ids))

        def merged_weights(self):
            """The plain Embedding's table."""
            return [np.concatenate([t.numpy() for t in self.tables], axis=0)]

    class ShardedLogits(tf_keras.layers.Layer):
        """Dense head whose kernel columns and bias are split over ``devices``; each computes its logits slice."""

        def __init__(self, units, devices, **kwargs):
            super().__init__(**kwargs)
            self.units, self.devices, self.sizes = units, list(devices), split(units, len(devices))

        def build(self, input_shape):
            """Shards initialised as slices of one glorot_uniform kernel (fan-out = the whole vocabulary)."""
            fan_in = int(input_shape[-1])
            limit = float(np.sqrt(6.0 / (fan_in + self.units)))
            self.kernels, self.biases = [], []
            for i, (device, size) in enumerate(zip(self.devices, self.sizes)):
                with tf.device(device):
                    self.kernels.append(self.add_weight(
                        f"kernel_{i}", shape=(fan_in, size),
                        initializer=tf_keras.initializers.RandomUniform(-limit, limit)))
                    self.biases.append(self.add_weight(f"bias_{i}", shape=(size,), initializer="zeros"))
            super().build(input_shape)

        def partials(self, x):
            """Each device's slice of the logits, computed on that device (the same tensordot as Dense)."""
            out, x = [], tf.convert_to_tensor(x)
            for device, kernel, bias in zip(self.devices, self.kernels, self.biases):
                with tf.device(device):
                    out.append(tf.nn.bias_add(tf.tensordot(x, kernel, [[x.shape.rank - 1], [0]]), bias))
            return out

        def call(self, x):
            """The full logits: the slices side by side, in vocabulary order."""
            return tf.concat(self.partials(x), axis=-1)

        def merged_weights(self):
            """The plain Dense layer's kernel and bias."""
            return [np.concatenate([k.numpy() for k in self.kernels], axis=1),
                    np.concatenate([b.numpy() for b in self.biases], axis=0)]

    return types.SimpleNamespace(ShardedEmbedding=ShardedEmbedding, ShardedLogits=ShardedLogits)
