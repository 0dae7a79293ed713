"""Image classifiers that MediaPipe Tasks' ``ImageClassifier`` (the engine behind Android's on-device vision API)
loads as they are, and the check that it does.

MediaPipe refuses what the plain export writes: a 1-channel input ("depth = 3 or 4"), an int8 input tensor (it
takes uint8 or float32) and a float model without ``NormalizationOptions`` metadata; and it shows raw logits as
scores, so its ``score_threshold`` means nothing.  Hence three steps:

- ``mobile_classifier`` (model → model): an RGB input, through an exact RGB→gray 1×1 convolution when the model
  takes gray images, and probabilities out (a softmax is appended unless the model ends in one);
- ``with_metadata``: TFLite metadata written by MediaPipe's own metadata writer: the image input normalised as
  pixel / 255 (what the models train on), the labels as an associated file, names and descriptions;
- ``check_in_mediapipe``: runs the artifact in MediaPipe on uint8 RGB images and compares its top-1 with LiteRT's
  on the same pixels.

The RGB→gray weights are (65, 127, 25) / 217: within 0.0022 of BT.601's (0.299, 0.587, 0.114), summing to 1, and
already int8 values times one scale, so per-channel int8 quantisation keeps them exactly and a gray image sent as
R = G = B comes out unchanged in float32 and in int8 (BT.601's own weights changed 87 of the 256 gray levels by one
step in int8).  Full-integer artifacts take uint8 pixels as they are, which needs an input scale of exactly 1/255
and zero point 0: ``mobile_calibration`` puts a black and a white image first in the calibration set to get it, and
``check_in_mediapipe`` refuses an artifact without it.
"""
import numpy as np

from keras_ssl.base.errors import UserError
from keras_ssl.base.keras import tf_keras
from tflite_export.runner import TFLiteModel

RGB_TO_GRAY = np.array([65.0, 127.0, 25.0], np.float32) / 217.0
MEDIAPIPE_PIN = "mediapipe==1.2.3"
# The MediaPipe-ready artifacts of an image classifier: name → TFLite mode (the pipeline's rows, the export's files).
MEDIAPIPE_ARTIFACTS = {"mediapipe_float32": "float32", "mediapipe_uint8": "uint8_io"}
NOT_INSTALLED = (f"MediaPipe is not installed: pip install {MEDIAPIPE_PIN} (after keras-ssl: it upgrades absl-py, "
                 "which tensorflow-model-optimization's metadata does not allow but runs with)")


def _ends_in_softmax(model):
    last = model.layers[-1]
    return isinstance(last, tf_keras.layers.Softmax) or getattr(last, "activation", None) is \
        tf_keras.activations.softmax


def mobile_classifier(model):
    """``model`` (images in [0, 1], 1 or 3 channels, logits or probabilities out) as an RGB-in, probabilities-out
    classifier: the same predictions, in the shape MediaPipe's ImageClassifier takes."""
    shape = tuple(model.inputs[0].shape[1:])
    if len(shape) != 3 or shape[-1] not in (1, 3):
        raise UserError(f"model {model.name!r} takes inputs of shape {shape}: a MediaPipe image classifier takes "
                        "images (height, width, 1 or 3 channels)")
    image = tf_keras.Input(shape[:2] + (3,), name="image")
    x = image
    if shape[-1] == 1:
        gray = tf_keras.layers.Conv2D(1, 1, use_bias=False, trainable=False, name="rgb_to_gray")
        x = gray(x)
        gray.set_weights([RGB_TO_GRAY.reshape(1, 1, 3, 1)])
    x = model(x)
    if not _ends_in_softmax(model):
        x = tf_keras.layers.Softmax(name="probabilities")(x)
    return tf_keras.Model(image, x, name=f"{model.name}_mediapipe")


def to_rgb(images):
    """Gray images as R = G = B; RGB images unchanged."""
    images = np.asarray(images)
    return images if images.shape[-1] == 3 else np.repeat(images, 3, axis=-1)


def to_pixels(images):
    """[0, 1] float images as the uint8 RGB pixels an app hands MediaPipe."""
    return np.clip(np.round(to_rgb(images) * 255.0), 0, 255).astype(np.uint8)


def mobile_calibration(images):
    """RGB calibration images led by a black and a white one, so a uint8 input is quantised as pixel / 255."""
    rgb = to_rgb(np.asarray(images, np.float32))
    return np.concatenate([np.zeros_like(rgb[:1]), np.ones_like(rgb[:1]), rgb])


def _metadata_writer():
    try:
        from tflite_export.mediapipe_metadata_version import install

        install()
        from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer
    except ImportError:
        raise UserError(NOT_INSTALLED) from None
    return metadata_writer


def with_metadata(flatbuffer, class_names, description):
    """``flatbuffer`` with the TFLite metadata MediaPipe's ImageClassifier requires, labels packed inside."""
    writer_module = _metadata_writer()
    writer = writer_module.MetadataWriter(bytearray(flatbuffer))
    writer.add_general_info("ImageClassifier", description)
    writer.add_image_input(norm_mean=[0.0], norm_std=[255.0], description="RGB image; pixel / 255 is what the "
                           "model was trained on")
    writer.add_classification_output(writer_module.Labels().add([str(name) for name in class_names]),
                                     name="probabilities", description="Class probabilities (softmax)")
    model, _ = writer.populate()
    # The first call's import leaves this frame referenced from an importer frame: freed at exit, the writer's
    # __del__ would fail on a half-torn-down interpreter ("Exception ignored ... MetadataWriter.__del__").
    del writer
    return bytes(model)


def _check_pixel_input(path, litert):
    dtype = np.dtype(litert.input["dtype"])
    if dtype == np.float32:
        return
    scale, zero_point = litert.input["quantization"]
    if dtype != np.uint8 or zero_point != 0 or not np.isclose(scale, 1 / 255, rtol=1e-6):
        raise UserError(f"{path} takes {dtype.name} input quantised with scale {scale:.6g} and zero point "
                        f"{zero_point}; MediaPipe feeds raw uint8 pixels, which needs uint8 at 1/255 and 0: "
                        "export it with the uint8_io mode and calibration from mobile_calibration")


def _litert_scores(litert, pixels):
    if np.dtype(litert.input["dtype"]) == np.float32:
        return litert.predict(pixels.astype(np.float32) / 255.0)
    return litert.predict(pixels)


def check_in_mediapipe(path, images, class_names):
    """Loads ``path`` in MediaPipe's ImageClassifier, classifies ``images`` (uint8 RGB) and compares with LiteRT on
    the same pixels.  A MediaPipe top-1 that differs from LiteRT's argmax only where two quantised scores are equal
    is a tie, not a disagreement (MediaPipe breaks ties in another order)."""
    try:
        import mediapipe
        from mediapipe.tasks.python import vision
        from mediapipe.tasks.python.core.base_options import BaseOptions
    except ImportError:
        raise UserError(NOT_INSTALLED) from None
    litert = TFLiteModel(model_path=path)
    _check_pixel_input(path, litert)
    options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=path),
                                            running_mode=vision.RunningMode.IMAGE, max_results=-1)
    try:
        classifier = vision.ImageClassifier.create_from_options(options)
    except (RuntimeError, ValueError) as e:
        raise UserError(f"MediaPipe refuses {path}: {str(e).strip().splitlines()[0][:300]}") from None
    litert_scores = _litert_scores(litert, images)
    top, scores, names = [], np.zeros_like(litert_scores, dtype=np.float32), []
    with classifier:
        for i, image in enumerate(images):
            result = classifier.classify(mediapipe.Image(image_format=mediapipe.ImageFormat.SRGB,
                                                         data=np.ascontiguousarray(image)))
            categories = result.classifications[0].categories
            top.append(categories[0].index)
            names.append(categories[0].category_name)
            for category in categories:
                scores[i, category.index] = category.score
    top = np.asarray(top)
    exact = top == np.argmax(litert_scores, -1)
    tied = ~exact & (litert_scores[np.arange(len(top)), top] == litert_scores.max(-1))
    return {"runtime": f"mediapipe {mediapipe.__version__}", "task": "vision.ImageClassifier", "images": len(top),
            "top1_agreement_with_litert": float(np.mean(exact | tied)), "ties": int(tied.sum()),
            "max_abs_score_diff": float(np.abs(scores - litert_scores).max()),
            "label_names_match": all(name == str(class_names[i]) for name, i in zip(names, top))}
