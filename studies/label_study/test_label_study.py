"""The label-scarce study: every method at every fraction and seed, aggregated as mean ± std, written atomically."""
import json

from keras_ssl.models.classifier import ClassifierConfig
from keras_ssl.models.conv_autoencoder import AutoencoderConfig
from keras_ssl.ssl.contrastive import ContrastiveConfig
from keras_ssl.ssl.self_training import SelfTrainConfig
from keras_ssl.training.fit import TrainConfig
from studies.label_study.label_study import LabelStudyConfig, fashion_mnist_study, run_label_study, summarize


def test_summary_is_mean_and_std_over_seeds():
    rows = [{"label_fraction": 0.1, "method": m, "accuracy": a, "num_labels": 14, "seed": s}
            for m, accs in {"scratch": (0.5, 0.7), "contrastive_finetune": (0.8, 0.9),
                            "scratch_selftrain": (0.9, 1.0)}.items()
            for s, a in enumerate(accs)]
    stats, gains = summarize(rows)
    scratch = next(s for s in stats if s["method"] == "scratch")
    assert abs(scratch["mean"] - 0.6) < 1e-9 and abs(scratch["std"] - 0.1) < 1e-9 and scratch["runs"] == 2
    # The best *pretrained* method: scratch_selftrain (no pretraining) is a reference column, never the winner.
    assert len(gains) == 1 and gains[0]["best"] == "contrastive_finetune" and gains[0]["gain_points"] == 25.0


def test_label_study_runs_every_method_at_every_fraction_and_seed(tmp_path):
    fast = TrainConfig(epochs=1, min_steps=5, verbose=0)
    config = LabelStudyConfig(
        output_dir=str(tmp_path / "study"), seeds=(0,), fractions=(0.1, 1.0),
        classifier=ClassifierConfig(encoder=AutoencoderConfig(image_size=8, widths=(4, 8)), dropout=0.0),
        pretrain=fast, contrastive=ContrastiveConfig(epochs=1, verbose=0), finetune=fast,
        selftrain=SelfTrainConfig(epochs=1))
    gains, markdown = run_label_study(config)
    report = json.loads((tmp_path / "study" / "label_study.json").read_text())
    methods = {"scratch", "autoencoder_linear_probe", "autoencoder_finetune", "contrastive_linear_probe",
               "contrastive_finetune", "contrastive_selftrain", "scratch_selftrain"}
    assert {(r["method"], r["label_fraction"], r["seed"]) for r in report["rows"]} == {
        (m, f, 0) for m in methods for f in (0.1, 1.0)}
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in report["rows"])
    assert [g["label_fraction"] for g in gains] == [0.1, 1.0] and "± " in markdown
    assert (tmp_path / "study" / "label_study.md").read_text() == markdown


def test_fashion_mnist_study_swaps_in_mobilenet_v2_at_32_px():
    conv, mobilenet = fashion_mnist_study(), fashion_mnist_study("mobilenet_v2")
    assert conv.classifier.encoder.architecture == "conv" and conv.classifier.encoder.image_size == 28
    assert mobilenet.classifier.encoder.architecture == "mobilenet_v2" and mobilenet.classifier.encoder.image_size == 32
    assert mobilenet.contrastive == conv.contrastive and mobilenet.fractions == (0.01,)
