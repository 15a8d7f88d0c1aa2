# Two commands set everything up on a fresh machine:
#   make demo   - the main job on the bundled UKPConvArg1 data
#   make test   - the test suite
# Each creates .venv when missing and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: test test-fast mutation demo venv dev clean

$(VENV)/.core: pyproject.toml tools/install-torch
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	tools/install-torch $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.dev: $(VENV)/.core
	$(PY) -m pip install --quiet -e ".[dev,trl]"
	touch $@

venv: $(VENV)/.core
dev: $(VENV)/.dev

test: $(VENV)/.dev
	$(PY) -m ruff check mixpref tests studies
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(VENV)/.dev
	$(PY) -m ruff check mixpref tests studies
	$(PY) -m pytest -m "not slow"

# mutation testing of the core modules (tests/MUTATION.md); incremental, not part of CI
# one worker and one thread: torch copes badly with a fork per mutant on top of its thread pool
mutation: $(VENV)/.dev
	OMP_NUM_THREADS=1 $(VENV)/bin/mutmut run --max-children 1
	$(VENV)/bin/mutmut results

demo: $(VENV)/.core
	$(VENV)/bin/mixpref demo

clean:
	rm -rf $(VENV) mixpref-runs .pytest_cache
