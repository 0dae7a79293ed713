"""Exports one model to every artifact users ship, each validated against it in LiteRT.

Flags and logic: ``keras_ssl/cli/export.py``; ``python -m experiments.export --helpshort`` lists the flags.
"""
from keras_ssl.cli.export import run

if __name__ == "__main__":
    run()
