"""The main job's configuration, as code: one dataclass tree that the pipeline reads and nothing else."""
import dataclasses

from keras_ssl.base.errors import UserError
from keras_ssl.compress.prune import PruneConfig
from keras_ssl.data.images import check_source
from keras_ssl.compress.quantize import QATConfig
from keras_ssl.pipeline.recipe_book import check_recipe_choice
from keras_ssl.pipeline.variants import ARTIFACT_SETS
from keras_ssl.search.accuracy_aware import SearchConfig
from keras_ssl.tasks.config import TASKS, ImageTaskConfig, TextTaskConfig
from keras_ssl.training.distribute import STRATEGIES
from keras_ssl.training.precision import PRECISIONS


@dataclasses.dataclass
class PipelineConfig:
    """The whole main job; ``keras_ssl/configs`` builds it and flags override fields.

    ``precision`` applies to training only (artifacts come from float32 layers); empty ``data_path`` /
    ``image_dir`` / ``text_files`` mean the built-in data (or the named ``dataset``); ``latency_runs`` are batch-1
    timed calls per artifact.
    """
    task: str = "image"
    output_dir: str = "runs/image"
    data_path: str = ""  # image task: a local Keras mnist.npz
    dataset: str = "digits"  # image task: a named data set (keras_ssl.data.images.DATASETS)
    image_dir: str = ""  # image task: a folder of class subfolders of images (keras_ssl.data.image_folder)
    text_files: tuple = ()
    recipe: str = "default"  # default | auto (accuracy-aware search) | a name in recipe_book.named_recipes
    recipe_file: str = ""  # a recipe JSON (e.g. a search's chosen_recipe.json) run as an extra row
    validation_fraction: float = 0.15  # held out of all training for the search's choices (recipe "auto" only)
    seed: int = 0
    precision: str = "float32"  # training only (keras_ssl.training.precision); artifacts are exported from float32
    strategy: str = "default"  # tf.distribute strategy for training (training.distribute); batch sizes are global
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
    artifacts: str = "all"  # which artifacts the export stage makes (pipeline.variants.ARTIFACT_SETS)

    def __post_init__(self):
        if self.task not in TASKS:
            raise UserError(f"unknown task {self.task!r}: use one of {TASKS}")
        check_source(self.dataset, self.data_path, self.image_dir)
        check_recipe_choice(self.task, self.recipe, self.recipe_file)
        if self.recipe == "auto" and self.text.stream and self.task == "text":
            raise UserError("--recipe=auto needs a validation split held out of training, which streamed text has not "
                            "yet: drop --stream_text, or use a named recipe, e.g. --recipe=prune-cluster-pqat")
        if self.task == "text" and self.search.study.workers > 1:
            raise UserError(f"--workers={self.search.study.workers}: search worker processes load image classifiers; "
                            "the text task's search runs in one process (--workers=1)")
        if not 0.0 < self.validation_fraction < 0.5:
            raise UserError(f"validation_fraction={self.validation_fraction} must be in (0, 0.5)")
        if self.precision not in PRECISIONS:
            raise UserError(f"unknown precision {self.precision!r}: use one of {PRECISIONS}")
        if self.strategy not in STRATEGIES:
            raise UserError(f"unknown strategy {self.strategy!r}: use one of {STRATEGIES}")
        if self.artifacts not in ARTIFACT_SETS:
            raise UserError(f"unknown artifact set {self.artifacts!r}: use one of {ARTIFACT_SETS}")
        if not self.output_dir:
            raise UserError("output_dir is empty: pass --output_dir=DIR")
        if self.latency_runs < 1 or self.num_calibration < 1:
            raise UserError(f"latency_runs ({self.latency_runs}) and num_calibration ({self.num_calibration}) "
                            "must be at least 1")
