# ecs-drain: every target creates the virtualenv it needs from the pinned, hashed lock files.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# One Python for the Lambda runtime (python3.13), the dev venv and `sam build` (which needs it first on PATH).
PYTHON313 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13))
# For recipes: the folder of the python3.13 in use (sam build wants it first on PATH).
PY313_BIN = $$(dirname "$$(readlink -f .tools/python313)")
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
# Every CloudFormation template in the repository: the provider's and the examples teams copy.
TEMPLATES := template.yaml $(wildcard examples/*.yaml)
# Bytecode is cached outside the source folders: every test process then starts without compiling moto again.
export PYTHONPYCACHEPREFIX := $(CURDIR)/.pycache
# Written, not only read, even where the environment says otherwise.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help demo test tests check unit e2e validate bench bench-traffic bench-in-place build clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# python3.13 from pyenv or PATH; where there is none, uv installs one.
.tools/python313: $(UV)
	@if [ -n "$(PYTHON313)" ]; then ln -sf "$(PYTHON313)" $@; \
	else $(UV) python install 3.13 && ln -sf "$$($(UV) python find 3.13)" $@; fi

$(VENV)/.synced: requirements/dev.lock pyproject.toml Makefile .tools/python313
	$(UV) venv --quiet --allow-existing -p .tools/python313 $(VENV)
	$(UV) pip sync --quiet -p $(VENV)/bin/python requirements/dev.lock
	# This project, editable: the handlers' package, the emulation and .venv/bin/ecs-drain, from the work tree.
	$(UV) pip install --quiet --no-deps -p $(VENV)/bin/python -e .
	touch $@

$(SAM_VENV)/.synced: requirements/sam.lock .tools/python313
	$(UV) venv --quiet --allow-existing -p .tools/python313 $(SAM_VENV)
	$(UV) pip sync --quiet -p $(SAM_VENV)/bin/python requirements/sam.lock
	touch $@

# Node tools (asl-validator), from their pinned, hashed lock, installed apart from the sources.
NPM_TOOLS := .tools/npm
$(NPM_TOOLS)/.synced: requirements/npm/package.json requirements/npm/package-lock.json
	mkdir -p $(NPM_TOOLS) && cp requirements/npm/package.json requirements/npm/package-lock.json $(NPM_TOOLS)/
	npm ci --prefix $(NPM_TOOLS) --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

$(CHECKOV_VENV)/.synced: requirements/checkov.lock .tools/python313
	$(UV) venv --quiet --allow-existing -p .tools/python313 $(CHECKOV_VENV)
	$(UV) pip sync --quiet -p $(CHECKOV_VENV)/bin/python requirements/checkov.lock
	touch $@

demo: $(VENV)/.synced ## Run an AMI rollover offline: drain, answer CloudFormation, draw the picture
	@# Exit status 3: the rollover ran to its end but was not clean, as its last lines say; that is the demo's result,
	@# not a failure of make (any other non-zero status is).
	@$(VENV)/bin/python -m emulation.demo $(DEMO_ARGS); status=$$?; \
	if [ $$status -eq 3 ]; then echo "(exit status 3: not a clean rollover, as said above)"; exit 0; fi; exit $$status

test: ## Everything CI runs: lint, types, template checks, unit and end-to-end tests
	@# The static checks (single-threaded) run beside the tests (two workers): on two cores the machine stays busy,
	@# and each job's output is printed whole when it ends.
	@$(MAKE) --no-print-directory -j3 --output-sync=target check validate tests

tests: $(VENV)/.synced ## Unit and end-to-end tests in one run, on two workers (the longest first)
	$(VENV)/bin/pytest -q -n 2 tests/unit tests/emulation tests/e2e

check: $(VENV)/.synced $(NPM_TOOLS)/.synced ## ruff, mypy --strict, import layers, dead code, asl-validator
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	PYTHONPATH=functions:. $(VENV)/bin/lint-imports --no-cache
	@mkdir -p .pycache && $(VENV)/bin/python -m tests.typeddict_keys > .pycache/typeddict_keys.py
	$(VENV)/bin/vulture functions/ecs_drain ecs_drain_cli emulation benchmarks tests vulture_whitelist.py \
		.pycache/typeddict_keys.py --min-confidence 60
	for definition in statemachine/*.asl.json; do $(NPM_TOOLS)/node_modules/.bin/asl-validator --json-path "$$definition" || exit 1; done

validate: $(VENV)/.synced $(SAM_VENV)/.synced $(CHECKOV_VENV)/.synced ## cfn-lint and checkov on every template; sam validate --lint, sam build (no Docker)
	$(VENV)/bin/cfn-lint $(TEMPLATES)
	PATH="$(PY313_BIN):$$PATH" SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint --region us-east-1
	PATH="$(PY313_BIN):$$PATH" SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam build --region us-east-1 >/dev/null
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov --quiet --compact --config-file .checkov.yaml \
		$(foreach template,$(TEMPLATES),-f $(template)) --framework cloudformation

unit: $(VENV)/.synced ## Unit tests (no network): the product's, and the emulation's models pinned
	$(VENV)/bin/pytest -q tests/unit tests/emulation

e2e: $(VENV)/.synced ## End-to-end tests on the offline emulation
	$(VENV)/bin/pytest -q -n 2 tests/e2e

bench: bench-traffic bench-in-place ## Scale, cost and failed requests (writes benchmarks/*.json and docs/benchmarks.md)
	$(VENV)/bin/python -m benchmarks.run
	$(VENV)/bin/python -m benchmarks.doc_figures

bench-traffic: $(VENV)/.synced ## Failed requests per scenario and strategy (writes benchmarks/traffic.json)
	$(VENV)/bin/python -m benchmarks.failed_requests

bench-in-place: $(VENV)/.synced ## In-place changes per scenario and strategy (writes benchmarks/in_place.json)
	$(VENV)/bin/python -m emulation.in_place

build: $(SAM_VENV)/.synced ## sam build, without Docker
	PATH="$(PY313_BIN):$$PATH" SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam build

clean: ## Remove the virtualenvs and build output
	rm -rf .tools $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .pycache out
