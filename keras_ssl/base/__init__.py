"""Layer 0, under everything: the one Keras import, the user-error type, atomic file writes, size metrics."""
