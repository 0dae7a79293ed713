"""What every working approach must show: where the shards live, that the loss falls, and that the
re-assembled plain MLM computes the same outputs as the sharded one.

Shared by the PS and manual approaches so both are measured (and re-assembled for export) the same way.
"""
import re
import time

import numpy as np

from studies.model_parallel.task import masked_loss


def merged_weights(layer):
    """A sharded layer's weights in the plain layer's order and shapes (shards concatenated)."""
    if hasattr(layer, "merged_weights"):
        return layer.merged_weights()
    groups = {}
    for w in layer.weights:  # ParameterServerStrategy parts are named ".../part_0", ".../part_1", split on axis 0
        groups.setdefault(re.sub(r"/part_\d+", "", w.name), []).append(w.numpy())
    return [np.concatenate(parts, axis=0) for parts in groups.values()]


def to_plain_mlm(sharded, config):
    """Re-assembles a sharded MLM into the ordinary ``build_mlm`` model: what export, TFLite and tests take."""
    from keras_ssl.models.bilstm_mlm import build_mlm

    plain = build_mlm(config)
    for layer in plain.layers:
        if layer.weights:
            layer.set_weights(merged_weights(sharded.get_layer(layer.name)))
    return plain


def shard_report(model):
    """[(variable, device, shape)] for the embedding and token_logits weights: where each shard really lives."""
    return [{"variable": w.name, "device": w.device, "shape": list(w.shape)}
            for name in ("embedding", "token_logits") for w in model.get_layer(name).weights]


def _timed_fit(model, dataset, steps):
    """Seconds per step of ``fit`` over ``steps`` steps, after 2 untimed steps (tracing, first RPCs)."""
    model.fit(dataset, epochs=1, steps_per_epoch=2, verbose=0)
    start = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
    return (time.perf_counter() - start) / steps


def train_and_compare(build_sharded, config, train, eval_set, run, export_path=None, return_model=False):
    """Trains the sharded model and an unsharded copy from the same start; returns the measured evidence."""
    from keras_ssl.base.keras import tf_keras
    from keras_ssl.data.masking import mlm_dataset
    from keras_ssl.training.fit import compile_for_logits

    inputs, labels, weights = eval_set
    tf_keras.utils.set_random_seed(run["seed"])
    sharded = build_sharded()
    start_weights = to_plain_mlm(sharded, config).get_weights() if run["compare"] else None
    dataset = mlm_dataset(train, config.vocab_size, run["batch_size"], seed=run["seed"]).repeat()
    loss_before = masked_loss(sharded.predict(inputs, verbose=0), labels, weights)
    sharded_step = _timed_fit(sharded, dataset, run["steps"])
    plain = to_plain_mlm(sharded, config)
    out_sharded, out_plain = sharded.predict(inputs, verbose=0), plain.predict(inputs, verbose=0)
    unsharded_step = unsharded_loss = None
    if run["compare"]:
        unsharded = to_plain_mlm(sharded, config)
        unsharded.set_weights(start_weights)
        compile_for_logits(unsharded, run["learning_rate"], sparse_weighted=True)
        unsharded_step = _timed_fit(unsharded, dataset, run["steps"]) * 1e3
        unsharded_loss = masked_loss(unsharded.predict(inputs, verbose=0), labels, weights)
    if export_path:
        plain.save(export_path)
    result = {"status": "ok", "shards": shard_report(sharded),
              "step_ms": {"sharded": sharded_step * 1e3, "unsharded": unsharded_step},
              "loss": {"before": loss_before, "after": masked_loss(out_sharded, labels, weights),
                       "unsharded_after": unsharded_loss},
              "max_abs_diff_vs_unsharded": float(np.abs(out_sharded - out_plain).max()),
              "params": int(plain.count_params()), "export_path": export_path}
    return (result, sharded) if return_model else result
