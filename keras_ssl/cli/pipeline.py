"""The main job: self-supervised pretraining → fine-tuning → compression → TFLite → measured report.

    python -m experiments.pipeline --task=image --output_dir=runs/image [--quick]

Flags only override the config from ``keras_ssl/configs``; the work happens in ``keras_ssl.pipeline``.
"""

from absl import flags

from keras_ssl.cli import image_flags, study_flags
from keras_ssl.cli.image_flags import IMAGE_FLAGS, image_source
from keras_ssl.cli.run import override, start

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(image_flags)  # --data_path, --dataset, --image_dir in this binary's --helpshort
flags.adopt_module_key_flags(study_flags)  # --study_storage, --workers, ... of --recipe=auto
flags.DEFINE_enum("task", "image", ["image", "text"], "Which seed model: image autoencoder or text BiLSTM MLM.")
flags.DEFINE_string("output_dir", None, "Folder for report.json, report.md, plots and artifacts/.")
flags.DEFINE_enum("encoder", None, ["conv", "mobilenet_v2"], "Image encoder: the small conv encoder, or Keras' "
                  "MobileNetV2 (untrained, width --alpha, --image_size 32 or more; pretrained with SimCLR).")
flags.DEFINE_float("alpha", None, "MobileNetV2 width multiplier (--encoder=mobilenet_v2), e.g. 0.35, 0.5, 1.0.",
                   lower_bound=0.0)
flags.DEFINE_list("text_files", None, "UTF-8 text files for the MLM (default: Python's pydoc_data.topics).")
flags.DEFINE_bool("stream_text", False, "Stream --text_files from disk every epoch instead of loading them "
                  "(corpora larger than memory): streamed vocabulary, hash-held-out test set, bounded memory.")
flags.DEFINE_enum("ssl", None, ["autoencoder", "contrastive"], "Image self-supervised pretraining: the "
                  "convolutional autoencoder (reconstruction) or SimCLR (two augmented views, NT-Xent).")
flags.DEFINE_enum("text_model", None, ["bilstm", "transformer"], "Text task model: the seed BiLSTM MLM or a "
                  "BERT-style transformer MLM (token + position embeddings, MultiHeadAttention blocks).")
flags.DEFINE_bool("quick", False, "Tiny epochs and models: a smoke run (timed in docs/results.md).")
flags.DEFINE_string("recipe", None, "Compression recipe: default (pruning + QAT rows), auto (accuracy-aware "
                    "search for the smallest int8 artifact within --budget_points), or a named recipe: tutorial, "
                    "prune-cluster-pqat, 2of4-int8, distill-prune, lottery, channels-finetune (image). Every "
                    "non-default run also reports the tfmot tutorial recipe as a peer row.")
flags.DEFINE_string("recipe_file", None, "Run a recipe saved as JSON (e.g. DIR/chosen_recipe.json of an auto run).")
flags.DEFINE_float("budget_points", None, "--recipe=auto: allowed accuracy drop vs the float model, in points.")
flags.DEFINE_enum("precision", "float32", ["float32", "mixed_float16", "mixed_bfloat16"],
                  "Training precision (Keras mixed-precision policy). Artifacts are always exported from float32 "
                  "layers; on CPUs without float16 arithmetic it trains slower (measured in docs/results.md).")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"],
                  "tf.distribute strategy for training: mirrored = local GPUs; multi_worker = the workers in TF_CONFIG "
                  "(see experiments/launch_workers.py). Batch sizes stay global (split over the replicas).")
flags.DEFINE_integer("seed", 0, "Seed for data splits, initialisation, masking and shuffling.")
flags.DEFINE_integer("pretrain_epochs", None, "Self-supervised pretraining epochs (autoencoder, SimCLR or MLM).",
                     lower_bound=1)
flags.DEFINE_float("pretrain_learning_rate", None, "Self-supervised pretraining learning rate (the BiLSTM's 8e-3 "
                   "is too high for the transformer MLM: use ~1e-3).", lower_bound=0.0)
flags.DEFINE_integer("finetune_epochs", None, "Fine-tuning epochs (image task).", lower_bound=1)
flags.DEFINE_integer("prune_epochs", None, "Training epochs while pruning: the default recipe's pruned row, the "
                     "named recipes' pruning steps and, with --recipe=auto, each search candidate.", lower_bound=1)
flags.DEFINE_integer("qat_epochs", None, "Quantization-aware training epochs (the qat_int8 row).",
                     lower_bound=1)
flags.DEFINE_float("target_sparsity", None, "Final fraction of pruned weights, in [0, 0.99], of the default recipe's "
                   "pruned row; named recipes and --recipe=auto set their own (refused with them).", lower_bound=0.0,
                   upper_bound=0.99)
flags.DEFINE_enum("prune_schedule", None, ["polynomial", "constant"], "Pruning schedule (the default recipe's "
                  "pruned row and the named recipes that prune to a target).")
flags.DEFINE_integer("batch_size", None, "Global training batch size (all replicas together), at most 65536.",
                     lower_bound=1, upper_bound=65536)
flags.DEFINE_integer("image_size", None, "Images are resized to this square size (multiple of 4).", lower_bound=8)
flags.DEFINE_list("label_fractions", None, "Label fractions for the scratch-vs-pretrained study, e.g. 0.01,0.1,1.")
flags.DEFINE_integer("vocab_size", None, "Text vocabulary size, special tokens included.", lower_bound=4)
flags.DEFINE_integer("seq_len", None, "Tokens per MLM sequence.", lower_bound=2)
flags.DEFINE_integer("latency_runs", None, "Timed batch-1 invocations per artifact.", lower_bound=1)
flags.DEFINE_enum("artifacts", None, ["all", "core"], "Which artifacts to export: all, or core (float32, "
                  "dynamic-range, int8, the compressed and MediaPipe rows; no float16, int16x8, ONNX or XLA), "
                  "about half the export time.")
flags.DEFINE_integer("num_calibration", None, "Representative inputs used to calibrate int8 artifacts.", lower_bound=1)
flags.DEFINE_bool("overwrite", False, "Replace an existing report and artifacts in --output_dir.")
flags.DEFINE_bool("tensorboard", True, "Write TensorBoard logs per stage (losses, metrics, pruning sparsity) under "
                  "--output_dir/tensorboard/; view with `tensorboard --logdir DIR/tensorboard`.")
flags.DEFINE_bool("resume", True, "Rerunning a killed or crashed run resumes its training from the last finished "
                  "epoch (per-epoch backups, removed on success); --noresume discards that backup and starts over.")
flags.DEFINE_string("backup_dir", None, "Where the per-epoch training backups go (default: <output_dir>.backup, "
                    "beside --output_dir).")
flags.mark_flag_as_required("output_dir")


# Flags that only one task reads; given with the other task they are refused rather than silently ignored.
TASK_FLAGS = {"image": IMAGE_FLAGS + ("encoder", "alpha", "ssl", "finetune_epochs", "image_size", "label_fractions"),
              "text": ("text_files", "stream_text", "text_model", "vocab_size", "seq_len")}


def _refuse_ignored_flags():
    """Refuses flags that the task or the chosen recipe would ignore, instead of silently running without them."""
    from keras_ssl.base.errors import UserError

    other = "text" if FLAGS.task == "image" else "image"
    ignored = [f"--{name}" for name in TASK_FLAGS[other] if FLAGS[name].present]
    if ignored:
        raise UserError(f"{', '.join(ignored)} only appl{'ies' if len(ignored) == 1 else 'y'} to --task={other}; "
                        f"this run is --task={FLAGS.task}: drop {'it' if len(ignored) == 1 else 'them'}")
    recipe = FLAGS.recipe or "default"
    fixed = ["--target_sparsity"] if FLAGS.target_sparsity is not None else []
    if FLAGS.recipe_file and FLAGS.prune_epochs is not None:
        fixed.append("--prune_epochs")
    if fixed and (recipe != "default" or FLAGS.recipe_file):
        given = f"--recipe_file={FLAGS.recipe_file}" if FLAGS.recipe_file else f"--recipe={recipe}"
        raise UserError(f"{' and '.join(fixed)} set the default recipe's pruning, but {given} fixes its own "
                        "(see docs/compression.md): drop the flag, or run --recipe=default")
    if FLAGS.budget_points is not None and recipe != "auto":
        raise UserError(f"--budget_points is the accuracy budget of --recipe=auto; --recipe={recipe} has none: drop "
                        "it, or run --recipe=auto")
    study = [f"--{name}" for name in study_flags.STUDY_FLAGS if FLAGS[name].present]
    if study and recipe != "auto":
        raise UserError(f"{', '.join(study)} set the search study of --recipe=auto; --recipe={recipe} runs no search: "
                        "drop them, or run --recipe=auto")


def config_from_flags():
    """The ``--task`` config from ``keras_ssl/configs`` with the flags applied; flags left unset (None) keep it."""
    from keras_ssl.base.errors import UserError
    from keras_ssl.configs import get_config

    _refuse_ignored_flags()
    config = get_config(FLAGS.task, FLAGS.quick, dataset=FLAGS.dataset or "digits", encoder=FLAGS.encoder or "conv")
    image, text = config.image, config.text
    fractions = None
    if FLAGS.label_fractions:
        try:
            fractions = tuple(float(f) for f in FLAGS.label_fractions)
        except ValueError:
            raise UserError(f"--label_fractions={','.join(FLAGS.label_fractions)} must be numbers in (0, 1], "
                            "e.g. 0.01,0.1,1") from None
    image = override(
        image, label_fractions=fractions, ssl=FLAGS.ssl,
        classifier=override(image.classifier, encoder=override(image.classifier.encoder,
                                                               image_size=FLAGS.image_size, alpha=FLAGS.alpha)),
        pretrain=override(image.pretrain, epochs=FLAGS.pretrain_epochs, batch_size=FLAGS.batch_size,
                          learning_rate=FLAGS.pretrain_learning_rate),
        # SimCLR keeps its own (larger) batch: its negatives come from the batch, so --batch_size does not apply.
        contrastive=override(image.contrastive, epochs=FLAGS.pretrain_epochs,
                             learning_rate=FLAGS.pretrain_learning_rate),
        finetune=override(image.finetune, epochs=FLAGS.finetune_epochs, batch_size=FLAGS.batch_size))
    text = override(text, stream=FLAGS.stream_text or None, model=FLAGS.text_model,
                    mlm=override(text.mlm, vocab_size=FLAGS.vocab_size, seq_len=FLAGS.seq_len),
                    pretrain=override(text.pretrain, epochs=FLAGS.pretrain_epochs, batch_size=FLAGS.batch_size,
                                      learning_rate=FLAGS.pretrain_learning_rate))
    prune = override(config.prune, epochs=FLAGS.prune_epochs, target_sparsity=FLAGS.target_sparsity,
                     schedule=FLAGS.prune_schedule)
    # The search trains its own pruned candidates: --prune_epochs is how long each one trains.
    search_prune = override(config.search.prune, epochs=FLAGS.prune_epochs if FLAGS.recipe == "auto" else None)
    return override(config, output_dir=FLAGS.output_dir, **image_source(),
                    text_files=tuple(FLAGS.text_files) if FLAGS.text_files else None, recipe=FLAGS.recipe,
                    recipe_file=FLAGS.recipe_file,
                    search=override(config.search, budget_points=FLAGS.budget_points, prune=search_prune,
                                    study=study_flags.study_config(config.search.study, FLAGS.output_dir,
                                                                   FLAGS.overwrite, FLAGS.resume)),
                    seed=FLAGS.seed, precision=FLAGS.precision, strategy=FLAGS.strategy,
                    latency_runs=FLAGS.latency_runs, artifacts=FLAGS.artifacts, image=image, text=text, prune=prune,
                    qat=override(config.qat, epochs=FLAGS.qat_epochs),
                    num_calibration=FLAGS.num_calibration, overwrite=FLAGS.overwrite,
                    tensorboard=FLAGS.tensorboard, resume=FLAGS.resume, backup_dir=FLAGS.backup_dir)


def pipeline_from_flags(args):
    """Runs the pipeline from the flags and returns the report's markdown."""
    from keras_ssl.pipeline.run import run_pipeline

    return run_pipeline(config_from_flags())[1]


def run():
    """Entry point: ``keras-ssl-pipeline`` and ``python -m experiments.pipeline``."""
    start(__name__, pipeline_from_flags)
