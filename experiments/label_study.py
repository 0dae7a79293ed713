"""Scratch vs autoencoder vs contrastive pretraining at 1-100% labels, over several seeds (mean ± std).

    python -m experiments.label_study --output_dir=runs/label_study [--seeds=0,1,2] [--fractions=0.01,0.05,0.1,1]
"""
import sys

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", "runs/label_study", "Folder for label_study.json and label_study.md.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds; each redraws the split, label subsets, init and pretraining.")
flags.DEFINE_list("fractions", ["0.01", "0.05", "0.1", "1"], "Label fractions in (0, 1].")
flags.DEFINE_integer("contrastive_epochs", 30, "SimCLR pretraining epochs.", lower_bound=1)
flags.DEFINE_integer("pretrain_epochs", 15, "Autoencoder pretraining epochs.", lower_bound=1)
flags.DEFINE_string("data_path", None, "Local MNIST file in the Keras mnist.npz format (default: embedded digits).")


def main(argv):
    """Runs the study from the flags and prints its markdown."""
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}: all options are --flags (see --helpfull)")
    from keras_ssl.errors import UserError

    try:
        try:
            seeds = tuple(int(s) for s in FLAGS.seeds)
            fractions = tuple(float(f) for f in FLAGS.fractions)
        except ValueError:
            raise UserError("--seeds must be integers and --fractions numbers in (0, 1]") from None
        if not seeds or any(not 0 < f <= 1 for f in fractions):
            raise UserError(f"need at least one seed and fractions in (0, 1], got {seeds}, {fractions}")
        import dataclasses

        from keras_ssl.ssl.label_study import LabelStudyConfig, run_label_study

        config = LabelStudyConfig(output_dir=FLAGS.output_dir, data_path=FLAGS.data_path or "", seeds=seeds,
                                  fractions=fractions)
        config = dataclasses.replace(
            config, pretrain=dataclasses.replace(config.pretrain, epochs=FLAGS.pretrain_epochs),
            contrastive=dataclasses.replace(config.contrastive, epochs=FLAGS.contrastive_epochs))
        _, markdown = run_label_study(config)
    except UserError as e:
        sys.exit(f"error: {e}")
    print(markdown)


if __name__ == "__main__":
    app.run(main)
