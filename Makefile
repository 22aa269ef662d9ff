# ecs-drain: every target creates the virtualenv it needs from the pinned, hashed lock files.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# One Python for the Lambda runtime (python3.13), the dev venv and `sam build` (which needs it first on PATH).
PYTHON313 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13))
PY313_BIN := $(dir $(PYTHON313))
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help demo test check unit e2e validate bench build clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	@test -n "$(PYTHON313)" || { echo "python3.13 not found (pyenv install 3.13)"; exit 1; }
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: requirements/dev.lock Makefile $(UV)
	$(UV) venv --quiet --allow-existing -p $(PYTHON313) $(VENV)
	$(UV) pip sync --quiet -p $(VENV)/bin/python requirements/dev.lock
	# The handlers' package and the emulation import from the work tree, as Lambda and the tests see them.
	printf '%s\n' "$(CURDIR)/functions" "$(CURDIR)" > $$($(VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/ecs_drain_dev.pth
	# The command-line tool: .venv/bin/ecs-drain
	printf '#!/bin/sh\nexec "%s/python" -m ecs_drain_cli "$$@"\n' "$(CURDIR)/$(VENV)/bin" > $(VENV)/bin/ecs-drain
	chmod +x $(VENV)/bin/ecs-drain
	touch $@

$(SAM_VENV)/.synced: requirements/sam.lock $(UV)
	$(UV) venv --quiet --allow-existing -p $(PYTHON313) $(SAM_VENV)
	$(UV) pip sync --quiet -p $(SAM_VENV)/bin/python requirements/sam.lock
	touch $@

$(CHECKOV_VENV)/.synced: requirements/checkov.lock $(UV)
	$(UV) venv --quiet --allow-existing -p $(PYTHON313) $(CHECKOV_VENV)
	$(UV) pip sync --quiet -p $(CHECKOV_VENV)/bin/python requirements/checkov.lock
	touch $@

demo: $(VENV)/.synced ## Run an AMI rollover offline: drain, answer CloudFormation, draw the picture
	$(VENV)/bin/python -m emulation.demo $(DEMO_ARGS)

test: check validate unit e2e ## Everything CI runs: lint, types, template checks, unit and end-to-end tests

check: $(VENV)/.synced ## ruff, mypy --strict, cfn-lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/cfn-lint template.yaml $(wildcard examples/*.yaml)

validate: $(SAM_VENV)/.synced $(CHECKOV_VENV)/.synced ## sam validate --lint, sam build (no Docker), checkov
	PATH="$(PY313_BIN):$$PATH" SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint --region us-east-1
	PATH="$(PY313_BIN):$$PATH" SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam build --region us-east-1 >/dev/null
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov --quiet --compact -f template.yaml --framework cloudformation

unit: $(VENV)/.synced ## Unit tests (no network)
	$(VENV)/bin/pytest -q tests/unit

e2e: $(VENV)/.synced ## End-to-end tests on the offline emulation
	$(VENV)/bin/pytest -q -n 2 tests/e2e

bench: $(VENV)/.synced ## Scale and cost benchmark (prints a table, writes benchmarks/results.json)
	$(VENV)/bin/python -m benchmarks.run

build: $(SAM_VENV)/.synced ## sam build, without Docker
	PATH="$(PY313_BIN):$$PATH" SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam build

clean: ## Remove the virtualenvs and build output
	rm -rf .tools $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam out
