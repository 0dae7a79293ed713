"""Exports one model to every artifact users ship, each validated against it in LiteRT.

    python -m experiments.export --model=runs/demo/image/artifacts/keras_float32.keras --task=image \
        --output_dir=runs/export/image [--modes=float32,float16,dynamic,int8,int8_io] [--onnx] [--xla]

Writes NAME_MODE.tflite + NAME_MODE.manifest.json per mode, labels.txt or vocab.txt, export_report.{json,md}.
Exit status: 0 when every requested artifact was written and passed validation, 1 otherwise, 2 on bad input.
"""
from absl import flags

from keras_ssl.cli import image_flags
from keras_ssl.cli.image_flags import image_source
from keras_ssl.cli.run import EXIT_FAILED, fail, start

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(image_flags)  # --data_path, --dataset, --image_dir in this binary's --helpshort
flags.DEFINE_string("model", None, "A .keras/.h5 file (plain, pruned or QAT) or a SavedModel folder.")
flags.DEFINE_string("output_dir", None, "Folder for the artifacts, their manifests and export_report.{json,md}.")
flags.DEFINE_list("modes", ["float32", "float16", "dynamic", "int8", "int8_io"],
                  "TFLite modes: float32, float16 (GPU delegate), dynamic, int8 (float I/O), int8_io / uint8_io "
                  "(integer-only, integer I/O), int8_mixed (int8 but the ops XNNPACK lacks int8 kernels for, e.g. "
                  "attention, in float32), int16x8, int4 / int4_unrolled (int4 weights by ai-edge-quantizer; "
                  "_unrolled unrolls RNNs first), aeq_wi4 (ai-edge-quantizer's own dynamic_wi4_afp32 recipe).")
flags.DEFINE_enum("task", None, ["image", "text"], "Calibration data, accuracy and labels/vocab from this task's "
                  "splits (the pipeline's). Without it, pass --calibration_npy for int8 modes.")
flags.DEFINE_list("text_files", None, "Corpus for --task=text (default: Python's pydoc_data.topics).")
flags.DEFINE_bool("stream_text", False, "The test split of a pipeline run made with --stream_text (same files).")
flags.DEFINE_string("vocab", None, "vocab.txt for --task=text (default: vocab.txt beside --model).")
flags.DEFINE_string("calibration_npy", None, "An .npy of real model inputs, for calibration without --task.")
flags.DEFINE_integer("num_calibration", 100, "Representative inputs used to calibrate int8/int16x8.", lower_bound=1)
flags.DEFINE_integer("num_validation", 0, "Validate on this many inputs (0 = all); not with --task.", lower_bound=0)
flags.DEFINE_float("max_drop_points", 1.0, "Validation fails if accuracy drops more than this (points).")
flags.DEFINE_bool("onnx", False, "Also export ONNX (tf2onnx) and check it in onnxruntime.")
flags.DEFINE_bool("xla", False, "Also export an XLA-compiled SavedModel and check it.")
flags.DEFINE_bool("tvm", False, "Also compile the ONNX model with TVM (Relax, llvm, untuned) into NAME.so and check "
                  "it (pip install keras-ssl[tvm]).")
flags.DEFINE_bool("mediapipe", True, "With --task=image: also NAME_mediapipe_{float32,uint8}.tflite, which MediaPipe's "
                  "ImageClassifier loads as they are (RGB in, probabilities out, metadata with the labels), each "
                  "checked by running MediaPipe (pip install mediapipe==1.2.3).")
flags.DEFINE_bool("allow_flex", False, "Permit TensorFlow (Flex) ops; the artifact then needs the Flex delegate.")
flags.DEFINE_bool("unroll_rnn", False, "Unroll LSTM/GRU layers so XNNPACK runs them (the fused int8 LSTM kernel is "
                  "not delegated), for a somewhat larger file; measured in studies/int8_speed/README.md.")
flags.DEFINE_bool("size_first", False, "int4 modes (ai-edge-quantizer): accept ops that then run on builtin kernels "
                  "instead of XNNPACK (e.g. int4 convolutions), for the smaller file; refused without it.")
flags.DEFINE_bool("overwrite", False, "Replace existing artifacts in --output_dir.")
flags.mark_flags_as_required(["model", "output_dir"])


def export_from_flags(args):
    """Runs the export job from the flags; returns its table, and exit code 1 if an artifact failed or was
    skipped."""
    from keras_ssl.jobs.export_job import ExportRequest, run_export

    request = ExportRequest(
        model=FLAGS.model, output_dir=FLAGS.output_dir, modes=tuple(FLAGS.modes), task=FLAGS.task,
        **image_source(), text_files=tuple(FLAGS.text_files or ()), stream_text=FLAGS.stream_text,
        vocab=FLAGS.vocab, calibration_npy=FLAGS.calibration_npy, num_calibration=FLAGS.num_calibration,
        num_validation=FLAGS.num_validation, onnx=FLAGS.onnx, xla=FLAGS.xla, tvm=FLAGS.tvm, mediapipe=FLAGS.mediapipe,
        allow_flex=FLAGS.allow_flex, unroll_rnn=FLAGS.unroll_rnn, size_first=FLAGS.size_first,
        overwrite=FLAGS.overwrite, max_drop_points=FLAGS.max_drop_points)
    report, markdown = run_export(request)
    failed = [a["file"] for a in report["artifacts"] if not a["passed"]]
    if failed or report["skipped"]:
        print(markdown)
        fail(f"{len(failed)} artifact(s) failed validation {failed}, {len(report['skipped'])} mode(s) not exported "
             "(see above)", EXIT_FAILED)
    return markdown


def run():
    """Entry point: ``keras-ssl-export`` and ``python -m experiments.export``."""
    start(__name__, export_from_flags)
