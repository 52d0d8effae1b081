"""`make bench QUICK=1`: the benchmark harness end to end, tiny sizes, within its budget.

Runs ``python -m celery_stack.bench --quick`` (A and C brought up together,
every figure measured once, B's files checked with `compose config`) and
checks that the run finished within BUDGET_S, wrote a complete report (the
shape rules of report.shape_errors), the table and one PNG per figure, and
left no project behind. What a report must contain is unit-tested on a
rendered report (tests/unit/test_bench_report.py); figures are never
compared with thresholds here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from celery_stack.bench.report import markdown, shape_errors
from celery_stack.testing.compose import REPO

pytestmark = pytest.mark.bench
OUT = REPO / "bench/results/quick"
PNG = b"\x89PNG\r\n\x1a\n"
# Budget of the live QUICK run, images already built. The target is
# 120 s; measured 127 s on a quiet machine (2026-12-01, after cutting the
# storm and the teardown grace), most of it bringing up A's 3-node cluster.
# 180 s is the budget asserted until that target is met: a chosen margin of
# about 40 % over the quiet figure, not a derived bound.
BUDGET_S = 180
PROJECTS = ("celery-stack-bench-a", "celery-stack-bench-b", "celery-stack-bench-c")


@pytest.fixture(scope="module")
def quick_run():
    start = time.monotonic()
    # The timeout only stops a hung run; the budget is asserted by its own test.
    proc = subprocess.run([sys.executable, "-m", "celery_stack.bench", "--quick", "--out",
                           str(OUT)], cwd=REPO, capture_output=True, text=True,
                          timeout=BUDGET_S * 5, check=False)
    elapsed = time.monotonic() - start
    print(proc.stdout[-4000:])
    assert proc.returncode == 0, (f"bench --quick failed:\n{proc.stdout[-3000:]}\n"
                                  f"{proc.stderr[-5000:]}")
    return json.loads((OUT / "bench.json").read_text(encoding="utf-8")), elapsed, proc.stdout


def test_the_quick_run_stays_within_its_budget(quick_run):
    _, elapsed, stdout = quick_run
    steps = "\n".join(line for line in stdout.splitlines() if line.startswith("bench ["))
    assert elapsed <= BUDGET_S, f"bench QUICK took {elapsed:.0f} s > {BUDGET_S} s:\n{steps}"


def test_the_run_wrote_a_complete_quick_report(quick_run):
    rep, _, _ = quick_run
    assert rep["mode"] == "quick" and rep["setups"] == ["A", "C"]
    assert shape_errors(rep) == []
    table = (OUT / "bench.md").read_text(encoding="utf-8")
    assert table == markdown(rep)
    for name in ("fig1-head-of-line", "fig2-throughput", "fig3-broker-memory",
                 "fig4-idle-overhead", "fig5-ops"):
        assert (OUT / f"{name}.png").read_bytes().startswith(PNG), name


def test_no_bench_project_is_left_behind(quick_run):
    for project in PROJECTS:
        left = subprocess.run(["docker", "ps", "-aq", "-f",
                               f"label=com.docker.compose.project={project}"],
                              capture_output=True, text=True, timeout=30, check=True).stdout
        assert not left.strip(), f"{project} left containers: {left}"
