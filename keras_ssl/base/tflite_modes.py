"""The names of the TFLite export modes (``tflite_export.convert`` documents each).

They live below every layer because a compression recipe and the search name the mode their artifact is exported
in, and those sit below the exporter.
"""
MODES = ("float32", "float16", "dynamic", "int8", "int8_per_tensor", "int8_io", "uint8_io", "int16x8")
CALIBRATED_MODES = ("int8", "int8_per_tensor", "int8_io", "uint8_io", "int16x8")
QAT_MODES = ("int8", "int8_per_tensor", "int8_io", "uint8_io")  # a fake-quant model converts only to integer
