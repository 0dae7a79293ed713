"""The main job: self-supervised pretraining → fine-tuning → compression → TFLite → measured report.

Flags and logic: ``keras_ssl/cli/pipeline.py``; ``python -m experiments.pipeline --helpshort`` lists the flags.
"""
from keras_ssl.cli.pipeline import run

if __name__ == "__main__":
    run()
