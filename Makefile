# The two commands: `make run` starts the whole hub locally; `make test` sets up and passes the tests.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STAGE ?= dev
# Test files run on two workers (the moto suites and the localcloud e2e tier overlap); TEST_WORKERS=0 runs them in one.
TEST_WORKERS ?= 2
export AWS_ACCOUNT_ID_ENDPOINT_MODE := disabled

.PHONY: run simulate test bench lint typecheck unit integration e2e package lock cfn-lint chromium clean help

help:
	@echo "make run       set up and start the hub locally (python -m localcloud up)"
	@echo "make simulate  a simulated community day through the running hub (python -m localcloud simulate)"
	@echo "make test      set up, lint, type-check, package + cfn-lint, and run every test tier"
	@echo "make bench     measure ingestion and money paths"
	@echo "make package   build/$(STAGE)/: sam.yaml, app + layer zips, parameters.json (STAGE=dev|prod)"
	@echo "make lock      re-pin the layer's dependencies (layers/requirements.lock, with hashes)"

$(STAMP): requirements.txt requirements-dev.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m localcloud up $(ARGS)

simulate: $(STAMP)
	$(BIN)/python -m localcloud simulate $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

typecheck: lint

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/pytest -q tests/integration

e2e: $(STAMP) chromium
	$(BIN)/pytest -q tests/e2e

# The staff console's browser test drives Debian's chromium through Playwright (which never downloads a
# browser here), with a small CJK font so its screenshots are legible. Installed only when missing:
# apt-get as root, through sudo otherwise.
CHROMIUM := /usr/bin/chromium
APT_CHROMIUM := apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	chromium fonts-wqy-microhei
chromium:
	@if [ ! -x $(CHROMIUM) ] || [ -z "$$(fc-list :lang=zh 2>/dev/null)" ]; then \
		echo "installing Debian's chromium and a CJK font (for the console's browser test)"; \
		if [ "$$(id -u)" = 0 ]; then bash -c '$(APT_CHROMIUM)'; \
		elif command -v sudo >/dev/null; then sudo bash -c '$(APT_CHROMIUM)'; \
		else false; fi || { echo "error: $(CHROMIUM) or a CJK font is missing and could not be installed (needs root or sudo):" \
			"install Debian's packages: sudo apt-get install chromium fonts-wqy-microhei" >&2; exit 1; }; \
	fi

# build/$(STAGE)/: sam.yaml (chalice's template + infra/template.yaml), deployment.zip (the app alone),
# layer.zip (layers/requirements.lock, built offline once build/wheels/ has the wheels), functions/,
# parameters.json (infra/stages/$(STAGE).json); prints the sizes. See infra/package.py.
package: $(STAMP)
	$(BIN)/python -m infra.package --stage $(STAGE)

# Re-resolve requirements.txt for Lambda (CPython 3.11, manylinux2014 x86_64) into the hashed lock.
lock: $(STAMP)
	$(BIN)/python -m layers.build lock

# Both stages' packaged templates (one layer build serves both).
cfn-lint: $(STAMP)
	$(BIN)/python -m infra.package --stage dev --stage prod
	$(BIN)/cfn-lint build/dev/sam.yaml build/prod/sam.yaml --regions cn-north-1 us-east-1

test: $(STAMP) lint cfn-lint chromium
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile tests

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf build $(VENV) .mypy_cache .ruff_cache .pytest_cache
