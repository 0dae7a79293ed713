"""Scratch vs autoencoder vs contrastive pretraining (probe, fine-tune, self-training) at 1-100% labels, over
several seeds (mean ± std).

    python -m studies.label_study.main --output_dir=runs/label_study [--seeds=0,1,2] [--fractions=0.01,0.05,0.1,1]
    python -m studies.label_study.main --dataset=fashion_mnist [--encoder=mobilenet_v2 --alpha=0.35]
"""
from absl import flags

from keras_ssl.cli.run import override, start

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", "runs/label_study", "Folder for label_study.json and label_study.md.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds; each redraws the split, label subsets, init and pretraining.")
flags.DEFINE_list("fractions", None, "Label fractions in (0, 1] (digits: 0.01,0.05,0.1,1; fashion_mnist: 0.01).")
flags.DEFINE_integer("contrastive_epochs", None, "SimCLR pretraining epochs (digits: 30).", lower_bound=1)
flags.DEFINE_integer("pretrain_epochs", None, "Autoencoder pretraining epochs (digits: 15).", lower_bound=1)
flags.DEFINE_integer("selftrain_epochs", None, "Self-training epochs over every training image (digits: 30).",
                     lower_bound=1)
flags.DEFINE_bool("self_training", None, "Add the two self-training rows (digits: on; fashion_mnist: off).")
flags.DEFINE_integer("selftrain_neighbors", None, "Neighbours per image in the graph labels spread on (20).",
                     lower_bound=1)
flags.DEFINE_string("data_path", None, "Local MNIST file in the Keras mnist.npz format (default: embedded digits).")
flags.DEFINE_enum("dataset", "digits", ["digits", "fashion_mnist"], "fashion_mnist: the benchmark's classifier and "
                  "SimCLR settings, SimCLR only (no autoencoder); unset flags keep that config's values.")
flags.DEFINE_enum("encoder", "conv", ["conv", "mobilenet_v2"], "fashion_mnist only: Keras' MobileNetV2 (at 32 px) "
                  "instead of the 2-conv encoder, as the pipeline's --encoder.")
flags.DEFINE_float("alpha", None, "MobileNetV2's width multiplier (--encoder=mobilenet_v2; 0.35).", lower_bound=0.0)
flags.DEFINE_integer("finetune_epochs", None, "Fine-tuning epochs of every classifier (fashion_mnist: 15).",
                     lower_bound=1)


def study_from_flags(args):
    """Builds the study config from the flags, runs it and returns its markdown."""
    from keras_ssl.base.errors import UserError
    from studies.label_study.label_study import LabelStudyConfig, fashion_mnist_study, run_label_study

    try:
        seeds = tuple(int(s) for s in FLAGS.seeds)
        fractions = tuple(float(f) for f in FLAGS.fractions) if FLAGS.fractions else None
    except ValueError:
        raise UserError("--seeds must be integers and --fractions numbers in (0, 1]") from None
    if not seeds or any(not 0 < f <= 1 for f in fractions or ()):
        raise UserError(f"need at least one seed and fractions in (0, 1], got {seeds}, {fractions}")
    if FLAGS.dataset == "fashion_mnist" and FLAGS.data_path:
        raise UserError("--data_path and --dataset=fashion_mnist each name the images to use: give only one")
    if FLAGS.encoder != "conv" and FLAGS.dataset != "fashion_mnist":
        raise UserError(f"--encoder={FLAGS.encoder} runs with --dataset=fashion_mnist only (the digits are 8x8)")
    config = fashion_mnist_study(FLAGS.encoder) if FLAGS.dataset == "fashion_mnist" else LabelStudyConfig()
    config = override(config, output_dir=FLAGS.output_dir, data_path=FLAGS.data_path, seeds=seeds,
                      fractions=fractions, self_training=FLAGS.self_training)
    classifier = config.classifier
    return run_label_study(override(
        config, classifier=override(classifier, encoder=override(classifier.encoder, alpha=FLAGS.alpha)),
        finetune=override(config.finetune, epochs=FLAGS.finetune_epochs),
        pretrain=override(config.pretrain, epochs=FLAGS.pretrain_epochs),
        contrastive=override(config.contrastive, epochs=FLAGS.contrastive_epochs),
        selftrain=override(config.selftrain, epochs=FLAGS.selftrain_epochs, neighbors=FLAGS.selftrain_neighbors)))[1]


if __name__ == "__main__":
    start(__name__, study_from_flags)
