"""The accuracy-aware compression search on your own image classifier (or a built-in one).

Flags and logic: ``keras_ssl/cli/search.py``; ``python -m experiments.search --helpshort`` lists the flags.
"""
from keras_ssl.cli.search import run

if __name__ == "__main__":
    run()
