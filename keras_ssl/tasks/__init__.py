"""Layer 7: task definitions: the image and text task configs, their splits, and the labelled data any tool scores
an artifact on (so a number from the benchmark or the export job matches the pipeline's report)."""
