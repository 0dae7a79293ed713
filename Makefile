# Every target builds .venv from nothing but python3 the first time, and reuses it after (idempotent).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= runs/demo

.PHONY: install demo test bazel-build bazel-test clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m experiments.pipeline --task=image --output_dir=$(DEMO_DIR)/image --overwrite
	$(PY) -m experiments.pipeline --task=text --output_dir=$(DEMO_DIR)/text --overwrite

test: $(STAMP)
	$(PY) -m pytest

# Bazel (native rules only, no downloads): ../shared/bazel/bazel-offline, with the venv's python3 first on PATH.
BAZEL ?= ../shared/bazel/bazel-offline
BAZEL_ENV := PATH="$(CURDIR)/$(VENV)/bin:$$PATH"

bazel-build: $(STAMP)
	$(BAZEL_ENV) $(BAZEL) build //...

bazel-test: $(STAMP)
	$(BAZEL_ENV) $(BAZEL) test //... --test_output=errors

clean:
	rm -rf $(VENV) runs build *.egg-info
