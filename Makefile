# Two entry points: `make run` (embedded default: SQLite + simulator + demo seed)
# and `make test` (ruff + the whole test suite). Both build .venv/ themselves.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/gridbot run

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: $(STAMP) lint
	$(VENV)/bin/pytest -rs $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) data/*.db .pytest_cache
