"""Scratch vs autoencoder vs contrastive pretraining (probe, fine-tune, self-training) at 1-100% labels, over
several seeds (mean ± std).

    python -m studies.label_study.main --output_dir=runs/label_study [--seeds=0,1,2] [--fractions=0.01,0.05,0.1,1]
"""
from absl import flags

from keras_ssl.cli.run import start

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", "runs/label_study", "Folder for label_study.json and label_study.md.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds; each redraws the split, label subsets, init and pretraining.")
flags.DEFINE_list("fractions", ["0.01", "0.05", "0.1", "1"], "Label fractions in (0, 1].")
flags.DEFINE_integer("contrastive_epochs", 30, "SimCLR pretraining epochs.", lower_bound=1)
flags.DEFINE_integer("pretrain_epochs", 15, "Autoencoder pretraining epochs.", lower_bound=1)
flags.DEFINE_integer("selftrain_epochs", 30, "Self-training epochs over every training image.", lower_bound=1)
flags.DEFINE_integer("selftrain_neighbors", 20, "Neighbours per image in the graph labels spread on.", lower_bound=1)
flags.DEFINE_string("data_path", None, "Local MNIST file in the Keras mnist.npz format (default: embedded digits).")


def study_from_flags(args):
    """Builds the study config from the flags, runs it and returns its markdown."""
    import dataclasses

    from keras_ssl.base.errors import UserError
    from studies.label_study.label_study import LabelStudyConfig, run_label_study

    try:
        seeds = tuple(int(s) for s in FLAGS.seeds)
        fractions = tuple(float(f) for f in FLAGS.fractions)
    except ValueError:
        raise UserError("--seeds must be integers and --fractions numbers in (0, 1]") from None
    if not seeds or any(not 0 < f <= 1 for f in fractions):
        raise UserError(f"need at least one seed and fractions in (0, 1], got {seeds}, {fractions}")
    config = LabelStudyConfig(output_dir=FLAGS.output_dir, data_path=FLAGS.data_path or "", seeds=seeds,
                              fractions=fractions)
    config = dataclasses.replace(
        config, pretrain=dataclasses.replace(config.pretrain, epochs=FLAGS.pretrain_epochs),
        contrastive=dataclasses.replace(config.contrastive, epochs=FLAGS.contrastive_epochs),
        selftrain=dataclasses.replace(config.selftrain, epochs=FLAGS.selftrain_epochs,
                                      neighbors=FLAGS.selftrain_neighbors))
    return run_label_study(config)[1]


if __name__ == "__main__":
    start(__name__, study_from_flags)
