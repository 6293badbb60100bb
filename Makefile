# The two commands: `make run` starts the whole hub locally; `make test` sets up and passes the tests.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STAGE ?= dev
export AWS_ACCOUNT_ID_ENDPOINT_MODE := disabled

.PHONY: run test bench lint typecheck unit integration e2e package cfn-lint clean help

help:
	@echo "make run       set up and start the hub locally (python -m localcloud up)"
	@echo "make test      set up, lint, type-check, package + cfn-lint, and run every test tier"
	@echo "make bench     measure ingestion and money paths"
	@echo "make package   chalice package + infra/ merge into build/$(STAGE)/"

$(STAMP): requirements.txt requirements-dev.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m localcloud up $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

typecheck: lint

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/pytest -q tests/integration

e2e: $(STAMP)
	$(BIN)/pytest -q tests/e2e

# chalice needs a region to start (the template itself says ${AWS::Region}); it writes sam.yaml, not
# sam.json, because the merge template is YAML.
package: $(STAMP)
	rm -rf build/$(STAGE)
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-cn-north-1} $(BIN)/chalice package --stage $(STAGE) \
		--pkg-format cloudformation --merge-template infra/template.yaml build/$(STAGE)

cfn-lint: package
	$(BIN)/cfn-lint build/$(STAGE)/sam.yaml --regions cn-north-1 us-east-1

test: $(STAMP) lint cfn-lint
	$(BIN)/pytest tests

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf build $(VENV) .mypy_cache .ruff_cache .pytest_cache
