"""The probe: the small 8x8 digits CNN of the design documents (37.5k params), a fixed reference for the search
and the int8 speed study."""
from keras_ssl.base.keras import tf_keras


def probe_cnn(softmax=False):
    """The untrained 8x8 digits CNN of the design documents (37.5k params): logits, or softmax probabilities."""
    layers = tf_keras.layers
    return tf_keras.Sequential([
        layers.Input((8, 8, 1), name="image"), layers.Conv2D(32, 3, activation="relu", name="conv"),
        layers.Flatten(name="flatten"), layers.Dense(32, activation="relu", name="hidden"),
        layers.Dense(10, activation="softmax" if softmax else None, name="probs" if softmax else "logits")],
        name="probe_softmax" if softmax else "probe")
