"""The benchmark harness: several artifacts timed side by side.

Flags and logic: ``keras_ssl/cli/benchmark.py``; ``python -m experiments.benchmark --helpshort`` lists the flags.
"""
from keras_ssl.cli.benchmark import run

if __name__ == "__main__":
    run()
