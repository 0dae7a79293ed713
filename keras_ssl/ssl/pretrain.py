"""Self-supervised pretraining: image reconstruction and masked-token prediction, on unlabeled data only."""
import numpy as np

from keras_ssl.base.keras import tf, tf_keras
from keras_ssl.data.epochs import array_dataset, shard_by_data, with_epoch
from keras_ssl.data.masking import mlm_dataset, normalize_weights
from keras_ssl.training.fit import compile_for_logits, fit_callbacks


def pretrain_autoencoder(autoencoder, x_unlabeled, config, x_val=None):
    """Trains the autoencoder to reproduce its input (MSE); the encoder learns features without any label."""
    tf_keras.utils.set_random_seed(config.seed)
    autoencoder.compile(optimizer=tf_keras.optimizers.Adam(config.learning_rate), loss="mse")
    # A keyed dataset, not fit(x, shuffle=True): Keras's own shuffle would replay epoch 0's order after a resume.
    ds, epoch_var = array_dataset((x_unlabeled.astype(np.float32),), config.batch_size, seed=config.seed)
    ds = with_epoch(shard_by_data(ds.map(lambda x: (x, x)).prefetch(tf.data.AUTOTUNE)), epoch_var)
    history = autoencoder.fit(ds, epochs=config.epochs, validation_data=None if x_val is None else (x_val, x_val),
                              verbose=config.verbose, callbacks=fit_callbacks(config, ds))
    return history.history


def pretrain_mlm(mlm, train, vocab_size, config, val_data=None):
    """Trains the MLM on dynamically re-masked batches; ``val_data`` is a fixed (inputs, labels, weights) set.

    ``train`` is a numpy array of token-id windows (masked here by ``mlm_dataset``) or an already masked dataset
    of (inputs, labels, weights) batches, such as a streamed corpus (``streaming_mlm_dataset``).
    """
    tf_keras.utils.set_random_seed(config.seed)
    compile_for_logits(mlm, config.learning_rate, sparse_weighted=True)
    if isinstance(train, tf.data.Dataset):
        ds = train
    else:
        ds = mlm_dataset(train, vocab_size, config.batch_size, seed=config.seed)
    if val_data is not None:
        inputs, labels, weights = val_data
        val_data = (inputs, labels, normalize_weights(weights).numpy())
    history = mlm.fit(ds, epochs=config.epochs, validation_data=val_data, verbose=config.verbose,
                      callbacks=fit_callbacks(config, ds))
    return history.history
