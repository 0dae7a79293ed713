"""Image task configs: the demo default and a quick variant for smoke runs."""
from keras_ssl.compress.prune import PruneConfig
from keras_ssl.pipeline.config import ImageTaskConfig, PipelineConfig
from keras_ssl.ssl.training import TrainConfig


def get_config(quick=False):
    if not quick:
        return PipelineConfig(task="image", output_dir="runs/image")
    return PipelineConfig(
        task="image", output_dir="runs/image-quick",
        image=ImageTaskConfig(pretrain=TrainConfig(epochs=3), finetune=TrainConfig(epochs=5, min_steps=30),
                              label_fractions=(0.1, 1.0)),
        prune=PruneConfig(epochs=2), latency_runs=50, latency_warmup=5)
