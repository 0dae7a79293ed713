"""Text task configs: the demo default and a quick variant for smoke runs."""
from keras_ssl.compress.prune import PruneConfig
from keras_ssl.models.bilstm_mlm import MLMConfig
from keras_ssl.pipeline.config import PipelineConfig, TextTaskConfig
from keras_ssl.ssl.training import TrainConfig


def get_config(quick=False):
    if not quick:
        return PipelineConfig(task="text", output_dir="runs/text")
    return PipelineConfig(
        task="text", output_dir="runs/text-quick",
        text=TextTaskConfig(mlm=MLMConfig(vocab_size=500, seq_len=16, embedding_dim=16, lstm_units=16),
                            pretrain=TrainConfig(epochs=2), max_docs=60, max_eval_sequences=100),
        prune=PruneConfig(epochs=1), latency_runs=50, latency_warmup=5)
