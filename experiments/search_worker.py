"""A worker of the accuracy-aware search's Optuna study (many may run, on one host or several).

Flags and logic: ``keras_ssl/cli/search_worker.py``; ``python -m experiments.search_worker --helpshort`` lists them.
"""
from keras_ssl.cli.search_worker import run

if __name__ == "__main__":
    run()
