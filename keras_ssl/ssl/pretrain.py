"""Self-supervised pretraining: image reconstruction and masked-token prediction, on unlabeled data only."""
from keras_ssl.data.masking import mlm_dataset, normalize_weights
from keras_ssl.keras import tf_keras
from keras_ssl.ssl.training import compile_for_logits, tensorboard


def pretrain_autoencoder(autoencoder, x_unlabeled, config, x_val=None):
    """Trains the autoencoder to reproduce its input (MSE); the encoder learns features without any label."""
    tf_keras.utils.set_random_seed(config.seed)
    autoencoder.compile(optimizer=tf_keras.optimizers.Adam(config.learning_rate), loss="mse")
    history = autoencoder.fit(x_unlabeled, x_unlabeled, epochs=config.epochs, batch_size=config.batch_size,
                              shuffle=True, validation_data=None if x_val is None else (x_val, x_val),
                              verbose=config.verbose, callbacks=tensorboard(config.log_dir))
    return history.history


def pretrain_mlm(mlm, train_sequences, vocab_size, config, val_data=None):
    """Trains the MLM on dynamically re-masked batches; ``val_data`` is a fixed (inputs, labels, weights) set."""
    tf_keras.utils.set_random_seed(config.seed)
    compile_for_logits(mlm, config.learning_rate, sparse_weighted=True)
    ds = mlm_dataset(train_sequences, vocab_size, config.batch_size, seed=config.seed)
    if val_data is not None:
        inputs, labels, weights = val_data
        val_data = (inputs, labels, normalize_weights(weights).numpy())
    history = mlm.fit(ds, epochs=config.epochs, validation_data=val_data, verbose=config.verbose,
                      callbacks=tensorboard(config.log_dir))
    return history.history
