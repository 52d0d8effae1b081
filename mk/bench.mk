# make bench: the tuned stack (A), the same settings on one node (B) and a
# naive Celery setup (C), brought up one after another in compose projects of
# their own (celery-stack-bench-a/b/c) and measured with the same load
# generator: src/celery_stack/bench, bench/ (compose files, naive config).
# QUICK=1: tiny sizes, one repetition, report under bench/results/quick; it
# runs tests/bench, which asserts the report's shape, never timing thresholds.

QUICK ?=

.PHONY: bench bench-down

bench: bootstrap compose-files ## Tuned vs single-node vs naive, side by side (< 30 min; QUICK=1: harness check < 5 min)
ifeq ($(QUICK),)
	@$(BIN)/python -m celery_stack.bench --out bench/results --readme README.md
else
	@$(BIN)/pytest tests/bench -m bench -q
endif

bench-down: ## Remove the bench projects (down -v), e.g. after an interrupted run
	@$(BIN)/python -c 'from celery_stack.bench.run import down_all; down_all()'
