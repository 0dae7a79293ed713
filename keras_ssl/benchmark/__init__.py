"""Layer 8: measuring artifacts side by side (latency, size, memory, accuracy)."""
