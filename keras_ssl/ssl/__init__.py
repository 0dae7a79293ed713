"""Data path step 3: self-supervised pretraining, then fine-tuning and linear probes on labels."""
