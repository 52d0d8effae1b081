# Security check (issue 5): static scans of the repository, then a running
# stack (project celery-stack-security on ports of its own, or the shared one
# with CELERY_STACK_TEST_REUSE=1), then the Ansible output of a real preflight run.

.PHONY: security

security: bootstrap compose-files ## No default credentials, anonymous access refused, no secret leaks, loopback ports, non-root
	@PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest tests/security -m security -q -p no:cacheprovider
