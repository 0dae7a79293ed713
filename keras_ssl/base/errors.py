"""A single error type for problems the user can fix (bad paths, bad numbers, empty data).

Binaries catch it and print one line (what, where, what to do) instead of a traceback; everything else is a bug
and keeps its traceback.
"""


class UserError(ValueError):
    """Raised for bad input; its message is shown to the user as is."""


class JobFailed(Exception):
    """The job ran and wrote its outputs, but its result did not pass (e.g. no search candidate met the budget):
    binaries print its message as one line and exit 1."""
