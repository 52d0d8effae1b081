"""Bring the setups up and measure them (host side).

Order (full run): B (tuned single node: throughput), then C (naive: idle
traffic, throughput, head-of-line) left running idle, then A (tuned HA: cold
and warm bring-up, idle traffic, throughput, head-of-line) measured while C
idles (conservative for A), then the event storm on A and C at the same time
(one 10-minute window for both instead of two), then both are removed.
QUICK proves the harness: A and C only (B is A's files plus one overlay,
checked with `docker compose config`), brought up together, tiny sizes.
Every project is `down -v`'d at the end, also on failure.

A and B run bench/topology.yml (the fleets the worker budget describes),
with their own generated fleets file, not the make up stack's.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..testing.compose import REPO, Compose, StackError, compose_env, ports
from . import charts, report
from .plan import (
    BENCH_TOPOLOGY,
    FULL,
    QUICK,
    TUNED,
    Sizes,
    render_fleets,
    watchdog_period,
    worker_nodes,
)
from .report import update_readme

# Same total worker budget in every setup (see the compose files).
BUDGET = ("1.5 CPUs and 5 prefork pool processes for workers (A/B: default 2 + priority 2 + "
          "bulk 1 at 0.3 CPU each; C: one pool of 5 at 1.5 CPUs)")


def setup(name: str, project: str) -> Compose:
    offset = int(os.environ.get("BENCH_PORT_OFFSET", "500"))
    extra = {"CELERY_STACK_TOPOLOGY_FILE": str(BENCH_TOPOLOGY)}
    if name == "A":
        files, shift = (*TUNED, "bench/compose/tuned-ha.yaml"), offset
    elif name == "B":
        files, shift = (*TUNED, "bench/compose/tuned-single.yaml"), offset + 10
    else:
        files, shift, extra = ("bench/compose/naive.yaml",), offset + 20, {}
    port_map = ports(shift)
    return Compose(project, compose_env(port_map, extra), files, port_map)


def agent(stack: Compose, *args: str, timeout: float = 900) -> dict:
    proc = stack.run("run", "--rm", "--no-deps", "-T", "bench-agent", *args, timeout=timeout,
                     check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise StackError(f"{stack.project}: agent {' '.join(args)} failed ({proc.returncode}):\n"
                         f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


NAIVE_DEFINITIONS = REPO / "secrets/bench_naive_definitions.json"


def naive_definitions() -> None:
    """C's broker definitions: the project's users, vhost and permissions only.

    No exchange, queue or policy: a fresh broker, where Celery declares its
    default direct exchange and classic queue itself. Holds password hashes,
    so it lives with the generated secrets (git-ignored, 0600).
    """
    source = REPO / "secrets/rabbitmq_definitions.json"
    try:
        full = json.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StackError(f"{source}: {exc.strerror}; run `make compose-files` first") from exc
    naive = {k: full[k] for k in ("users", "vhosts", "permissions") if k in full}
    fd = os.open(NAIVE_DEFINITIONS, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(naive, f)


def timed_up(stack: Compose) -> float:
    start = time.monotonic()
    stack.up()
    return time.monotonic() - start


def machine() -> dict:
    mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:"))
    return {"nproc": os.cpu_count(), "mem_total_gib": mem_kib / 1024 / 1024,
            "kernel": platform.release(), "loadavg_start": list(os.getloadavg())}


def in_parallel(calls: dict[str, Any]) -> dict[str, Any]:
    """Run each zero-argument callable in its own thread; raise if any failed."""
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}

    def call(key: str, fn) -> None:
        try:
            results[key] = fn()
        except Exception as exc:  # reported below, for every setup at once
            errors[key] = exc

    threads = [threading.Thread(target=call, args=item) for item in calls.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise StackError("; ".join(f"{k}: {e}" for k, e in errors.items()))
    return results


def read_optional(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class Runner:
    def __init__(self, sizes: Sizes, say, parallel: bool = False) -> None:
        self.s = sizes
        self.say = say
        # QUICK only: bring the setups up (and down) at the same time; it
        # proves the harness in minutes, the cold-up figure is then contended.
        self.parallel = parallel
        self.up_s: dict[str, float] = {}
        self.background: list[threading.Thread] = []
        prefix = os.environ.get("BENCH_PROJECT_PREFIX", "celery-stack-bench")
        self.stacks = {n: setup(n, f"{prefix}-{n.lower()}") for n in sizes.setups}
        self.m: dict[str, dict] = {f: {} for f in ("hol", "throughput", "memory", "overhead")}
        self.m["ops"] = {}
        self.notes: list[str] = []
        self.period = 0.0
        self.nodes = 0

    def prepare(self) -> None:
        """A/B's fleets file, the images, the watchdog period and A's worker nodes."""
        render_fleets()
        built = time.monotonic()
        self.stacks["A"].build()
        self.say(f"images checked/built in {time.monotonic() - built:.0f} s")
        self.period = watchdog_period(self.stacks["A"].config())
        self.nodes = worker_nodes()
        if "B" not in self.stacks:
            # Not brought up: its overlay must still merge with the files A uses.
            prefix = os.environ.get("BENCH_PROJECT_PREFIX", "celery-stack-bench")
            setup("B", f"{prefix}-b").config()

    # ----------------------------------------------------------- per setup
    # Agent steps (one `seq` run of the agent per phase: one container start each).
    def idle_step(self) -> str:
        seconds, reps = ((self.period, report.MIN_WATCHDOG_PERIODS) if self.s.idle_seconds is None
                         else (self.s.idle_seconds, 1))
        return f"idle --seconds {seconds} --reps {reps}"

    def measure_steps(self) -> list[str]:
        bulk_n, bulk_s, prio_n, interval = self.s.hol
        return [f"throughput --n {self.s.throughput_n} --reps {self.s.reps}",
                f"hol --bulk-n {bulk_n} --bulk-seconds {bulk_s} --prio-n {prio_n} "
                f"--prio-interval {interval} --reps {self.s.reps}"]

    def seq(self, name: str, *steps: str) -> list[dict]:
        # A hang guard only: a full run's longest phase (A: idle, throughput, hol) is minutes.
        return agent(self.stacks[name], "seq", *steps, timeout=1800)["seq"]

    def idle(self, name: str, result: dict) -> None:
        self.m["overhead"][name] = {**result, "workers": self.nodes,
                                    "watchdog_period_s": self.period}

    def bring_up(self, name: str) -> float:
        stack = self.stacks[name]
        stack.down()
        if name == "C":
            naive_definitions()
        self.up_s[name] = timed_up(stack)
        return self.up_s[name]

    def run_b(self) -> None:
        b = self.stacks["B"]
        if not self.parallel:
            self.bring_up("B")
        self.say(f"B: up in {self.up_s['B']:.0f} s")
        _, self.m["throughput"]["B"] = self.seq("B", f"wait-workers --n {self.nodes}",
                                                self.measure_steps()[0])
        self.say(f"B: throughput {self.m['throughput']['B']['reps']}")
        if self.parallel:
            down = threading.Thread(target=b.down)
            down.start()
            self.background.append(down)
        else:
            b.down()

    def c_as_many_workers_as_a(self) -> None:
        """Figure 4 with as many worker nodes in C as A has (then one pool again)."""
        c = self.stacks["C"]
        c.run("up", "-d", "--no-deps", "--scale", f"worker={self.nodes}", "worker", timeout=300)

    def run_c(self) -> None:
        c = self.stacks["C"]
        if not self.parallel:
            self.bring_up("C")
        self.say(f"C: up in {self.up_s['C']:.0f} s")
        self.c_as_many_workers_as_a()
        *_, idle = self.seq("C", f"wait-workers --n {self.nodes}",
                            f"settle --seconds {self.s.settle_s}", self.idle_step())
        self.idle("C", idle)
        c.run("up", "-d", "--no-deps", "--scale", "worker=1", "worker", timeout=300)
        _, self.m["throughput"]["C"], self.m["hol"]["C"] = self.seq(
            "C", "wait-workers --n 1", *self.measure_steps())
        self.say(f"C: done (throughput {self.m['throughput']['C']['reps']})")

    def run_a(self) -> None:
        a = self.stacks["A"]
        cold = self.up_s["A"] if self.parallel else self.bring_up("A")
        warm = [timed_up(a) for _ in range(self.s.reps)]
        self.m["ops"]["make_up_cold_s"] = [cold]
        self.m["ops"]["make_up_warm_s"] = warm
        self.say(f"A: cold up {cold:.0f} s, warm {[round(w, 1) for w in warm]}")
        _, _, idle, self.m["throughput"]["A"], self.m["hol"]["A"] = self.seq(
            "A", f"wait-workers --n {self.nodes}", f"settle --seconds {self.s.settle_s}",
            self.idle_step(), *self.measure_steps())
        self.idle("A", idle)
        self.say(f"A: done (throughput {self.m['throughput']['A']['reps']})")

    def run_idle_only(self) -> dict:
        """Figure 4 alone: A and C up together, both idle over the same window."""
        try:
            in_parallel({n: (lambda n=n: self.bring_up(n)) for n in ("C", "A")})
            self.say(f"A and C up in {self.up_s}")
            self.c_as_many_workers_as_a()
            steps = (f"wait-workers --n {self.nodes}", f"settle --seconds {self.s.settle_s}",
                     self.idle_step())
            idle = in_parallel({n: (lambda n=n: self.seq(n, *steps)[-1]) for n in ("A", "C")})
            for name, result in idle.items():
                self.idle(name, result)
        finally:
            # QUICK's stacks hold nothing worth a graceful stop: 2 s, not 20.
            grace = 2 if self.parallel else 20
            in_parallel({n: (lambda st=st: st.down(grace)) for n, st in self.stacks.items()})
        return report.overhead(self.m["overhead"])

    # --------------------------------------------------------------- storm
    def storm(self) -> None:
        rate, idle_s, seconds, detach_at, sample = self.s.storm
        paused: dict[str, list[str]] = {"A": ["bench-monitor", "flower"], "C": ["bench-monitor"]}
        procs, outputs, timers = {}, {}, []
        in_parallel({n: (lambda n=n: self.stacks[n].run(
            "--profile", "bench", "up", "-d", "--no-deps", "bench-monitor", timeout=120))
            for n in ("A", "C")})
        time.sleep(self.s.settle_s)  # the monitors have declared their event queues
        for name in ("A", "C"):
            stack = self.stacks[name]
            cmd = [*stack.base, "run", "--rm", "--no-deps", "-T", "bench-agent", "storm",
                   "--rate", str(rate), "--seconds", str(seconds), "--detach-at", str(detach_at),
                   "--idle-seconds", str(idle_s), "--sample", str(sample)]
            procs[name] = subprocess.Popen(cmd, cwd=REPO, env=stack.env, text=True,  # noqa: S603
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        def follow(name: str) -> None:
            lines = []
            proc = procs[name]
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if line.startswith('{"storm": "started"'):
                    stack = self.stacks[name]
                    timer = threading.Timer(detach_at, stack.run,
                                            args=("pause", *paused[name]),
                                            kwargs={"timeout": 60, "check": False})
                    timer.start()
                    timers.append(timer)
            outputs[name] = lines

        threads = [threading.Thread(target=follow, args=(n,)) for n in procs]
        for t in threads:
            t.start()
        try:
            for proc in procs.values():
                proc.wait(timeout=seconds + idle_s + 600)
            for t in threads:
                t.join(timeout=30)
        finally:
            for timer in timers:
                timer.cancel()
            def resume(name: str) -> None:
                self.stacks[name].run("unpause", *paused[name], timeout=60, check=False)
                self.stacks[name].run("--profile", "bench", "rm", "-sf", "bench-monitor",
                                      timeout=120, check=False)
            in_parallel({n: (lambda n=n: resume(n)) for n in ("A", "C")})
        for name, proc in procs.items():
            lines = [ln for ln in outputs.get(name, []) if ln.startswith("{")]
            if proc.returncode != 0 or not lines:
                err = proc.stderr.read() if proc.stderr else ""
                raise StackError(f"storm on {name} failed ({proc.returncode}): {err[-3000:]}")
            self.m["memory"][name] = {**json.loads(lines[-1]), "seconds": seconds}

    # ----------------------------------------------------------------- all
    def run(self) -> None:
        start = time.monotonic()
        self.prepare()
        steps = {"B": self.run_b, "C": self.run_c, "A": self.run_a}
        try:
            if self.parallel:
                in_parallel({n: (lambda n=n: self.bring_up(n)) for n in self.s.setups})
            if self.parallel:  # QUICK: C's and A's measurements at the same time too
                in_parallel({n: steps[n] for n in self.s.setups})
            else:
                for name in self.s.setups:
                    steps[name]()
            self.say("storm on A and C at the same time")
            self.storm()
        finally:
            for thread in self.background:
                thread.join()
            # QUICK's stacks hold nothing worth a graceful stop: 2 s, not 20.
            grace = 2 if self.parallel else 20
            in_parallel({n: (lambda st=st: st.down(grace)) for n, st in self.stacks.items()})
        self.m["ops"]["ansible"] = read_optional(REPO / "bench/results/ops-ansible.json")
        self.m["ops"]["make_test"] = read_optional(REPO / "bench/results/ops-make-test.json")
        self.duration = time.monotonic() - start


def main(quick: bool, out: Path, readme: Path | None, say=print) -> dict:
    meta = {"mode": "quick" if quick else "full",
            "command": "make bench QUICK=1" if quick else "make bench",
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(), "budget": BUDGET}
    sizes = QUICK if quick else FULL
    runner = Runner(sizes, say, parallel=quick)
    runner.run()
    meta["setups"] = sorted(sizes.setups)
    meta["machine"]["loadavg_end"] = list(os.getloadavg())
    rate, _, seconds, detach_at, _ = sizes.storm
    notes = [
        f"Storm: A and C at the same time for {seconds:.0f} s at {rate:.0f} no-op tasks/s each "
        f"(events on); a Flower-like monitor consumes events, then is paused at "
        f"{detach_at:.0f} s (stalled monitor, connection kept; A's Flower is paused too). "
        "One window per setup (not 3): two 10-minute windows do not fit in 30 minutes.",
        "C was left running idle while A was measured (conservative for A).",
        "Idle traffic counts every message the broker received plus delivered "
        f"(Prometheus global counters, all nodes), with {runner.nodes} worker nodes in A and "
        f"in C, as the mean over the whole idle window (the watchdog runs every "
        f"{runner.period:.0f} s in A's worker containers).",
        "make up cold was measured once per run (warm: each repetition).",
    ]
    if quick:
        notes.append("QUICK brings A and C up at the same time (B: compose config only) "
                     "with tiny sizes: its make-up times and figures prove the harness, "
                     "they are not results.")
    full = report.build(runner.m, {**meta, "duration_s": runner.duration,
                                   "repetitions": sizes.reps, "notes": notes})
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(full, indent=1) + "\n", encoding="utf-8")
    table = report.markdown(full)
    (out / "bench.md").write_text(table, encoding="utf-8")
    charts.write(full, out)
    if readme is not None:
        update_readme(readme, table)
    return full


def idle_only(out: Path, say=print) -> dict:
    """Figure 4 alone for A and C (`python -m celery_stack.bench --only idle`)."""
    runner = Runner(FULL, say)
    runner.stacks = {n: runner.stacks[n] for n in ("A", "C")}
    start = time.monotonic()
    runner.prepare()
    figure = runner.run_idle_only()
    result = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
              "duration_s": time.monotonic() - start, "overhead": figure}
    out.mkdir(parents=True, exist_ok=True)
    (out / "fig4-idle.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


def down_all() -> None:
    """`down -v` every bench project (interrupted runs)."""
    prefix = os.environ.get("BENCH_PROJECT_PREFIX", "celery-stack-bench")
    render_fleets()  # A and B's files name it (a fresh clone has none yet)
    for name in ("A", "B", "C"):
        stack = setup(name, f"{prefix}-{name.lower()}")
        proc = stack.down()
        print(f"{stack.project}: down -v exit {proc.returncode}")
