"""Layer 4 (beside compress): self-supervised pretraining, then fine-tuning and linear probes on labels."""
