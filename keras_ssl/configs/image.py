"""Image task configs: the demo default and a quick variant for smoke runs."""
from keras_ssl.compress.distill import DistillConfig
from keras_ssl.compress.prune import PruneConfig
from keras_ssl.compress.quantize import QATConfig
from keras_ssl.pipeline.config import PipelineConfig
from keras_ssl.search.accuracy_aware import SearchConfig
from keras_ssl.tasks.config import ImageTaskConfig
from keras_ssl.training.fit import TrainConfig


def get_config(quick=False):
    """The image task's PipelineConfig: the demo default, or a minute-long smoke run when ``quick``."""
    if quick:
        return PipelineConfig(
            task="image", output_dir="runs/image-quick",
            image=ImageTaskConfig(pretrain=TrainConfig(epochs=3), finetune=TrainConfig(epochs=5, min_steps=30),
                                  label_fractions=(0.1, 1.0)),
            prune=PruneConfig(epochs=2), qat=QATConfig(epochs=1), latency_runs=50, latency_warmup=5,
            search=SearchConfig(tolerances=(1.0, 4.0), students=({"widths": (4, 4, 8)},), student_sparsities=(0.5,),
                                uniform_sparsities=(0.8,),
                                cluster_levels=(8, 16)))
    return PipelineConfig(
        task="image", output_dir="runs/image",
        # Students for the search: 814, 2,482 and 1,626 parameters vs the classifier's 9,930.
        # Distillation needs time: a long run at a higher rate brought the smallest student close to its teacher,
        # a short one at 1e-3 left it well below (docs/compression.md, "Measurements behind the code").
        search=SearchConfig(students=({"widths": (4, 4, 8)}, {"widths": (8, 8, 16)}, {"widths": (4, 8)}),
                            prune=PruneConfig(epochs=10, learning_rate=5e-4),
                            distill=DistillConfig(epochs=100, learning_rate=3e-3, alpha=0.1)),
        image=ImageTaskConfig(pretrain=TrainConfig(epochs=15), finetune=TrainConfig(epochs=20, min_steps=150),
                              label_fractions=(0.01, 0.1, 1.0)),
        # Pruning fine-tunes for a while at full sparsity so the pruned model recovers its accuracy.
        prune=PruneConfig(target_sparsity=0.75, epochs=10, learning_rate=5e-4))
