# The two commands: `make run` starts Reach with embedded MongoDB and Redis,
# `make test` runs linters, import contracts and the whole test suite.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test lint contracts pytest worker schema bench bench-scale clean

run: $(STAMP)
	$(VENV)/bin/reach serve

test: lint contracts pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

contracts: $(STAMP)
	$(VENV)/bin/lint-imports

pytest: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

worker: $(STAMP)
	$(VENV)/bin/reach worker

# schema.graphql, the committed SDL for front-end codegen; a test checks it is current.
schema: $(STAMP)
	$(VENV)/bin/reach schema > schema.graphql

# Every benchmark at its default size (< 15 min on 2 cores), written to bench/RESULTS.md.
bench: $(STAMP)
	$(PY) -m bench.run_all

# The benchmarks at the sizes issue 12 names (about an hour), added to bench/RESULTS.md.
bench-scale: $(STAMP)
	$(PY) -m bench.run_all "send --contacts 10000" "send --contacts 20000" \
		"journeys --contacts 10000" "journeys --contacts 20000" "segments --users 10000" \
		"ingest --events 100000 --contacts 20000 --no-second-pass"

# A virtual environment on a Python 3.13 found by scripts/find-python, rebuilt
# whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	@PYTHON=$$(scripts/find-python) || exit 1; \
	if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))'; then \
		rm -rf $(VENV); echo "creating $(VENV) with $$PYTHON"; "$$PYTHON" -m venv $(VENV) || exit 1; \
	fi
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) .reach-data .pytest_cache .ruff_cache
