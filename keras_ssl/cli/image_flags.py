"""The flags that name the images, shared by the pipeline, export and benchmark binaries (one source at a time)."""
from absl import flags

flags.DEFINE_string("data_path", None, "Local MNIST file in the Keras mnist.npz format (default: embedded digits).")
flags.DEFINE_enum("dataset", None, ["digits", "fashion_mnist"], "Named image data set: scikit-learn's digits (the "
                  "default) or Fashion-MNIST from the Keras cache folder (`make fashion-mnist` puts it there).")
flags.DEFINE_string("image_dir", None, "Your own images: one subfolder per class of JPEG/PNG/BMP/GIF files (the "
                    "Keras image_dataset_from_directory layout), resized to the model's size, split 80/20 by seed.")

IMAGE_FLAGS = ("data_path", "dataset", "image_dir")


def image_source():
    """{data_path, dataset, image_dir} from the flags, for a job request or ``load_images``."""
    values = flags.FLAGS
    return {"data_path": values.data_path, "dataset": values.dataset or "digits", "image_dir": values.image_dir}
