"""Running an attempt that is expected to fail and recording its exact error instead of crashing.

The failing approaches are evidence too: the report and docs quote the first line of each error and where it
was raised, so the failure must be captured, not propagated.
"""
import os
import re
import traceback


def _error(exc):
    """(first line, where) of an exception: the message without Keras' wrapper line, the op/layer and frame."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("Exception encountered when calling")] or [""]
    message = re.sub(r"^.*?error: (loc\(.*?\): )?", "", lines[0]) if "error: " in lines[0] else lines[0]
    layer = re.search(r"calling layer '([^']+)'", str(exc))
    source = re.search(r"tensorflow/[\w/]+\.cc:\d+", str(exc))
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    where = [f"layer {layer.group(1)}" if layer else "", source.group(0) if source else "",
             f"{os.path.basename(frame.filename)}:{frame.lineno} {frame.name}"]
    return {"status": "failed", "error_type": type(exc).__name__, "error": message[:400],
            "where": "; ".join(w for w in where if w)}


def attempt(name, fn):
    """Runs one attempt; its result dict, or the exact error (first line and where) if it raises."""
    try:
        return {"attempt": name, "status": "ok", **fn()}
    except Exception as exc:  # noqa: BLE001 (recording the failure is the point)
        return {"attempt": name, **_error(exc)}
