# make bench: the tuned stack (A), the same settings on one node (B) and a
# naive Celery setup (C), brought up one after another in compose projects of
# their own (celery-stack-bench-a/b/c) and measured with the same load
# generator: src/celery_stack/bench, bench/ (compose files, naive config,
# bench/topology.yml: the fleets the worker budget describes).
# QUICK=1: the harness end to end once (A and C up together, B's files only
# checked, tiny sizes), report under bench/results/quick; tests/bench asserts
# it finished within 2 minutes and wrote a complete report. The report's
# rules themselves are unit tests (tests/unit/test_bench_*.py).

QUICK ?=

.PHONY: bench bench-down

bench: bootstrap compose-files ## Tuned vs single-node vs naive, side by side (< 30 min; QUICK=1: harness check <= 2 min)
ifeq ($(QUICK),)
	@$(BIN)/python -m celery_stack.bench --out bench/results --readme README.md
else
	@$(BIN)/pytest tests/bench -m bench -q
endif

bench-down: ## Remove the bench projects (down -v), e.g. after an interrupted run
	@$(BIN)/python -c 'from celery_stack.bench.run import down_all; down_all()'
