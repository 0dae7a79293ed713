"""Text corpora: the Python stdlib docs (``pydoc_data.topics``, the offline default) or any UTF-8 files."""

from keras_ssl.base.errors import UserError
from keras_ssl.base.io_utils import require_file


def load_pydoc_corpus():
    """The documentation topics shipped with CPython (~65k words): real English prose and code, always offline."""
    from pydoc_data import topics

    return [topics.topics[k] for k in sorted(topics.topics)]


def load_text_files(paths):
    """Reads UTF-8 files, one document per file; refuses missing, undecodable or all-empty input."""
    docs = []
    for path in paths:
        require_file(path, "text file", "pass existing UTF-8 files to --text_files")
        try:
            with open(path, encoding="utf-8") as f:
                docs.append(f.read())
        except UnicodeDecodeError as e:
            raise UserError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start}); convert it to UTF-8") from None
    if not any(doc.strip() for doc in docs):
        raise UserError(f"the text corpus is empty: {', '.join(paths) or '(no files)'} hold no text")
    return docs


def load_corpus(text_files=None):
    """The pipeline's entry point: the given files, else the embedded stdlib docs."""
    return load_text_files(text_files) if text_files else load_pydoc_corpus()
