"""Runs N local copies of a command as one multi-worker tf.distribute cluster.

Flags and logic: ``keras_ssl/cli/launch_workers.py``; ``--helpshort`` lists the flags.
"""
from keras_ssl.cli.launch_workers import run

if __name__ == "__main__":
    run()
