"""Layer 4 (beside ssl): compression steps, each model (+ config) in, model out."""
