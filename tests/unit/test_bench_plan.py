"""What the bench runs: its topology against the worker budget, the watchdog period, sizes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from celery_stack.bench import plan, report
from celery_stack.topology import load

REPO = Path(__file__).resolve().parents[2]


def compose_file(name: str) -> dict:
    return yaml.safe_load((REPO / "bench/compose" / name).read_text(encoding="utf-8"))


def test_the_bench_topology_is_the_budgeted_one():
    """Each tuned fleet's CPU quota is its share of C's pool: same CPUs, same processes."""
    fleets = load(plan.BENCH_TOPOLOGY).fleets
    tuned = compose_file("tuned-common.yaml")["services"]
    naive = compose_file("naive.yaml")["services"]["worker"]
    pool = int(naive["entrypoint"][naive["entrypoint"].index("--concurrency") + 1])
    processes = {f.name: f.concurrency * f.processes for f in fleets}
    assert sum(processes.values()) == pool
    for name, n in processes.items():
        assert tuned[f"worker-{name}"]["cpus"] == pytest.approx(naive["cpus"] * n / pool), name
    assert {s for s in tuned if s.startswith("worker-")} == {f"worker-{n}" for n in processes}


def test_worker_nodes_is_one_per_fleet_process():
    assert plan.worker_nodes() == sum(f.processes for f in load(plan.BENCH_TOPOLOGY).fleets)


def worker(fleets: str, interval: str | None) -> dict:
    env = {"CELERY_STACK_FLEETS": fleets}
    if interval is not None:
        env[plan.WATCHDOG_VARIABLE] = interval
    return {"environment": env}


def test_the_watchdog_period_comes_from_the_worker_services_config():
    config = {"services": {"worker-default": worker("default", "45"),
                           "beat": worker("none", "300"), "redis": {}}}
    assert plan.watchdog_period(config) == 45.0


@pytest.mark.parametrize("services", [
    {"beat": worker("none", "60")},          # beat runs no fleet, hence no watchdog
    {"worker-default": worker("default", "0")},  # 0 turns it off
    {"worker-default": worker("default", None)},
])
def test_no_watchdog_period_is_an_error_not_a_guess(services):
    with pytest.raises(ValueError, match=plan.WATCHDOG_VARIABLE):
        plan.watchdog_period({"services": services})


def test_the_compose_files_give_the_workers_a_watchdog_period():
    """compose/worker.yaml, which every fleet service extends, sets the variable."""
    base = yaml.safe_load((REPO / "compose/worker.yaml").read_text(encoding="utf-8"))
    interval = base["services"]["worker"]["environment"][plan.WATCHDOG_VARIABLE]
    assert plan.watchdog_period({"services": {"worker-x": worker("x", interval)}}) > 0


def test_the_full_run_idles_two_periods_and_quick_brings_up_a_and_c_only():
    assert plan.FULL.idle_seconds is None and report.MIN_WATCHDOG_PERIODS >= 2  # the issue
    assert set(plan.FULL.setups) == {"A", "B", "C"}
    assert set(plan.QUICK.setups) == {"A", "C"} and plan.QUICK.reps == 1


def test_render_fleets_writes_one_service_per_bench_fleet(tmp_path, monkeypatch):
    monkeypatch.setattr(plan, "REPO", tmp_path)
    plan.render_fleets()
    services = yaml.safe_load((tmp_path / plan.BENCH_FLEETS).read_text(encoding="utf-8"))
    names = {f"worker-{f.name}" for f in load(plan.BENCH_TOPOLOGY).fleets}
    assert set(services["services"]) - {"beat"} == names
