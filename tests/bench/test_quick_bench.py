"""`make bench QUICK=1`: the benchmark harness end to end, tiny sizes.

Runs ``python -m celery_stack.bench --quick`` (the three setups brought up one
after another, every figure measured once) and checks the report it wrote:
every figure has a number for every setup it compares, every goal says met,
missed (with a reason) or not measured, the table and one PNG per figure
exist. Timing values are never compared with thresholds here.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import pytest

from celery_stack.testing.compose import REPO

pytestmark = pytest.mark.bench
OUT = REPO / "bench/results/quick"
PNG = b"\x89PNG\r\n\x1a\n"
# Whole QUICK run budget (the issue: under 5 minutes).
BUDGET_S = 300


@pytest.fixture(scope="module")
def quick_run():
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "celery_stack.bench", "--quick", "--out",
                           str(OUT)], cwd=REPO, capture_output=True, text=True,
                          timeout=BUDGET_S * 3, check=False)
    elapsed = time.monotonic() - start
    print(proc.stdout[-4000:])
    assert proc.returncode == 0, (f"bench --quick failed:\n{proc.stdout[-3000:]}\n"
                                  f"{proc.stderr[-5000:]}")
    return json.loads((OUT / "bench.json").read_text(encoding="utf-8")), elapsed


def number(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value >= 0


def test_every_figure_has_a_measured_value_per_setup(quick_run):
    rep, _ = quick_run
    fig = rep["figures"]
    for setup in ("A", "C"):
        assert number(fig["hol"]["setups"][setup]["p99_ms"]["median"]), setup
        assert fig["hol"]["setups"][setup]["p99_ms"]["n"] == 1
        assert fig["memory"]["setups"][setup]["idle_mib"]["median"] > 0, setup
        assert number(fig["memory"]["setups"][setup]["detached_peak_mib"]), setup
        assert number(fig["overhead"]["setups"][setup]["messages_per_s"]["median"]), setup
    for setup in ("A", "B", "C"):
        assert fig["throughput"]["setups"][setup]["tasks_per_s"]["median"] > 0, setup
    ops = fig["ops"]["setups"]["A"]
    assert ops["make_up_cold_s"]["median"] > 0 and ops["make_up_warm_s"]["median"] > 0


def test_ratios_and_goals_are_all_present(quick_run):
    rep, _ = quick_run
    fig = rep["figures"]
    assert set(fig["throughput"]["ratios"]) == {"A/B", "A/C"}
    assert all(number(v) for v in fig["throughput"]["ratios"].values())
    assert number(fig["hol"]["ratios"]["A/C p99"])
    assert number(fig["overhead"]["ratios"]["A/C"])
    assert number(fig["memory"]["ratios"]["A peak/idle"])
    texts = [g["text"] for g in rep["goals"]]
    assert len(texts) == 5 and len(set(texts)) == 5
    for goal in rep["goals"]:
        assert goal["met"] in (True, False), goal
        if goal["met"] is False:
            assert goal["note"], f"goal {goal['text']} missed without a reason"


def test_machine_and_budget_are_described(quick_run):
    rep, _ = quick_run
    m = rep["machine"]
    assert m["nproc"] >= 1 and m["mem_total_gib"] > 0 and m["kernel"]
    assert len(m["loadavg_start"]) == 3
    assert "CPU" in rep["budget"] and rep["mode"] == "quick"


def test_table_and_one_chart_per_figure_were_written(quick_run):
    table = (OUT / "bench.md").read_text(encoding="utf-8")
    assert table.count("\n| ") >= 10, table
    for name in ("fig1-head-of-line", "fig2-throughput", "fig3-broker-memory",
                 "fig4-idle-overhead", "fig5-ops"):
        data = (OUT / f"{name}.png").read_bytes()
        assert data.startswith(PNG) and len(data) > 5000, name


def test_no_bench_project_is_left_behind(quick_run):
    for project in ("celery-stack-bench-a", "celery-stack-bench-b", "celery-stack-bench-c"):
        left = subprocess.run(["docker", "ps", "-aq", "-f",
                               f"label=com.docker.compose.project={project}"],
                              capture_output=True, text=True, timeout=30, check=True).stdout
        assert not left.strip(), f"{project} left containers: {left}"
