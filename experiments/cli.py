"""What every thin binary does around its library call: refuse stray arguments, turn a UserError into one
``error:`` line and exit code 1, print the result."""
import sys


def run_main(argv, body):
    """Calls ``body()`` (which returns the text to print); bad input ends the process with one clear line."""
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}: all options are --flags (see --helpfull)")
    from keras_ssl.errors import UserError

    try:
        text = body()
    except UserError as e:
        sys.exit(f"error: {e}")
    print(text)
