"""Model parallel for the BiLSTM MLM: can its embedding and token_logits layers be sharded over two devices?

The question asked: split the MLM's two vocabulary-sized layers over two devices with TensorFlow's own mechanisms,
and show that the shards live on two devices, that training lowers the loss, and that the sharded model computes
what the unsharded one does.  ``studies/model_parallel/main.py`` is the binary and studies/model_parallel/README.md
has the results.

  devices.py           two logical CPUs from one physical CPU
  task.py              the text task: MLM config, corpus split, held-out masked loss
  evidence.py          train sharded vs unsharded from the same start; shard placement; re-assembly to plain MLM
  attempts.py          run an attempt expected to fail and record its exact error
  ps_sharding.py       ParameterServerStrategy + partitioners (works / two failing variants)
  manual_sharding.py   hand-placed ShardedEmbedding and ShardedLogits (works, splits the compute)
  dtensor_attempts.py  DTensor LayoutMap attempts (fail: DTensor cannot run the LSTM)
  report.py            human-readable result lines
  run.py               ModelParallelConfig and ``run``: one approach in-process, several one process each

Nothing here imports TensorFlow at module level: ``--help`` and the multi-approach driver never start it.
"""
from studies.model_parallel.run import FAILING, RUNNERS, WORKING, ModelParallelConfig, resolve_approaches, run

__all__ = ["FAILING", "RUNNERS", "WORKING", "ModelParallelConfig", "resolve_approaches", "run"]
