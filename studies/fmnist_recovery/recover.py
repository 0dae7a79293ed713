"""Applies one compression recipe to a trained Fashion-MNIST classifier and scores its int8 artifact on the test set.

The images are split as the benchmark splits them for ``--recipe=auto`` (seed 0, 15% of the training images held out
for validation), so the recipe trains on the same 51,000 images the benchmark's search candidates train on.
"""
import numpy as np

from keras_ssl.base.keras import tf_keras
from keras_ssl.base.metrics import gzip_bytes
from keras_ssl.compress.recipes import RecipeContext, apply_recipe
from keras_ssl.configs.fashion_mnist import get_config
from keras_ssl.data.images import hold_out_validation, load_images
from keras_ssl.models.students import build_student_classifier, student_config_for
from keras_ssl.pipeline.image_task import fit_to_data
from keras_ssl.training.fit import classification_dataset, compile_for_logits
from tflite_export.convert import to_tflite
from tflite_export.runner import TFLiteModel


def accuracy(runner, images, labels):
    """Top-1 accuracy of a LiteRT model, run at batch 1 as an app runs it."""
    return float(np.mean(np.argmax(runner.predict(images), -1) == labels))


def recover(model_path, recipe, seed=0):
    """The recipe's artifact: gzip bytes, test and validation accuracy, and the float model's test accuracy."""
    config = get_config()
    data = load_images(None, image_size=config.image.classifier.encoder.image_size, seed=seed, dataset="fashion_mnist")
    classifier = fit_to_data(config.image, data).classifier  # the channels and classes the benchmark's run used
    data, (x_val, y_val) = hold_out_validation(data, config.validation_fraction, seed)
    model = tf_keras.models.load_model(model_path, compile=False)
    context = RecipeContext(
        dataset=classification_dataset(data.x_train, data.y_train, config.image.finetune.batch_size, seed=seed),
        compile=compile_for_logits,
        build_student=lambda **kwargs: build_student_classifier(student_config_for(classifier, **kwargs)))
    tf_keras.utils.set_random_seed(seed)
    compressed = apply_recipe(model, recipe, context)
    content = to_tflite(compressed, recipe.mode, representative_data=data.x_train[:config.num_calibration])
    runner = TFLiteModel(model_content=content)
    float_test = float(np.mean(np.argmax(model.predict(data.x_test, verbose=0), -1) == data.y_test))
    return {"recipe": recipe.name, "gzip_bytes": gzip_bytes(content), "test_accuracy": accuracy(runner, data.x_test,
            data.y_test), "val_accuracy": accuracy(runner, x_val, y_val), "float_test_accuracy": float_test}
