# pipegen: `make templates` builds every spec in pipelines/ into output/; `make test` checks it all.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: templates test lint format bench clean help

help:
	@echo "make templates  build every spec in pipelines/ into output/ (creates $(VENV) if needed)"
	@echo "make test       lint (ruff, mypy) and run the test suite"
	@echo "make lint       ruff check, ruff format --check and mypy only"
	@echo "make format     apply ruff's formatting and safe fixes"
	@echo "make bench      time one pipeline and a fleet of 100 (BENCH_CDK=1: also the AWS CDK)"

# Re-install only when the dependency list changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

templates: $(STAMP)
	$(BIN)/pipegen build

lint: $(STAMP)
	$(BIN)/ruff check generator blueprints tests
	$(BIN)/ruff format --check generator blueprints tests
	$(BIN)/mypy generator blueprints

test: $(STAMP) lint
	$(BIN)/pytest

format: $(STAMP)
	$(BIN)/ruff format generator blueprints tests
	$(BIN)/ruff check --fix generator blueprints tests

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

bench: $(STAMP)
	$(BIN)/python -m bench.run
