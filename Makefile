# The two commands: `make run` starts Reach with embedded MongoDB and Redis,
# `make test` runs linters, import contracts and the whole test suite.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
BROWSER := tests/browser/node_modules/.installed

.PHONY: run test lint contracts pytest worker schema bench bench-scale clean

run: $(STAMP)
	$(VENV)/bin/reach serve

test: lint contracts pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

contracts: $(STAMP)
	$(VENV)/bin/lint-imports

pytest: $(STAMP) $(BROWSER)
	$(PY) -m pytest $(PYTEST_ARGS)

# The npm packages the browser tests load into Chromium (Segment's analytics-next),
# installed from the lock file here, never while the tests run. Without npm the browser
# tests skip and say why; CI (.ci/run) has npm and requires them.
$(BROWSER): tests/browser/package.json tests/browser/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error && touch $(BROWSER); \
	else echo "npm not found: the browser tests will skip (install Node.js and npm to run them)"; fi

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
