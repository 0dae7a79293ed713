"""Layer 3: training infrastructure every later step shares: fit settings and callbacks, resumable backups, mixed
precision, tf.distribute strategies and the multi-worker launcher."""
