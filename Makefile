# `make` alone lists the targets. The same targets serve people, hooks and CI.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTHON ?= python3

.PHONY: help install run test test-slow test-browser test-infra test-image fuzz unit lint format new-service check bench bench-serving bench-batches bench-dashboard lock clean

help: ## Show the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[local,dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv with the pinned dependencies (constraints.txt)

run: install ## Start the local stack: PostgreSQL + AWS emulator, seed, retrain, serve every service (or SERVICES="a b"; Ctrl-C stops)
	$(VENV)/bin/mlseam local-stack $(SERVICES)

test: install ## Run the suite: unit tests and integration tests on the real local stack (not the browser, slow, terraform-apply and image ones)
	$(PY) -m pytest -m "not browser and not slow and not terraform_apply and not image"

test-slow: install ## The end-to-end suites of minutes each: in-process fuzzing per service, the image command per service
	$(PY) -m pytest -m slow

test-browser: install ## The dashboard in headless chromium on the real local stack (needs Debian's chromium); screenshots in .artifacts/
	$(PY) -m pytest -m browser

test-infra: install ## terraform apply, destroy and apply again of envs/dev against the AWS emulator (needs terraform and its provider mirror)
	MLSEAM_REQUIRE_TERRAFORM=1 $(PY) -m pytest -m terraform_apply -s tests/infra/test_apply.py

test-image: install ## Build docker/Dockerfile with podman on a Debian base (scripts/build-base) and run it on the real local stack
	MLSEAM_REQUIRE_IMAGE=1 $(PY) -m pytest -m image

fuzz: install ## Fuzz every service's API (schemathesis, own stack on free ports), then retrain each (or SERVICES="a b")
	SERVICES="$(SERVICES)" scripts/fuzz

unit: install ## Run the unit tests only (no servers)
	$(PY) -m pytest -m "not integration and not terraform_apply"

lint: install ## Check: ruff lint + format check, mypy strict, import contracts; hadolint, Terraform, checkov, CircleCI schema
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	PYTHON=$(PYTHON) scripts/lint-infra

new-service: install ## Scaffold a service: make new-service NAME=receipt-totals TASK=tabular_regression
	$(VENV)/bin/mlseam new "$(NAME)" --task "$(TASK)"

check: install ## The contract checks on a small sample, no servers: make check SERVICE=digits (default: every service)
	$(VENV)/bin/mlseam check $(SERVICE)

format: install ## Fix what ruff can fix and reformat
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install ## Benchmarks: read 1M tabular examples from PostgreSQL vs a naive fetchall
	$(PY) bench/read_examples.py

bench-serving: install ## Benchmark: the digits API vs in-process predict and a minimal FastAPI app
	$(PY) bench/serving.py

bench-batches: install ## Benchmark: a 100,000-item digits batch through API, SQS, worker and S3 vs a floor
	$(PY) bench/batches.py

bench-dashboard: install ## Benchmark: the dashboard's overview for 20 services of 300 versions each, server side
	$(PY) bench/dashboard.py

lock: ## Re-pin constraints.txt from a fresh resolve of pyproject.toml
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --disable-pip-version-check -e '.[local,dev]'
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^mlseam' > constraints.txt
	rm -rf .lock-venv

clean: ## Remove the virtualenv and the local stack's data (.local/)
	rm -rf $(VENV) .local
