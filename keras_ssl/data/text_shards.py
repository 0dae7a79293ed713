"""Reading text files in bounded memory: line-aligned byte ranges (shards) read block by block.

No TensorFlow here, so the vocabulary pass can run in worker processes that start fast.  A *piece* is
``(path, start, end)``: the lines whose first byte lies in ``[start, end)``.  Pieces of one file never share a line,
and ``split_words`` never sees a token cut in two, because blocks are only ever cut just after whitespace (no token
contains whitespace, so the words of a file are the words of its blocks, in order).
"""
import codecs
import collections
import os
import re

from keras_ssl.base.errors import UserError
from keras_ssl.base.io_utils import require_file
from keras_ssl.data.tokenizer import split_words

BLOCK_BYTES = 1 << 18  # 256 kB of text per block: ~55k tokens, ~4 MB of Python objects while it is split
_SCAN_BYTES = 1 << 16
_CUT_CHARS = " \n\t\r"
_SPACE_RE = re.compile(r"\s")


def file_sizes(paths):
    """Byte size of each path; UserError for no paths, a missing path, or files that are all empty."""
    paths = [str(p) for p in paths]
    if not paths:
        raise UserError("no text files given: pass one or more UTF-8 files")
    for path in paths:
        require_file(path, "text file", "pass existing UTF-8 files")
    sizes = [os.path.getsize(p) for p in paths]
    if not any(sizes):
        raise UserError(f"the text corpus is empty: {', '.join(paths)} hold no text")
    return sizes


def shard_pieces(paths, num_shards=1, shard_index=0):
    """The pieces worker ``shard_index`` of ``num_shards`` reads.

    With at least ``num_shards`` files, sharding is by file (files ``shard_index::num_shards``, whole): windows are
    then exactly those of unsharded reading.  With fewer files, every file is cut into ``num_shards`` line-aligned
    byte ranges and worker i reads range i of each: every line is read by exactly one worker, but a window never
    spans two ranges (each range's last window is padded, like a document's).
    """
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise UserError(f"shard_index={shard_index} must be in [0, num_shards={num_shards})")
    sizes = file_sizes(paths)
    paths = [str(p) for p in paths]
    if len(paths) >= num_shards:
        return [(p, 0, s) for p, s in list(zip(paths, sizes))[shard_index::num_shards]]
    return [(p, s * shard_index // num_shards, s * (shard_index + 1) // num_shards) for p, s in zip(paths, sizes)]


def split_pieces(paths, piece_bytes):
    """Every file cut into line-aligned pieces of about ``piece_bytes``: work units for parallel counting."""
    pieces = []
    for path, size in zip(paths, file_sizes(paths)):
        n = max(1, -(-size // piece_bytes))
        pieces += [(str(path), size * i // n, size * (i + 1) // n) for i in range(n)]
    return pieces


def _line_start(f, offset, size):
    """The first offset >= ``offset`` where a line starts (0, or just after a b"\\n"); ``size`` if none."""
    if offset <= 0:
        return 0
    if offset >= size:
        return size
    pos = offset - 1
    f.seek(pos)
    while True:
        chunk = f.read(_SCAN_BYTES)
        if not chunk:
            return size
        i = chunk.find(b"\n")
        if i >= 0:
            return pos + i + 1
        pos += len(chunk)


def _cut(text):
    """Index just after the last whitespace of ``text`` (0 if none): a safe place to split it for split_words."""
    cut = max(text.rfind(c) for c in _CUT_CHARS) + 1
    if cut == 0:  # only other Unicode spaces (the same set as split_words' \s), or no whitespace at all
        for match in _SPACE_RE.finditer(text):
            cut = match.end()
    return cut


def read_blocks(path, start=0, end=None, block_bytes=BLOCK_BYTES):
    """Yields the text of piece ``(path, start, end)`` as strings of about ``block_bytes``, each cut after whitespace.

    Raises UserError (with the byte offset) where the file is not valid UTF-8.  A run of text with no whitespace is
    kept whole, so memory is bounded by ``block_bytes`` plus the longest token.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        begin = _line_start(f, start, size)
        stop = _line_start(f, size if end is None else min(end, size), size)
        f.seek(begin)
        pos, carry = begin, ""
        while pos < stop:
            raw = f.read(min(block_bytes, stop - pos))
            if not raw:
                break  # the file shrank while being read
            pending = len(decoder.getstate()[0])
            try:
                text = carry + decoder.decode(raw, final=pos + len(raw) >= stop)
            except UnicodeDecodeError as e:
                raise UserError(f"{path} is not UTF-8 text ({e.reason} at byte {pos - pending + e.start}); "
                                "convert it to UTF-8") from None
            pos += len(raw)
            cut = _cut(text[len(carry):])  # the carry has no whitespace: only the new text can hold a cut
            if cut:
                yield text[:len(carry) + cut]
                carry = text[len(carry) + cut:]
            else:
                carry = text
        if carry:
            yield carry


def count_piece(piece, block_bytes=BLOCK_BYTES):
    """(word counts, number of tokens) of one piece, block by block."""
    counts, tokens = collections.Counter(), 0
    for block in read_blocks(*piece, block_bytes=block_bytes):
        words = split_words(block)
        counts.update(words)
        tokens += len(words)
    return counts, tokens
