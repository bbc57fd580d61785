# Two entry points: `make run` (embedded default: SQLite + simulator + demo seed)
# and `make test` (ruff + the whole test suite). Both build .venv/ themselves.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp

E2E := tests/e2e
E2E_STAMP := $(E2E)/node_modules/.installed-stamp

.PHONY: run test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The real Wechaty puppet-service server (npm) for the transport's end-to-end tests.
# `npm install`, not `npm ci`: see tests/e2e/README.md.
$(E2E_STAMP): $(E2E)/package.json $(E2E)/package-lock.json
	cd $(E2E) && npm install --no-audit --no-fund --loglevel=error
	touch $(E2E_STAMP)

run: $(STAMP)
	$(VENV)/bin/gridbot run

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# The whole suite twice: on SQLite files, then on PostgreSQL (a fresh database per test).
test: $(STAMP) $(E2E_STAMP) lint
	$(VENV)/bin/pytest -rs $(PYTEST_ARGS)
	GRIDBOT_TEST_DB=postgres $(VENV)/bin/pytest -rs $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) data/*.db .pytest_cache $(E2E)/node_modules
