"""Entry point for the Bazel py_test targets in tests/BUILD: run pytest on the test files given as arguments.

The tests use pytest fixtures (tests/conftest.py), so each py_test runs this file, which hands its own test file to
pytest and exits with pytest's code (5 = nothing collected, which fails the target like any other non-zero code).
Bazel runs it from the runfiles tree, where setup.cfg (the [tool:pytest] section) and conftest.py sit beside the test.
"""
import os
import sys

import pytest


def main(argv):
    files = [os.path.abspath(f) for f in argv[1:]]
    if not files:
        sys.exit("usage: bazel_pytest_main.py TEST_FILE...")
    args = [*files, "-q", "-p", "no:cacheprovider"]
    xml = os.environ.get("XML_OUTPUT_FILE")  # Bazel's per-test report location: give it pytest's JUnit XML
    if xml:
        args.append(f"--junitxml={xml}")
    return pytest.main(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
