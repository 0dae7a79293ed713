"""The text task the sharding experiments train on: the MLM config, corpus split and held-out masked loss.

Kept apart from the approaches so every approach (and the unsharded comparison) sees exactly the same data.
"""
import numpy as np


def setup(quick, steps=None, batch_size=64, learning_rate=8e-3, seed=0, compare=True):
    """(MLMConfig, train sequences, fixed masked eval set, run settings, Vocabulary): the text task's corpus."""
    import dataclasses

    from keras_ssl.data.masking import fixed_masked_set
    from keras_ssl.data.text import load_corpus
    from keras_ssl.data.tokenizer import Vocabulary, to_sequences
    from keras_ssl.models.bilstm_mlm import MLMConfig

    config = MLMConfig(vocab_size=500, seq_len=16, embedding_dim=16, lstm_units=16, dropout=0.0) if quick \
        else MLMConfig()
    docs = load_corpus()[:60] if quick else load_corpus()
    vocab = Vocabulary.build(docs, config.vocab_size)
    config = dataclasses.replace(config, vocab_size=len(vocab))
    sequences = to_sequences(docs, vocab, config.seq_len)
    order = np.random.default_rng(seed).permutation(len(sequences))
    train, test = sequences[order[100:]], sequences[order[:100]]
    run = dict(steps=steps or (20 if quick else 200), batch_size=batch_size, learning_rate=learning_rate, seed=seed,
               compare=compare)
    return config, train, fixed_masked_set(test, config.vocab_size, seed=seed), run, vocab


def masked_loss(logits, labels, weights):
    """Mean cross-entropy over the masked positions only: the MLM's held-out loss."""
    from keras_ssl.base.keras import tf_keras

    ce = tf_keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True).numpy()
    return float(ce[weights > 0].mean())
