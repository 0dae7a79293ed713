"""The names of the TFLite export modes (``tflite_export.convert`` documents each).

They live below every layer because a compression recipe and the search name the mode their artifact is exported
in, and those sit below the exporter.
"""
AEQ_MODES = ("int4", "int4_unrolled", "aeq_wi4")  # made by ai-edge-quantizer from the float32 graph (tflite_export.aeq)
MODES = ("float32", "float16", "dynamic", "int8", "int8_mixed", "int8_per_tensor", "int8_io", "uint8_io",
         "int16x8") + AEQ_MODES
CALIBRATED_MODES = ("int8", "int8_mixed", "int8_per_tensor", "int8_io", "uint8_io", "int16x8")
QAT_MODES = ("int8", "int8_per_tensor", "int8_io", "uint8_io")  # a fake-quant model converts only to integer


def unrolled(mode, unroll_rnn=False):
    """Whether an artifact in ``mode`` is converted from the unrolled RNN graph."""
    return unroll_rnn or mode == "int4_unrolled"
