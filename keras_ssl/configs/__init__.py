"""Configs as code: ``get_config(task, quick, dataset, encoder)`` returns the PipelineConfig the main job runs."""
import dataclasses

from keras_ssl.configs import fashion_mnist, image, text
from keras_ssl.models.conv_autoencoder import MOBILENET_MIN_SIZE

_BY_TASK = {"image": image, "text": text}


def get_config(task, quick=False, dataset="digits", encoder="conv"):
    """The PipelineConfig for ``task`` ("image" or "text"); ``quick`` gives the smoke-run variant.

    ``dataset="fashion_mnist"`` selects the Fashion-MNIST benchmark; ``encoder="mobilenet_v2"`` swaps in Keras'
    MobileNetV2 (at least 32 px, SimCLR pretraining: the autoencoder's decoder mirrors only the conv encoder).
    """
    config = fashion_mnist.get_config(quick) if dataset == "fashion_mnist" else _BY_TASK[task].get_config(quick)
    config = dataclasses.replace(config, dataset=dataset)
    if encoder == "conv":
        return config
    image = config.image
    backbone = dataclasses.replace(image.classifier.encoder, architecture=encoder,
                                   image_size=max(MOBILENET_MIN_SIZE, image.classifier.encoder.image_size))
    return dataclasses.replace(config, image=dataclasses.replace(
        image, ssl="contrastive", classifier=dataclasses.replace(image.classifier, encoder=backbone)))
