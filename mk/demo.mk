# --- make demo: ansible/site.yml on throwaway sandbox hosts, twice ------------
# The sandbox hosts are systemd containers of inventories/sandbox on network
# celery-stack-sandbox. `make demo` converges them with site.yml, runs
# site.yml again and fails unless every host reports changed=0 (what
# molecule's idempotence step checks), then sends the smoke probe to every
# queue. Both runs' timings go to DEMO_RESULT (bench's "ops speed" reads it);
# `make demo-clean && make demo` times a first run on fresh hosts.

DEMO_RESULT ?= bench/results/ops-ansible.json
# Extra ansible-playbook arguments for both site.yml runs, e.g.
# DEMO_ARGS="-e celery_workers_package_source=/path/to/a/fixed/checkout"
# (the workers get a wheel of that source; the default, this working tree,
# redeploys whenever its code changes, also between the two runs).
DEMO_ARGS ?=
# Ansible's docker connection and the filter plugin need the venv's tools on PATH.
DEMO_ANSIBLE := PATH="$(abspath $(BIN)):$$PATH"

.PHONY: demo demo-clean

demo: molecule-images ## Sandbox hosts (containers) + site.yml, then site.yml again (fails unless changed=0) + smoke
	@cd ansible && $(DEMO_ANSIBLE) ../$(BIN)/ansible-playbook sandbox.yml
	@cd ansible && $(DEMO_ANSIBLE) ../$(BIN)/python ../scripts/ansible_twice.py ../$(DEMO_RESULT) -- \
	  ../$(BIN)/ansible-playbook site.yml $(DEMO_ARGS)
	@cd ansible && $(DEMO_ANSIBLE) ../$(BIN)/ansible celery_workers -b -m ansible.builtin.command \
	  -a "celery-stack smoke --timeout 90"

demo-clean: ## Remove the sandbox hosts (and the sandbox's generated secrets with FORCE=1)
	@for h in $$(cd ansible && ../$(BIN)/ansible-inventory --list | ../$(BIN)/python -c 'import json,sys; print(" ".join(json.load(sys.stdin)["_meta"]["hostvars"]))'); do \
	  docker rm -f "$$h" >/dev/null 2>&1 || echo "demo-clean: no container $$h"; done
	@if docker network inspect celery-stack-sandbox >/dev/null 2>&1; then docker network rm celery-stack-sandbox >/dev/null; fi
	@if [ "$(FORCE)" = 1 ]; then rm -rf inventories/sandbox/.secrets; fi
