import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.data.text import load_corpus, load_text_files
from keras_ssl.data.tokenizer import MASK_ID, OOV_ID, PAD_ID, Vocabulary, split_words, to_sequences


def test_default_corpus_is_the_stdlib_docs():
    docs = load_corpus()
    assert len(docs) > 50 and sum(len(d.split()) for d in docs) > 50_000


def test_vocabulary_special_ids_frequency_order_and_oov(tmp_path):
    vocab = Vocabulary.build(["the cat sat on the mat", "the dog"], vocab_size=6)
    assert vocab.tokens[:3] == ["[PAD]", "[UNK]", "[MASK]"] and (PAD_ID, OOV_ID, MASK_ID) == (0, 1, 2)
    assert vocab.tokens[3] == "the" and len(vocab) == 6
    assert vocab.encode("the zebra")[1] == OOV_ID
    vocab.save(tmp_path / "vocab.txt")
    assert Vocabulary.load(tmp_path / "vocab.txt").tokens == vocab.tokens


def test_punctuation_runs_are_one_token():
    assert split_words("Title\n-----\nf(x), y") == ["title", "-----", "f", "(", "x", ")", ",", "y"]


def test_sequences_are_windowed_and_padded():
    vocab = Vocabulary.build(["a b c d e f g"], vocab_size=10)
    seqs = to_sequences(["a b c d e f", "g"], vocab, seq_len=4)
    # "g" alone is too short to mask and predict, so it is dropped.
    assert seqs.shape == (2, 4) and seqs.dtype == np.int32
    assert list(seqs[1][2:]) == [PAD_ID, PAD_ID] and PAD_ID not in seqs[0]


def test_text_file_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_text_files([str(tmp_path / "missing.txt")])
    empty = tmp_path / "empty.txt"
    empty.write_text("   \n")
    with pytest.raises(UserError, match="empty"):
        load_text_files([str(empty)])
    binary = tmp_path / "latin1.txt"
    binary.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(UserError, match="not UTF-8"):
        load_text_files([str(binary)])
    ok = tmp_path / "ok.txt"
    ok.write_text("hello world")
    assert load_text_files([str(ok)]) == ["hello world"]


def test_search_validation_masks_the_held_out_windows_several_times():
    from keras_ssl.tasks.config import TextTaskConfig
    from keras_ssl.tasks.text_data import in_memory_split

    docs = load_corpus()[:40]
    vocab = Vocabulary.build(docs, vocab_size=300)
    split = in_memory_split(docs, vocab, 16, TextTaskConfig(validation_masks=3, max_eval_sequences=50), seed=0,
                            num_calibration=10, validation=True)
    inputs, labels, weights = split.validation
    windows = len(inputs) // 3
    assert len(inputs) == 3 * windows and np.array_equal(labels[:windows], labels[windows:2 * windows])
    first, second = weights[:windows] > 0, weights[windows:2 * windows] > 0
    assert first.any() and second.any() and (first != second).any(), "each draw masks other positions"
    with pytest.raises(UserError, match="validation_masks"):
        TextTaskConfig(validation_masks=0)
