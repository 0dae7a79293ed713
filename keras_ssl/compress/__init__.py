"""Data path step 4: compression steps, each model (+ config) in, model out."""
