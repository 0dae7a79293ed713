"""The main job's configuration, as code: one dataclass tree that the pipeline reads and nothing else."""
import dataclasses
import os

from keras_ssl.compress.prune import PruneConfig
from keras_ssl.compress.quantize import QATConfig
from keras_ssl.compress.search import SearchConfig
from keras_ssl.distribute import STRATEGIES
from keras_ssl.errors import UserError
from keras_ssl.models.bilstm_mlm import MLMConfig
from keras_ssl.models.classifier import ClassifierConfig
from keras_ssl.models.transformer import TransformerConfig
from keras_ssl.pipeline.recipe_book import RECIPE_NAMES
from keras_ssl.ssl.contrastive import ContrastiveConfig
from keras_ssl.ssl.precision import PRECISIONS
from keras_ssl.ssl.training import TrainConfig

TASKS = ("image", "text")
TEXT_MODELS = ("bilstm", "transformer")
SSL_METHODS = ("autoencoder", "contrastive")


@dataclasses.dataclass
class ImageTaskConfig:
    """Image task settings; ``label_fractions`` is sorted, deduplicated and always gets 1.0 added.

    The model fine-tuned on all labels (fraction 1.0) is the one compressed and exported.
    """
    classifier: ClassifierConfig = dataclasses.field(default_factory=ClassifierConfig)
    pretrain: TrainConfig = dataclasses.field(default_factory=lambda: TrainConfig(epochs=15))
    finetune: TrainConfig = dataclasses.field(default_factory=lambda: TrainConfig(epochs=30, min_steps=150))
    label_fractions: tuple = (0.01, 0.1, 1.0)
    ssl: str = "autoencoder"  # self-supervised pretraining: "autoencoder" (reconstruction) or "contrastive" (SimCLR)
    contrastive: ContrastiveConfig = dataclasses.field(default_factory=lambda: ContrastiveConfig(epochs=30))

    def __post_init__(self):
        if self.ssl not in SSL_METHODS:
            raise UserError(f"unknown self-supervised method {self.ssl!r}: use one of {SSL_METHODS}")
        self.label_fractions = tuple(sorted({float(f) for f in self.label_fractions}))
        if any(not 0.0 < f <= 1.0 for f in self.label_fractions):
            raise UserError(f"label fractions must be in (0, 1], got {self.label_fractions}")
        if 1.0 not in self.label_fractions:
            # The compressed model is the one fine-tuned on all labels; it must be trained.
            self.label_fractions += (1.0,)


@dataclasses.dataclass
class TextTaskConfig:
    """Text task settings: the MLM, its pretraining, and the held-out split.

    ``max_eval_sequences`` caps the test split (every artifact is run on each sequence); ``max_docs`` = 0 uses the
    whole corpus.  ``stream`` reads ``text_files`` as a stream every epoch instead of loading them (corpora larger
    than memory; see ``keras_ssl.pipeline.text_data``).
    """
    mlm: MLMConfig = dataclasses.field(default_factory=MLMConfig)
    pretrain: TrainConfig = dataclasses.field(default_factory=lambda: TrainConfig(epochs=20, learning_rate=8e-3))
    test_fraction: float = 0.1
    max_eval_sequences: int = 300
    max_docs: int = 0  # 0 = the whole corpus; small values make quick runs quicker (in-memory only)
    # "bilstm" (article 001's model) or "transformer" (BERT-style; its vocab_size and seq_len come from ``mlm``)
    model: str = "bilstm"
    transformer: TransformerConfig = dataclasses.field(default_factory=TransformerConfig)
    stream: bool = False  # stream text_files from disk every epoch (bounded memory) instead of loading them
    # Mask draws over the search's validation windows: each draw masks other positions of the same windows, so the
    # paired standard error the search adds to every candidate's drop shrinks (~0.7 points with 1 draw of 300
    # windows), and a 1-point budget is not spent on measurement noise.
    validation_masks: int = 3

    def __post_init__(self):
        if not 0.0 < self.test_fraction < 1.0:
            raise UserError(f"test_fraction={self.test_fraction} must be between 0 and 1 (exclusive)")
        if self.validation_masks < 1:
            raise UserError(f"validation_masks={self.validation_masks} must be at least 1")
        if self.model not in TEXT_MODELS:
            raise UserError(f"unknown text model {self.model!r}: use one of {TEXT_MODELS}")


@dataclasses.dataclass
class PipelineConfig:
    """The whole main job; ``experiments/configs`` builds it and flags override fields.

    ``precision`` applies to training only (artifacts come from float32 layers); empty ``data_path`` /
    ``text_files`` mean the built-in data; ``latency_runs`` are batch-1 timed calls per artifact.
    """
    task: str = "image"
    output_dir: str = "runs/image"
    data_path: str = ""
    text_files: tuple = ()
    recipe: str = "default"  # default | auto (accuracy-aware search) | a name in recipe_book.named_recipes
    recipe_file: str = ""  # a recipe JSON (e.g. a search's chosen_recipe.json) run as an extra row
    validation_fraction: float = 0.15  # held out of all training for the search's choices (recipe "auto" only)
    seed: int = 0
    precision: str = "float32"  # training only (see keras_ssl.ssl.precision); artifacts are exported from float32
    strategy: str = "default"  # tf.distribute strategy for training (keras_ssl.distribute); batch sizes are global
    image: ImageTaskConfig = dataclasses.field(default_factory=ImageTaskConfig)
    text: TextTaskConfig = dataclasses.field(default_factory=TextTaskConfig)
    prune: PruneConfig = dataclasses.field(default_factory=PruneConfig)
    qat: QATConfig = dataclasses.field(default_factory=QATConfig)
    search: SearchConfig = dataclasses.field(default_factory=SearchConfig)
    num_calibration: int = 100
    overwrite: bool = False  # replace an existing report and artifacts in output_dir
    tensorboard: bool = True  # write TensorBoard logs per stage under output_dir/tensorboard/
    # Per-epoch training backups, one subfolder per fit; "" = <output_dir>.backup beside output_dir.  A rerun of a
    # killed run resumes from them (keras_ssl/pipeline/resume.py); removed when the run succeeds.
    backup_dir: str = ""
    resume: bool = True  # False: discard an interrupted run's backup and train from epoch 0
    latency_runs: int = 200
    latency_warmup: int = 20

    def __post_init__(self):
        if self.task not in TASKS:
            raise UserError(f"unknown task {self.task!r}: use one of {TASKS}")
        if self.recipe not in RECIPE_NAMES:
            raise UserError(f"unknown recipe {self.recipe!r}: available recipes are {', '.join(RECIPE_NAMES)}")
        if self.recipe == "auto" and self.text.stream and self.task == "text":
            raise UserError("--recipe=auto needs a validation split held out of training, which streamed text has not "
                            "yet: drop --stream_text, or use a named recipe, e.g. --recipe=prune-cluster-pqat")
        if self.recipe_file and not os.path.isfile(self.recipe_file):
            raise UserError(f"recipe file not found: {self.recipe_file} (pass a chosen_recipe.json from a run)")
        if not 0.0 < self.validation_fraction < 0.5:
            raise UserError(f"validation_fraction={self.validation_fraction} must be in (0, 0.5)")
        if self.precision not in PRECISIONS:
            raise UserError(f"unknown precision {self.precision!r}: use one of {PRECISIONS}")
        if self.strategy not in STRATEGIES:
            raise UserError(f"unknown strategy {self.strategy!r}: use one of {STRATEGIES}")
        if not self.output_dir:
            raise UserError("output_dir is empty: pass --output_dir=DIR")
        if self.latency_runs < 1 or self.num_calibration < 1:
            raise UserError(f"latency_runs ({self.latency_runs}) and num_calibration ({self.num_calibration}) "
                            "must be at least 1")
