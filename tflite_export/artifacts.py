"""Deployable artifacts: the .tflite, its associated files (labels / vocabulary) and a manifest beside it.

Layout for an artifact ``DIR/NAME.tflite``::

    DIR/NAME.tflite           the model (signature ``serving_default``: e.g. image -> logits)
    DIR/NAME.manifest.json    format, quantisation, inputs/outputs (dtype, shape, scale/zero point), ops,
                              XNNPACK coverage, sizes, sha256, associated files, validation results
    DIR/labels.txt            image task: one class name per line, in logit order
    DIR/vocab.txt             text task: one token per line, in id order (0 [PAD], 1 [UNK], 2 [MASK])

Associated files sit next to the model rather than inside it: the vocabulary can be as large as a small
artifact, which would distort its size (docs/export.md, "Measurements behind the code"), and Android/iOS apps
load them as assets anyway.  The manifest records their sha256 so a mismatched pair is detectable.  Nothing is
overwritten unless asked; every file is written atomically.
"""
import hashlib
import json
import os

from keras_ssl.base.errors import UserError
from keras_ssl.base.io_utils import atomic_write_bytes, atomic_write_json
from keras_ssl.base.keras import tf
from keras_ssl.base.machine import machine_info
from keras_ssl.base.metrics import file_sizes
from keras_ssl.base.tflite_modes import unrolled
from tflite_export.convert import to_tflite
from tflite_export.inspect import describe


def manifest_path(path):
    """``DIR/NAME.manifest.json`` for an artifact ``DIR/NAME.tflite``."""
    return os.path.splitext(path)[0] + ".manifest.json"


def sha256(data):
    """Hex SHA-256 of ``data`` (bytes), as recorded in manifests."""
    return hashlib.sha256(data).hexdigest()


def check_writable(paths, overwrite):
    """Refuses to replace existing artifacts unless ``overwrite``: a re-run must not silently clobber a shipped
    model."""
    existing = [p for p in paths if os.path.exists(p)]
    if existing and not overwrite:
        raise UserError(f"{existing[0]} already exists: pass --overwrite to replace it, or choose another "
                        "output folder")


def write_associated_files(folder, files, overwrite=True):
    """Writes ``{name: text}`` next to the artifacts; returns manifest entries with each file's sha256."""
    entries = []
    for name, text in sorted(files.items()):
        data = text.encode("utf-8")
        path = os.path.join(folder, name)
        if os.path.exists(path) and not overwrite:
            with open(path, "rb") as f:
                if f.read() != data:
                    raise UserError(f"{path} exists with different content: pass --overwrite to replace it")
        atomic_write_bytes(path, data)
        entries.append({"name": name, "sha256": sha256(data), "bytes": len(data)})
    return entries


def export_tflite(source, path, mode, representative_data=None, num_calibration=100, allow_flex=False,
                  associated_files=None, overwrite=False, extra=None, unroll_rnn=False, embed=None, size_first=False):
    """Converts ``source`` in ``mode``, writes ``path`` + manifest (+ associated files); returns the manifest.

    ``embed`` (flatbuffer bytes → bytes) adds what the converter does not write, e.g. MediaPipe's TFLite metadata.
    ``extra`` (e.g. validation results) is merged into the manifest.  The manifest is written last, so a
    manifest on disk always describes a complete model file.
    """
    check_writable([path, manifest_path(path)], overwrite)
    flatbuffer = to_tflite(source, mode, representative_data=representative_data, num_calibration=num_calibration,
                           allow_flex=allow_flex, unroll_rnn=unroll_rnn, size_first=size_first)
    if embed is not None:
        flatbuffer = embed(flatbuffer)
    atomic_write_bytes(path, flatbuffer)
    associated = write_associated_files(os.path.dirname(os.path.abspath(path)), associated_files or {})
    size, gz = file_sizes(path)
    manifest = {"file": os.path.basename(path), "format": "tflite", "quantization": mode,
                "unrolled_rnn": unrolled(mode, unroll_rnn), "size_bytes": size, "gzip_bytes": gz,
                "sha256": sha256(flatbuffer),
                "source": source if isinstance(source, str) else getattr(source, "name", "model"),
                "converter": f"tensorflow {tf.__version__}", "associated_files": associated,
                "machine": machine_info()}  # where it was converted and validated: CPU, ISA flags, runtime versions
    manifest.update(describe(path))
    manifest.update(extra or {})
    atomic_write_json(manifest_path(path), manifest)
    return manifest


def update_manifest(path, **fields):
    """Adds fields (validation, latency) to an existing artifact's manifest, atomically."""
    with open(manifest_path(path)) as f:
        manifest = json.load(f)
    manifest.update(fields)
    atomic_write_json(manifest_path(path), manifest)
    return manifest
