"""Layer 1: images (digits, MNIST), text corpora, vocabulary and masking."""
