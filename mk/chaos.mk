# Chaos suite (issue 5): break the compose stack on purpose and count every
# task (src/celery_stack/chaos). It runs in compose project celery-stack-chaos
# (CELERY_STACK_TEST_PROJECT overrides it; CELERY_STACK_TEST_REUSE=1 reuses a
# healthy running project and leaves it running, as `make test` does) and
# leaves the stack as it found it: 3 nodes running, every service healthy.
# Reports: reports/chaos/<time>-<mode>.{md,json} (git-ignored), also printed.

.PHONY: chaos chaos-quick chaos-doc

chaos: bootstrap compose-files ## All 7 chaos scenarios, 20,000 tasks in the node kill; 0 lost or it fails (~12 min)
	@$(BIN)/python -m celery_stack.chaos.run --mode full

chaos-quick: bootstrap compose-files ## Chaos scenarios 1 (5,000 tasks), 2, 3, 4, 7: the bounded part of make test
	@$(BIN)/python -m celery_stack.chaos.run --mode quick

chaos-doc: ## Copy the last full chaos report to docs/chaos-report.{md,json}
	@test -f reports/chaos/latest-full.md || { echo "chaos-doc: no full report yet; run make chaos" >&2; exit 1; }
	@cp reports/chaos/latest-full.md docs/chaos-report.md
	@cp reports/chaos/latest-full.json docs/chaos-report.json
