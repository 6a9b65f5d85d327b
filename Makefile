# pipegen: `make templates` builds every spec in pipelines/ into output/; `make test` checks it all.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: templates test lint format bench clean help scan publish

help:
	@echo "make templates  build every spec in pipelines/ into output/ (creates $(VENV) if needed)"
	@echo "make test       lint (ruff, mypy), the test suite, then make scan"
	@echo "make lint       ruff check, ruff format --check and mypy only"
	@echo "make format     apply ruff's formatting and safe fixes"
	@echo "make bench      time one pipeline and a fleet of 100 (BENCH_CDK=1: also the AWS CDK)"
	@echo "make scan       checkov and parliament over output/, offline (own venv $(SCAN_VENV))"
	@echo "make publish    upload output/ to S3: BUCKET=name [PREFIX=path/] [REGION=r] [ENDPOINT_URL=u]"

# Re-install only when the dependency list changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

templates: $(STAMP)
	$(BIN)/pipegen build

# Immutable, versioned template sets and the Service Catalog portfolio; prints quick-create links.
publish: $(STAMP)
	@test -n "$(BUCKET)" || { echo "usage: make publish BUCKET=name [PREFIX=path/] [REGION=region] [ENDPOINT_URL=url]" >&2; exit 2; }
	$(BIN)/pipegen publish --bucket "$(BUCKET)" --prefix "$(PREFIX)" \
		$(if $(REGION),--region "$(REGION)") $(if $(ENDPOINT_URL),--endpoint-url "$(ENDPOINT_URL)")

lint: $(STAMP)
	$(BIN)/ruff check generator blueprints tests scan
	$(BIN)/ruff format --check generator blueprints tests scan
	$(BIN)/mypy generator blueprints

test: $(STAMP) lint
	$(BIN)/pytest
	$(MAKE) scan

format: $(STAMP)
	$(BIN)/ruff format generator blueprints tests
	$(BIN)/ruff check --fix generator blueprints tests

clean:
	rm -rf $(VENV) $(SCAN_VENV) $(TASKCAT_VENV) .pytest_cache .mypy_cache .ruff_cache

bench: $(STAMP)
	$(BIN)/python -m bench.run

# The security scan has its own virtualenv: checkov's dependency pins clash with moto's.
SCAN_VENV := .venv-scan
SCAN_STAMP := $(SCAN_VENV)/.installed

$(SCAN_STAMP): scan/requirements.txt
	test -x $(SCAN_VENV)/bin/python || $(PYTHON) -m venv $(SCAN_VENV)
	echo '*' > $(SCAN_VENV)/.gitignore
	$(SCAN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SCAN_VENV)/bin/python -m pip install --quiet -r scan/requirements.txt
	touch $(SCAN_STAMP)

scan: $(SCAN_STAMP)
	$(SCAN_VENV)/bin/python -m scan

# taskcat has its own virtualenv too: it pins jsonschema<4 and urllib3<2. tests/test_taskcat.py
# loads every generated .taskcat.yml with it; `$(TASKCAT_VENV)/bin/taskcat test run` deploy-tests.
TASKCAT_VENV := .venv-taskcat
TASKCAT_STAMP := $(TASKCAT_VENV)/.installed

$(TASKCAT_STAMP): tests/taskcat/requirements.txt
	test -x $(TASKCAT_VENV)/bin/python || $(PYTHON) -m venv $(TASKCAT_VENV)
	echo '*' > $(TASKCAT_VENV)/.gitignore
	$(TASKCAT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TASKCAT_VENV)/bin/python -m pip install --quiet -r tests/taskcat/requirements.txt
	touch $(TASKCAT_STAMP)

.PHONY: taskcat-venv
taskcat-venv: $(TASKCAT_STAMP)
test: $(TASKCAT_STAMP)  # built before pytest runs
