"""Data path step 7: measuring artifacts side by side (latency, size, memory, accuracy)."""
