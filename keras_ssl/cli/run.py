"""What every binary does around its library call, so they all behave alike.

Exit codes, for every binary:
- 0: the job ran and its result passed, or help was asked for;
- 1: the job ran but its result did not pass (e.g. an artifact failed validation, a worker failed);
- 2: bad input, refused before any work: an unknown or malformed flag, a stray argument, or a ``UserError``
  (printed as one ``error:`` line, never a traceback).
Anything else is a bug and keeps its traceback.
"""
import dataclasses
import logging
import os
import sys
import warnings

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
HELP_FLAGS = ("help", "helpshort", "helpfull", "helpxml", "?")


def fail(message, code=EXIT_BAD_INPUT):
    """Ends the process with one ``error:`` line on stderr."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def override(obj, **values):
    """``obj`` (a config dataclass) with the fields whose flag was given; values left None keep the config's."""
    values = {k: v for k, v in values.items() if v is not None}
    return dataclasses.replace(obj, **values) if values else obj


def quiet_logs():
    """A binary's log shows progress, not TensorFlow's notices; the library itself never touches logging state."""
    # Read by TensorFlow's C++ side when it loads, so it must be set before the first TensorFlow import.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("tensorflow").setLevel(logging.WARNING)
    logging.getLogger("absl").addFilter(
        lambda record: record.levelno >= logging.WARNING or f"{os.sep}tensorflow{os.sep}" not in record.pathname)
    warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")


def parse_flags(argv, takes_command=False):
    """absl's flag parsing, with one ``error:`` line and exit 2 for a bad flag; positional arguments are refused
    unless the binary ``takes_command`` (what follows ``--``)."""
    from absl import flags

    try:
        rest = flags.FLAGS(argv)
    except (flags.Error, ValueError) as e:  # absl raises ValueError for a value given to a boolean flag
        fail(f"{e} (see --helpshort)")
    except SystemExit:
        # absl prints the asked-for help, then exits 1; asking for help is a success.
        if any(arg.split("=")[0].lstrip("-") in HELP_FLAGS for arg in argv[1:]):
            sys.exit(EXIT_OK)
        raise
    if len(rest) > 1 and not takes_command:
        fail(f"unexpected arguments {rest[1:]}: all options are --flags (see --helpshort)")
    return rest


def run_main(body, args=()):
    """Calls ``body(args)``, which returns the text to print (None: nothing); a UserError exits 2 in one line."""
    from keras_ssl.base.errors import JobFailed, UserError

    try:
        text = body(list(args))
    except UserError as e:
        fail(e)
    except JobFailed as e:
        fail(e, EXIT_FAILED)
    if text is not None:
        print(text)


def start(module_name, body, takes_command=False):
    """A binary's entry point: quiet logs, parse flags, then ``run_main(body, positional arguments)``.

    ``module_name`` is the module that defines the flags: they are listed by ``--helpshort`` however the binary
    was started (``python -m``, a console script, Bazel), where absl alone lists only the ``__main__`` module's.
    """
    from absl import app, flags

    quiet_logs()
    for flag in flags.FLAGS.get_key_flags_for_module(module_name):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    app.run(lambda argv: run_main(body, argv[1:]), flags_parser=lambda argv: parse_flags(argv, takes_command))
