"""DTensor attempts at sharding the MLM: each step recorded with its exact error.

tf_keras' LayoutMap accepts the layouts, but DTensor cannot run the (Bi)LSTM; the attempts narrow down which op
stops it, so the docs can say precisely why DTensor is not the mechanism used.
"""
from studies.model_parallel.attempts import attempt
from studies.model_parallel.devices import two_logical_cpus


def run_dtensor(config, train, eval_set, run, export_path=None):
    """DTensor on a 1-D mesh over two logical CPUs: the layouts are accepted, running the LSTM is not."""
    from keras_ssl.base.keras import tf, tf_keras
    from keras_ssl.models.bilstm_mlm import build_mlm

    del train, export_path
    two_logical_cpus()
    dtensor = tf.experimental.dtensor
    mesh = dtensor.create_mesh([("vocab", 2)], devices=["CPU:0", "CPU:1"])
    tf_keras.backend.experimental.enable_tf_random_generator()  # DTensor needs tf.random.Generator in Keras
    unsharded = dtensor.UNSHARDED

    def build(table_axis=0, model_fn=build_mlm):
        layout_map = tf_keras.dtensor.experimental.LayoutMap(mesh=mesh)
        layout_map["embedding.embeddings"] = dtensor.Layout(
            ["vocab", unsharded] if table_axis == 0 else [unsharded, "vocab"], mesh)
        layout_map["token_logits.kernel"] = dtensor.Layout([unsharded, "vocab"], mesh)
        layout_map["token_logits.bias"] = dtensor.Layout(["vocab"], mesh)
        with layout_map.scope():
            return model_fn(config)

    def head_only(cfg):  # no LSTM: isolates what DTensor does with the two sharded layers alone
        inputs = tf_keras.Input((cfg.seq_len,), dtype="int32")
        x = tf_keras.layers.Embedding(cfg.vocab_size, cfg.embedding_dim, name="embedding")(inputs)
        return tf_keras.Model(inputs, tf_keras.layers.Dense(cfg.vocab_size, name="token_logits")(x))

    def unidirectional(cfg):  # no Bidirectional, hence no ReverseV2
        inputs = tf_keras.Input((cfg.seq_len,), dtype="int32")
        x = tf_keras.layers.Embedding(cfg.vocab_size, cfg.embedding_dim, name="embedding")(inputs)
        x = tf_keras.layers.LSTM(cfg.lstm_units, return_sequences=True)(x)
        return tf_keras.Model(inputs, tf_keras.layers.Dense(cfg.vocab_size, name="token_logits")(x))

    replicated = dtensor.Layout.replicated(mesh, 2)
    x = dtensor.copy_to_mesh(tf.constant(eval_set[0][:run["batch_size"]]), replicated)
    y = dtensor.copy_to_mesh(tf.constant(eval_set[1][:run["batch_size"]]), replicated)

    def layouts():
        return {"layouts": {w.name: w.layout.sharding_specs for w in build().weights if "lstm" not in w.name}}

    def train_step(table_axis=0, model_fn=build_mlm, dense_grads=True):
        model = build(table_axis, model_fn)
        optimizer = tf_keras.dtensor.experimental.optimizers.Adam(run["learning_rate"], mesh=mesh)
        loss_fn = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        @tf.function
        def step(inputs, labels):
            with tf.GradientTape() as tape:
                loss = loss_fn(labels, model(inputs, training=True))
            # Dense gradients: the embedding's IndexedSlices would need ResourceScatterAdd, which DTensor lacks.
            grads = tape.gradient(loss, model.trainable_variables)
            grads = [tf.convert_to_tensor(g) for g in grads] if dense_grads else grads
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss
        with dtensor.default_mesh(mesh):
            losses = [float(dtensor.unpack(step(x, y))[0]) for _ in range(3)]
        return {"losses": losses}

    def keras_fit():
        model = build(1)
        model.compile(optimizer=tf_keras.dtensor.experimental.optimizers.Adam(run["learning_rate"], mesh=mesh),
                      loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(eval_set[0], eval_set[1], epochs=1, batch_size=run["batch_size"], verbose=0)
        return {}
    attempts = [attempt("LayoutMap accepts the layouts (table on vocab, kernel/bias on vocab)", layouts),
                attempt("eager forward, table sharded on vocab", lambda: {"shape": build()(x).shape.as_list()}),
                attempt("train step (tf.function), table sharded on vocab", train_step),
                attempt("train step, table sharded on embedding dim", lambda: train_step(1)),
                attempt("train step, unidirectional LSTM (no ReverseV2)", lambda: train_step(1, unidirectional)),
                attempt("train step, no LSTM, table sharded on vocab", lambda: train_step(0, head_only)),
                attempt("train step, no LSTM, table sharded on embedding dim", lambda: train_step(1, head_only)),
                attempt("same, sparse (IndexedSlices) embedding gradients", lambda: train_step(1, head_only, False)),
                attempt("Keras fit, table sharded on embedding dim", keras_fit)]
    return {"status": "ok" if all(a["status"] == "ok" for a in attempts[2:5]) else "failed", "attempts": attempts}
