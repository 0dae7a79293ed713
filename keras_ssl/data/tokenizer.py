"""A word-level vocabulary with fixed special ids, so masking and export agree on what 0, 1 and 2 mean.

Kept deliberately simple (lower-cased words and punctuation): the MLM is a seed model for compression work, and a
plain-text vocabulary file is easy to ship beside a .tflite artifact.
"""
import collections
import re

import numpy as np

from keras_ssl.base.errors import UserError
from keras_ssl.base.io_utils import atomic_write_text

PAD, OOV, MASK = "[PAD]", "[UNK]", "[MASK]"
PAD_ID, OOV_ID, MASK_ID = 0, 1, 2
SPECIAL_TOKENS = (PAD, OOV, MASK)
NUM_SPECIAL = len(SPECIAL_TOKENS)

# Words, or one punctuation mark; a run of the same mark ("-----" under a heading) is one token.
_TOKEN_RE = re.compile(r"[a-z0-9_]+|([^\sa-z0-9_])\1*")


def split_words(text):
    """Lower-cased words and punctuation marks, a run of one repeated mark counting as one token."""
    return [m.group(0) for m in _TOKEN_RE.finditer(text.lower())]


class Vocabulary:
    """Maps words to ids: 0 padding, 1 out-of-vocabulary, 2 mask, then words by descending frequency."""

    def __init__(self, tokens):
        if list(tokens[:NUM_SPECIAL]) != list(SPECIAL_TOKENS):
            raise UserError(f"a vocabulary must start with {SPECIAL_TOKENS}, got {tokens[:NUM_SPECIAL]}")
        self.tokens = list(tokens)
        self._ids = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def build(cls, docs, vocab_size):
        """Special tokens, then up to ``vocab_size`` - 3 words of ``docs`` by frequency (ties alphabetical)."""
        if vocab_size <= NUM_SPECIAL:
            raise UserError(f"vocab_size={vocab_size} must be larger than the {NUM_SPECIAL} special tokens")
        return cls.from_counts(collections.Counter(w for doc in docs for w in split_words(doc)), vocab_size)

    @classmethod
    def from_counts(cls, counts, vocab_size):
        """``build`` from word counts ({word: count}); the streaming vocabulary uses it, so ids agree exactly."""
        if vocab_size <= NUM_SPECIAL:
            raise UserError(f"vocab_size={vocab_size} must be larger than the {NUM_SPECIAL} special tokens")
        if not counts:
            raise UserError("the text corpus has no words to build a vocabulary from")
        words = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        return cls(list(SPECIAL_TOKENS) + words[:vocab_size - NUM_SPECIAL])

    @classmethod
    def load(cls, path):
        """Reads a vocab.txt (one token per line, in id order); raises UserError if it lacks the special tokens."""
        with open(path, encoding="utf-8") as f:
            return cls([line.rstrip("\n") for line in f])

    def to_text(self):
        """One token per line, in id order: the vocab.txt shipped next to text artifacts."""
        return "\n".join(self.tokens) + "\n"

    def save(self, path):
        """Writes ``to_text()`` to ``path`` atomically."""
        atomic_write_text(path, self.to_text())

    def __len__(self):
        return len(self.tokens)

    def encode(self, text):
        """Token ids of ``text``; unknown words map to OOV_ID (1)."""
        return [self._ids.get(w, OOV_ID) for w in split_words(text)]

    def decode(self, ids):
        """Tokens for ``ids``; ids outside the vocabulary become [UNK]."""
        return [self.tokens[i] if 0 <= i < len(self.tokens) else OOV for i in ids]


def to_sequences(docs, vocab, seq_len):
    """Cuts each document into windows of ``seq_len`` ids; a document's last window is padded with PAD_ID."""
    if seq_len < 2:
        raise UserError(f"seq_len={seq_len} must be at least 2")
    rows = []
    for doc in docs:
        ids = vocab.encode(doc)
        for start in range(0, len(ids), seq_len):
            window = ids[start:start + seq_len]
            if len(window) >= 2:
                rows.append(window + [PAD_ID] * (seq_len - len(window)))
    if not rows:
        raise UserError("the text corpus is too short: no sequence of 2 or more tokens")
    return np.asarray(rows, dtype=np.int32)
