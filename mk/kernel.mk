# --- make kernel-live: roles/kernel_tuning applied to THIS machine ------------
# Changes the running kernel (sysctls, conntrack hash size, THP) and starts
# cron: opt in with KERNEL_LIVE=1 or CELERY_STACK_KERNEL_LIVE=1 (CI does, on
# its disposable machine). Runs ansible/kernel-live.yml twice (the second run
# must report changed=0), then compares the live values with the files the
# role wrote (tests/kernel_live, `sysctl -n` and sysfs).

.PHONY: kernel-live

kernel-live: venv ## Apply roles/kernel_tuning to this machine, live (opt-in: KERNEL_LIVE=1); check values with sysctl
	@if [ "$(KERNEL_LIVE)" != 1 ] && [ "$${CELERY_STACK_KERNEL_LIVE:-}" != 1 ]; then \
	  echo "kernel-live: refused: this changes THIS machine's kernel settings and starts cron." >&2; \
	  echo "  Opt in with 'make kernel-live KERNEL_LIVE=1' (or CELERY_STACK_KERNEL_LIVE=1) on a machine you may tune." >&2; \
	  exit 2; fi
	@if [ "$$(id -u)" != 0 ]; then echo "kernel-live: run as root (it writes /proc/sys and /etc)" >&2; exit 2; fi
	@cd ansible && PATH="$(abspath $(BIN)):$$PATH" ../$(BIN)/python ../scripts/ansible_twice.py - -- \
	  ../$(BIN)/ansible-playbook -i localhost, kernel-live.yml
	@$(BIN)/pytest tests/kernel_live -m kernel_live -q
