"""What the benchmark runs: its topology, sizes per mode, and what it reads from config.

Pure (no Docker): the runner (run.py) uses it, the unit tests check it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..derive import compose as compose_services
from ..topology import load

REPO = Path(__file__).resolve().parents[3]
BENCH_TOPOLOGY = REPO / "bench/topology.yml"
BENCH_FLEETS = "bench/generated/fleets.yaml"
TUNED = ("compose/compose.yaml", BENCH_FLEETS, "bench/compose/tuned-common.yaml")
# Where the worker containers get the watchdog's period (compose/worker.yaml).
WATCHDOG_VARIABLE = "CELERY_STACK_WATCHDOG_INTERVAL"


@dataclass(frozen=True)
class Sizes:
    reps: int
    throughput_n: int
    hol: tuple[int, float, int, float]  # bulk tasks, bulk seconds, small tasks, interval
    # Figure 4: None = consecutive windows of one watchdog period each, as many as
    # report.MIN_WATCHDOG_PERIODS (the figure); a number = one window of that many
    # seconds (QUICK: proves the harness, the report says it is not a result).
    idle_seconds: float | None
    storm: tuple[float, float, float, float, float]  # rate, idle s, storm s, detach at, sample
    setups: tuple[str, ...] = ("B", "C", "A")
    settle_s: float = 5  # after the workers answer: mingle and the first heartbeats


FULL = Sizes(reps=3, throughput_n=600, hol=(30, 2.0, 20, 0.2), idle_seconds=None,
             storm=(25, 20, 600, 180, 10))
QUICK = Sizes(reps=1, throughput_n=30, hol=(4, 0.5, 5, 0.05), idle_seconds=5,
              storm=(10, 1, 4, 2, 1), setups=("C", "A"), settle_s=1)


def render_fleets() -> None:
    """A and B's worker services, from the bench topology (as `make compose-files` does)."""
    path = REPO / BENCH_FLEETS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(compose_services.render(load(BENCH_TOPOLOGY)), encoding="utf-8")


def worker_nodes() -> int:
    """Celery worker nodes A runs: one per process of each fleet of the bench topology."""
    return sum(f.processes for f in load(BENCH_TOPOLOGY).fleets)


def watchdog_period(config: dict) -> float:
    """The watchdog period (s) of a setup's worker services, from its compose config.

    Only services that run fleets start the watchdog (beat's container has
    none, and 0 turns it off). Raises when no service runs one.
    """
    periods = set()
    for service in config["services"].values():
        env = service.get("environment") or {}
        runs_fleets = env.get("CELERY_STACK_FLEETS", "none") != "none"
        if runs_fleets and float(env.get(WATCHDOG_VARIABLE) or 0):
            periods.add(float(env[WATCHDOG_VARIABLE]))
    if not periods:
        raise ValueError(f"no worker service sets {WATCHDOG_VARIABLE}: figure 4's window "
                         "cannot be sized to the watchdog period")
    return max(periods)
