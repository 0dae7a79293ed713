"""Streamed text: same ids as the in-memory tokenizer, disjoint shards, BERT masking, clear errors, bounded memory."""
import collections
import json
import subprocess
import sys

import numpy as np
import pytest

from keras_ssl.base.errors import UserError
from keras_ssl.data.stream_split import Holdout, scan
from keras_ssl.data.streaming import build_vocabulary, stream_windows, streaming_mlm_dataset
from keras_ssl.data.text import load_pydoc_corpus, load_text_files
from keras_ssl.data.text_shards import read_blocks, shard_pieces
from keras_ssl.data.tokenizer import MASK_ID, NUM_SPECIAL, PAD_ID, Vocabulary, to_sequences
from keras_ssl.training.fit import TrainConfig, fit_callbacks

# Cut points that only whole-text tokenizing gets right if blocks were cut anywhere: mark runs, CRLF, a BOM,
# Unicode spaces (U+3000, U+00A0), a dotted capital I (lower() makes 2 characters), a final sigma, long tokens.
TRICKY = ("\ufeffTitle\r\n=====\r\nΟΔΟΣ ΟΔΟΣ\u3000İstanbul——x…… a\u00a0b\n"
          + "word" * 300 + " ----- f(x), y\n\n\n" + "z " * 50)


@pytest.fixture(scope="module")
def pydoc_files(tmp_path_factory):
    """The pydoc corpus as 7 UTF-8 files, with its in-memory vocabulary and to_sequences windows."""
    folder = tmp_path_factory.mktemp("pydoc")
    topics = load_pydoc_corpus()
    paths = []
    for i in range(7):
        paths.append(str(folder / f"part{i}.txt"))
        with open(paths[-1], "w", encoding="utf-8") as f:
            f.write("\n\n".join(topics[i::7]))
    vocab = Vocabulary.build(load_text_files(paths), 2000)
    return paths, vocab, to_sequences(load_text_files(paths), vocab, 32)


def test_streamed_vocabulary_and_windows_equal_the_in_memory_ones(pydoc_files):
    paths, vocab, expected = pydoc_files
    assert build_vocabulary(paths, 2000).tokens == vocab.tokens
    assert build_vocabulary(paths, 2000, processes=2, block_bytes=4096).tokens == vocab.tokens
    for block_bytes in (1 << 18, 1000):
        windows = np.concatenate(list(stream_windows(shard_pieces(paths), vocab, 32, block_bytes)))
        np.testing.assert_array_equal(windows, expected)
    ds = streaming_mlm_dataset(paths, vocab, 32, batch_size=64, seed=0, shuffle_buffer=0)
    np.testing.assert_array_equal(np.concatenate([labels.numpy() for _, labels, _ in ds]), expected)


def test_any_block_size_gives_the_whole_text_tokens(tmp_path):
    path = tmp_path / "tricky.txt"
    path.write_bytes(TRICKY.encode("utf-8"))
    vocab = Vocabulary.build([TRICKY], 100)
    expected = to_sequences(load_text_files([str(path)]), vocab, 8)
    for block_bytes in (1, 2, 3, 7, 64, 1 << 18):
        assert "".join(read_blocks(str(path), block_bytes=block_bytes)) == TRICKY  # bytes as they are: CRLF kept
        assert build_vocabulary([path], 100, block_bytes=block_bytes).tokens == vocab.tokens
        got = np.concatenate(list(stream_windows(shard_pieces([path]), vocab, 8, block_bytes)))
        np.testing.assert_array_equal(got, expected)


def test_file_sharding_is_disjoint_and_complete(pydoc_files):
    paths, vocab, expected = pydoc_files
    shards = [np.concatenate(list(stream_windows(shard_pieces(paths, 2, i), vocab, 32))) for i in range(2)]
    assert [p for p, _, _ in shard_pieces(paths, 2, 1)] == paths[1::2]
    rows = sorted(map(bytes, np.concatenate(shards)))
    assert rows == sorted(map(bytes, expected))


def test_byte_range_sharding_reads_every_line_once(tmp_path):
    path = tmp_path / "one.txt"
    path.write_bytes(("\n".join(f"line {i} é {'x' * (i % 13)}" for i in range(500)) + "\n" + TRICKY).encode())
    text = path.read_bytes().decode("utf-8")
    vocab = Vocabulary.build([text], 50)
    counts = collections.Counter(vocab.encode(text))
    for num_shards in (2, 3, 7, 1000):
        pieces = [shard_pieces([path], num_shards, i)[0] for i in range(num_shards)]
        assert "".join("".join(read_blocks(*piece, block_bytes=5)) for piece in pieces) == text
        ids = np.concatenate([w for i in range(num_shards)
                              for w in stream_windows(shard_pieces([path], num_shards, i), vocab, 8)]).ravel()
        streamed = collections.Counter(ids[ids != PAD_ID].tolist())
        assert not streamed - counts, "no token is read twice"
        assert sum((counts - streamed).values()) <= num_shards  # only 1-token range tails drop, as in to_sequences


def test_masking_proportions_on_the_stream(pydoc_files):
    paths, vocab, _ = pydoc_files
    ds = streaming_mlm_dataset(paths, vocab, 32, batch_size=128, seed=3)
    batches = [[t.numpy() for t in batch] for batch in ds]
    inputs, labels, weights = (np.concatenate([b[i] for b in batches]) for i in range(3))
    assert inputs.dtype == labels.dtype == np.int32 and weights.dtype == np.float32 and inputs.shape[1] == 32
    for _, _, w in batches:
        assert abs(w.mean() - 1.0) < 1e-4  # normalize_weights, as in mlm_dataset
    chosen, real = weights > 0, labels >= NUM_SPECIAL
    assert abs(chosen[real].mean() - 0.15) < 0.01 and not chosen[labels == PAD_ID].any()
    assert abs((inputs[chosen] == MASK_ID).mean() - 0.8) < 0.02
    assert abs((inputs[chosen] == labels[chosen]).mean() - 0.1) < 0.02
    assert (inputs[~chosen] == labels[~chosen]).all()
    again = next(iter(ds))[2].numpy()
    assert not np.array_equal(again, batches[0][2]), "dynamic masking: a new draw each pass"


def test_the_mlm_trains_on_the_stream(pydoc_files, tiny_mlm_config):
    from keras_ssl.models.bilstm_mlm import build_mlm
    from keras_ssl.training.fit import compile_for_logits

    paths, _, _ = pydoc_files
    vocab = build_vocabulary(paths, tiny_mlm_config.vocab_size)
    ds = streaming_mlm_dataset(paths, vocab, tiny_mlm_config.seq_len, 32, repeat=True)
    mlm = compile_for_logits(build_mlm(tiny_mlm_config), 1e-2, sparse_weighted=True)
    history = mlm.fit(ds, steps_per_epoch=5, epochs=2, verbose=0).history
    assert np.isfinite(history["loss"]).all() and len(history["loss"]) == 2


def test_stream_passes_are_keyed_on_seed_and_epoch(pydoc_files):
    """A resumed run rebuilds the dataset: its epoch e must be the uninterrupted run's epoch e, not epoch 0."""
    paths, vocab, _ = pydoc_files
    ds = streaming_mlm_dataset(paths, vocab, 32, batch_size=64, seed=5, shuffle_buffer=256)
    epochs = [[b[0].numpy() for b in ds] for _ in range(3)]
    assert not np.array_equal(epochs[1][0], epochs[2][0]), "a new order and new masks each pass"
    assert sorted(map(bytes, np.concatenate(epochs[1]))) != sorted(map(bytes, np.concatenate(epochs[2]))), "masks"
    fresh = streaming_mlm_dataset(paths, vocab, 32, batch_size=64, seed=5, shuffle_buffer=256)
    iterator = iter(fresh)
    fit_callbacks(TrainConfig(), fresh)[0].on_epoch_begin(2)  # what Keras does when it resumes at epoch 2
    for expected in epochs[2][:3]:
        np.testing.assert_array_equal(next(iterator)[0].numpy(), expected)


def test_hash_holdout_keeps_test_windows_out_of_training(pydoc_files):
    paths, vocab, expected = pydoc_files
    holdout = Holdout(seed=0, rate=0.1)
    split = scan(paths, vocab, 32, holdout, max_eval=50, num_calibration=20)
    test_rows = {bytes(row) for row in expected[holdout.is_test(expected)]}
    assert split.num_train + split.num_held_out == len(expected)
    assert abs(split.num_held_out / len(expected) - 0.1) < 0.03
    assert len(split.test) == 50 and {bytes(row) for row in split.test} <= test_rows
    ds = streaming_mlm_dataset(paths, vocab, 32, batch_size=64, keep=holdout.is_train,
                               steps=-(-split.num_train // 64))
    assert int(ds.cardinality()) == -(-split.num_train // 64)
    trained = np.concatenate([labels.numpy() for _, labels, _ in ds])
    assert len(trained) == split.num_train and not {bytes(row) for row in trained} & test_rows
    assert not {bytes(row) for row in split.calibration} & test_rows and len(split.calibration) == 20
    assert split.token_counts.argmax() == np.bincount(trained[trained >= NUM_SPECIAL]).argmax()
    assert (Holdout(seed=1, rate=0.1).is_test(expected) != holdout.is_test(expected)).any(), "seeded"


def test_streamed_text_split_feeds_the_pipeline(pydoc_files):
    from keras_ssl.models.bilstm_mlm import MLMConfig
    from keras_ssl.tasks.config import TextTaskConfig
    from keras_ssl.tasks.text_data import load_text

    paths, vocab, expected = pydoc_files
    task = TextTaskConfig(mlm=MLMConfig(vocab_size=2000, seq_len=32), stream=True, max_eval_sequences=40)
    streamed_vocab, split = load_text(task, tuple(paths), num_calibration=10)
    assert streamed_vocab.tokens == vocab.tokens and split.streamed and split.num_test == 40
    assert split.num_train > 0.97 * len(expected), "a few hundred held out, not test_fraction of a big corpus"
    inputs, labels, weights = split.eval_set
    assert inputs.shape == (40, 32) and (weights > 0).any() and 0.0 < split.unigram_accuracy() < 1.0
    assert int(split.train_dataset(64, 0).cardinality()) == -(-split.num_train // 64)
    with pytest.raises(UserError, match="--stream_text reads --text_files"):
        load_text(TextTaskConfig(stream=True))


def test_bad_input_gives_one_line_user_errors(tmp_path, pydoc_files):
    vocab = pydoc_files[1]
    empty, blank, latin1 = tmp_path / "empty.txt", tmp_path / "blank.txt", tmp_path / "latin1.txt"
    empty.write_bytes(b"")
    blank.write_text(" \n\n ")
    latin1.write_bytes(b"ok " * 1000 + "caf\xe9".encode("latin-1"))
    cases = [([tmp_path / "missing.txt"], "not found"), ([empty], "empty"), ([], "no text files"),
             ([latin1], r"not UTF-8 .* at byte 3003")]
    for paths, message in cases:
        with pytest.raises(UserError, match=message) as error:
            build_vocabulary(paths, 100)
        assert "\n" not in str(error.value)
        with pytest.raises(UserError, match=message):
            streaming_mlm_dataset(paths, vocab, 8, 4)
    with pytest.raises(UserError, match="no words"):
        build_vocabulary([blank], 100)
    with pytest.raises(UserError, match="has no text"):
        streaming_mlm_dataset([blank], vocab, 8, 4)
    with pytest.raises(UserError, match="shard_index"):
        streaming_mlm_dataset(pydoc_files[0], vocab, 8, 4, num_shards=2, shard_index=2)


_MEMORY_SCRIPT = """
import json, sys
from studies.streaming.memory import measured
from studies.streaming.stream_corpus import generate_corpus
from keras_ssl.data.masking import mlm_dataset
from keras_ssl.data.streaming import build_vocabulary, streaming_mlm_dataset
from keras_ssl.data.text import load_text_files
from keras_ssl.data.tokenizer import Vocabulary, to_sequences
from keras_ssl.base.keras import tf
paths = generate_corpus(sys.argv[2], int(sys.argv[1]), num_files=2)
tf.constant(0)
with measured() as stats:
    if sys.argv[3] == "streaming":
        vocab = build_vocabulary(paths, 2000)
        ds = streaming_mlm_dataset(paths, vocab, 32, 256)
    else:
        docs = load_text_files(paths)
        vocab = Vocabulary.build(docs, 2000)
        ds = mlm_dataset(to_sequences(docs, vocab, 32), len(vocab), 256)
    stats["windows"] = sum(len(labels) for _, labels, _ in ds)
print(json.dumps(stats))
"""


def _peak_growth(num_bytes, folder, mode):
    """Peak RSS growth (bytes) of a fresh process reading a generated corpus: vocabulary + one dataset pass."""
    out = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(num_bytes), str(folder), mode], check=True,
                         capture_output=True, text=True, timeout=300).stdout
    stats = json.loads(out.strip().splitlines()[-1])
    if not stats["peak_reset"]:
        pytest.skip("this kernel does not allow resetting the peak RSS (/proc/self/clear_refs)")
    return stats["peak_growth_kb"] * 1024


def test_streaming_memory_stays_below_the_corpus_size(tmp_path):
    # Measured: loaded whole, a corpus costs 9-14x its size (55 MB for 6 MB); streamed, a fixed ~10-25 MB (a 256 kB
    # block's Python objects, tf.data buffers, allocator arenas) whatever the size: 22 MB for 40 MB.  Margins >= 1.8x.
    small, large = 12 << 20, 40 << 20
    in_memory = _peak_growth(small, tmp_path / "small", "in_memory")
    streaming = _peak_growth(large, tmp_path / "large", "streaming")
    assert in_memory > 5 * small, f"in-memory path: {in_memory / 2**20:.0f} MB for {small >> 20} MB"
    assert streaming < large, f"streaming {large >> 20} MB grew the process by {streaming / 2**20:.0f} MB"
    assert streaming < in_memory / 2, "streaming 3x the text should cost far less than loading it whole"
