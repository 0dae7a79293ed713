"""ONNX → TVM Relax → a native CPU library (.so): an optional deployment path (``pip install keras-ssl[tvm]``).

Why: TVM compiles the model ahead of time into one shared library run by a small runtime (the Relax VM), for
targets and toolchains where neither LiteRT nor onnxruntime fits.  The input is the ONNX artifact
(``tflite_export.onnx_export.to_onnx``).  Image models compile; the BiLSTM MLM does not (TVM's Relax ONNX frontend
has no ``LSTM`` op: a one-line UserError says so).

What is measured, like the other formats: top-1 agreement, max |difference| and accuracy against the Keras model
(``validate.compare_outputs``), run at batch 1 as a phone would; compile time and latency by the caller.

Untuned, and slow because of it: the default CPU pipeline of apache-tvm 0.27 turns each op into plain loops with
no schedule (no explicit vectorisation, no parallel loops), several times slower than LiteRT's XNNPACK kernels
(measured: docs/export.md).  MetaSchedule tuning would close the gap but crashes in the 0.27 wheel; nothing here
tunes.
"""
import os
import shutil
import tempfile
import time

import numpy as np

from keras_ssl.base.errors import UserError
from keras_ssl.base.io_utils import atomic_write_bytes, require_file

_INSTALL_HINT = "TVM is not installed: pip install keras-ssl[tvm] (apache-tvm==0.27.x)"


def _tvm():
    """(tvm, tvm.relax), imported on first use: TVM is an optional extra and its first import takes seconds."""
    try:
        import tvm
        from tvm import relax
    except ImportError:
        raise UserError(_INSTALL_HINT) from None
    return tvm, relax


def _first_line(error):
    """TVM errors carry a C++ backtrace; users need the first non-empty line only."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _load_onnx(onnx_path_or_bytes):
    """(ModelProto, label for messages); unreadable input becomes a one-line UserError."""
    import onnx

    if isinstance(onnx_path_or_bytes, (bytes, bytearray)):
        label, data = f"({len(onnx_path_or_bytes)} bytes in memory)", bytes(onnx_path_or_bytes)
    else:
        label = os.fspath(onnx_path_or_bytes)
        require_file(label, "ONNX model", "export it with tflite_export.onnx_export.save_onnx")
        with open(label, "rb") as f:
            data = f.read()
    try:
        proto = onnx.load_from_string(data)
    except Exception as e:  # protobuf's DecodeError and onnx's own errors
        raise UserError(f"cannot load ONNX model {label}: {_first_line(e)}; re-export it "
                        "(tflite_export.onnx_export.to_onnx)") from None
    if not proto.graph.node:  # arbitrary bytes can parse as an empty protobuf message
        raise UserError(f"cannot load ONNX model {label}: it has no graph; re-export it "
                        "(tflite_export.onnx_export.to_onnx)")
    return proto, label


def _input_spec(proto, label):
    """(name, shape with batch 1, numpy dtype name) of the model's only input.

    The batch is fixed to 1 because phones run batch 1 and static shapes let TVM plan all memory at compile time;
    every other dimension must already be fixed.
    """
    import onnx

    initializers = {t.name for t in proto.graph.initializer}  # old exporters also list weights as inputs
    inputs = [i for i in proto.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise UserError(f"TVM export handles single-input models; ONNX model {label} has {len(inputs)} inputs")
    tensor = inputs[0].type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    if not dims or None in dims[1:]:
        raise UserError(f"TVM export needs fixed input sizes (the batch excepted); input {inputs[0].name!r} of "
                        f"{label} has shape {['?' if d is None else d for d in dims]}")
    dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)).name
    return inputs[0].name, [1] + dims[1:], dtype


def to_tvm(onnx_path_or_bytes, lib_path, target="llvm"):
    """Compiles an ONNX model (path or bytes) for ``target`` and writes the library to ``lib_path`` atomically.

    The default ``"llvm"`` is the host's generic CPU, so the .so runs on any x86-64 (or whatever the host is).
    Another CPU is named with TVM 0.27's dict form, e.g. ``{"kind": "llvm", "mcpu": "skylake"}`` (the
    ``"llvm -mcpu=..."`` string form was removed, and ``mcpu="native"`` falls back to generic).  Naming the CPU
    gained nothing measurable on untuned code.  Linking needs a C compiler on PATH (g++, gcc or clang, or $CXX).
    Returns ``lib_path``.
    """
    tvm, relax = _tvm()
    from tvm.relax.frontend.onnx import from_onnx

    proto, label = _load_onnx(onnx_path_or_bytes)
    name, shape, dtype = _input_spec(proto, label)
    try:
        mod = from_onnx(proto, shape_dict={name: shape}, dtype_dict={name: dtype})
    except Exception as e:  # the frontend raises assorted types for ops it lacks
        raise UserError(f"TVM cannot import ONNX model {label}: {type(e).__name__}: {_first_line(e)}; replace "
                        "that layer or deploy with another format") from None
    # The library describes its own input (read by TVMGraph) through a function that returns zeros of the input's
    # shape and dtype: it is computed when called, so the .so stores no copy of the input and no sidecar file is needed.
    builder = relax.BlockBuilder(mod)
    with builder.function("example_input", []):
        builder.emit_func_output(builder.emit(relax.op.zeros(relax.ShapeExpr(shape), dtype)))
    try:
        executable = tvm.compile(builder.get(), target=target)
    except Exception as e:
        raise UserError(f"TVM cannot compile ONNX model {label} for target {target!r}: {_first_line(e)}") from None
    with tempfile.TemporaryDirectory(prefix="tvm-export-") as folder:
        built = os.path.join(folder, "model.so")
        try:
            executable.export_library(built)  # TVM writes .o files and links them with the system C compiler
        except (RuntimeError, OSError, ValueError) as e:
            raise UserError(f"cannot link the TVM library for {label}: {_first_line(e)} (TVM links with a C compiler "
                            "on PATH: install g++/gcc/clang or set $CXX)") from None
        with open(built, "rb") as f:
            atomic_write_bytes(lib_path, f.read())
    return lib_path


class TVMGraph:
    """A library from ``to_tvm`` in the Relax VM on the CPU, at batch 1 (one input, first output).

    It has the benchmark harness's graph interface (``keras_ssl.benchmark.graphs.Graph``: ``name``, ``path``,
    ``format``, ``init_us``, ``input_shape`` without batch, ``input_dtype``, ``set_batch``, ``invoke``, ``output``,
    ``predict``, ``check_batch``), so the harness can time it unchanged.  ``num_threads`` is accepted for that
    interface and has no effect: untuned kernels are plain loops that TVM's thread pool never runs.
    """

    format = "tvm"

    def __init__(self, path, num_threads=1, batch_size=1):
        tvm, relax = _tvm()
        self.path = os.fspath(path)
        self.name = os.path.basename(self.path)
        require_file(self.path, "TVM library", "compile it with tflite_export.tvm_export.to_tvm")
        if batch_size != 1:
            raise UserError(f"{self.path} is compiled for batch 1; it cannot run batch {batch_size} "
                            "(use --batch_size=1)")
        start = time.perf_counter()
        try:
            vm = relax.VirtualMachine(self._load_private_copy(tvm), tvm.cpu())
            example = vm["example_input"]()
        except Exception as e:  # dlopen failures and libraries not built by to_tvm
            raise UserError(f"cannot load TVM library {self.path}: {_first_line(e)}; recompile it "
                            "(tflite_export.tvm_export.to_tvm)") from None
        self.init_us = (time.perf_counter() - start) * 1e6
        self._main = vm["main"]
        self._tensor = tvm.runtime.tensor
        self.input_shape = tuple(int(d) for d in example.shape[1:])
        self.input_dtype = np.dtype(str(example.dtype))

    def _load_private_copy(self, tvm):
        """glibc's dlopen hands back the library it already loaded from a path even after that file was replaced,
        so a re-exported .so would silently run (and validate) the old model in this process.  A copy under a new
        name is loaded instead; it is deleted right away, the loaded mapping outlives it."""
        with tempfile.TemporaryDirectory(prefix="tvm-load-") as folder:
            private = os.path.join(folder, self.name if self.name.endswith(".so") else self.name + ".so")
            shutil.copyfile(self.path, private)
            return tvm.runtime.load_module(private)

    def check_batch(self, batch):
        """Raises UserError unless ``batch`` is one example of the input shape, batch dimension included."""
        if tuple(batch.shape) != (1,) + self.input_shape:
            raise UserError(f"{self.path}: input shape {tuple(batch.shape)} does not match the library's "
                            f"{(1,) + self.input_shape} (TVM libraries are compiled for batch 1)")

    def set_batch(self, batch):
        """Checks the batch and copies it into a TVM tensor, outside the timed call."""
        batch = np.asarray(batch)
        self.check_batch(batch)
        self._x = self._tensor(np.ascontiguousarray(batch, dtype=self.input_dtype))

    def invoke(self):
        """One VM call on the staged batch, its first output made a numpy array inside the timed call."""
        out = self._main(self._x)
        out = out if hasattr(out, "__dlpack__") else out[0]  # a tuple when the model has several outputs
        # A zero-copy view (~1 µs; Tensor.numpy() copies in ~15 µs, measured): it stays valid after later calls,
        # since the VM allocates each call's outputs afresh rather than reusing a planned buffer.
        self._out = np.from_dlpack(out)

    def output(self):
        """The first output of the last ``invoke``, batch dimension first."""
        return self._out

    def predict_one(self, example):
        """The output for one example (no batch dimension)."""
        self.set_batch(np.asarray(example)[None])
        self.invoke()
        return self._out[0]

    def predict(self, examples):
        """Outputs for ``examples`` stacked, run one at a time at batch 1."""
        return np.stack([self.predict_one(x) for x in examples])


def validate_tvm(lib_path, reference, inputs, top1=None, score=None, max_drop_points=1.0):
    """Runs the library on ``inputs`` at batch 1 and judges it against ``reference`` (the Keras outputs) exactly as
    ``validate.validate_tflite`` judges a .tflite.  Returns (result dict with ``passed``, library outputs)."""
    from tflite_export.validate import argmax_top1, compare_outputs, judge  # LiteRT loads only when validating

    outputs = TVMGraph(lib_path).predict(inputs)
    return judge(compare_outputs(outputs, reference, top1 or argmax_top1, score), max_drop_points), outputs
