"""Scenario 3: SIGSTOP one of two Celery processes in one worker container.

The ``io`` fleet of the demo topology runs two processes (``processes: 2``)
in container worker-io: the watchdog there must restart exactly the stopped
one, within the bound the rendered watchdog settings give, while its sibling
in the same container (and every other compared process) keeps its pid.
"""

from __future__ import annotations

import shlex
import time

from ..derive.supervisor import START_SECS
from ..watchdog import decide as watchdog_rules
from ..watchdog import run as watchdog_run
from . import checks, cluster
from .report import Result
from .scenarios import Ctx, drain, now, pids, publish_all, wait_done, wait_whole, whole_again

FLEET = "io"  # a fleet with >= 2 processes per container, so "exactly one" means something
SERVICE = f"worker-{FLEET}"


def watchdog_settings(ctx: Ctx, service: str) -> tuple[float, float, float]:
    """(pass interval, unresponsive threshold, ping timeout) of the watchdog in ``service``."""
    conf = ctx.stack.exec(service, "cat", "/etc/supervisor/conf.d/celery-stack.conf").stdout
    line = next((x for x in conf.splitlines()
                 if x.startswith("command=") and " watchdog " in f"{x} "), "")
    argv = shlex.split(line.removeprefix("command="))
    if not argv:
        raise AssertionError(f"{service}: no watchdog program in the Supervisor config")

    def opt(name: str, default: float) -> float:
        return float(argv[argv.index(name) + 1]) if name in argv else default
    return (opt("--interval", 0.0),
            opt("--unresponsive-after", watchdog_rules.Options().unresponsive_after),
            opt("--ping-timeout", watchdog_run.PING_TIMEOUT))


def compared(before: dict, after: dict, skip: set[str], victim: tuple[str, str],
             ) -> tuple[list[str], list[str]]:
    """(processes compared, those whose pid changed): every process of every service
    not disturbed on purpose by a scenario running beside, except the victim (pure)."""
    seen = [(s, n) for s in sorted(before) if s not in skip for n in sorted(before[s])
            if (s, n) != victim]
    changed = [f"{s}/{n}" for s, n in seen if after.get(s, {}).get(n) != before[s][n]]
    return [f"{s}/{n}" for s, n in seen], changed


def hung_worker(ctx: Ctx, result: Result) -> None:
    """3. SIGSTOP one worker process: the watchdog restarts exactly that one."""
    fleet = ctx.topology.fleet(FLEET)
    program = fleet.program
    victim, sibling = f"{program}:{program}-00", f"{program}:{program}-01"
    interval, threshold, ping = watchdog_settings(ctx, SERVICE)
    # Decision: checks.watchdog_decision_bound (interval + threshold, then the
    # deciding pass's probes); then Supervisor stops the stopped process (the
    # watchdog continues it first, so TERM starts a warm shutdown: at most
    # stopwaitsecs, then KILL) and starts it (startsecs).
    decide = checks.watchdog_decision_bound(interval, threshold, ping, watchdog_rules.PASS_JITTER)
    bound = decide + fleet.stop_wait + START_SECS
    result.facts.update(container=f"{SERVICE} ({fleet.processes} processes of fleet {FLEET})",
                        watchdog_interval=f"{interval:.0f} s", ping_timeout=f"{ping:.0f} s",
                        unresponsive_threshold=f"{threshold:.0f} s",
                        decision_bound=f"{decide:.0f} s", stop_wait=f"{fleet.stop_wait} s",
                        restart_bound=f"{bound:.0f} s")
    wait_whole(ctx)
    run = ctx.new_run("hung")
    before = pids(ctx)
    result.check(f"{SERVICE} runs at least two Celery processes",
                 {victim, sibling} <= set(before.get(SERVICE, {})), str(before.get(SERVICE)))
    main = before[SERVICE][victim]
    stopped = False
    try:
        # Enough tasks for every thread of both processes: the stopped one holds some.
        slots = (fleet.concurrency or 1) * fleet.processes * max(1, fleet.prefetch_multiplier)
        pub = publish_all(ctx, run, [(FLEET, 3.0)] * slots)
        host = cluster.hostname(ctx.stack, SERVICE)
        cluster.wait_for(f"a task running in {victim}", lambda: f"{host}:{main}" in set(
            cluster.ledger_hash(ctx.stack, run, "started").values()), 90, every=0.5)
        cluster.signal(ctx.stack, SERVICE, "STOP", main)
        stopped = True
        t0, t0_wall = now(), time.time()
        held = set(pub.confirmed) - set(cluster.ledger_runs(ctx.stack, run))
        ctx.say(f"  SIGSTOP {victim} pid {main} in {SERVICE}; {len(held)} task(s) unfinished")

        def restarted() -> bool:
            p = cluster.programs(ctx.stack, SERVICE)[victim]
            return p.state == "RUNNING" and p.pid not in (None, main)
        cluster.wait_for(f"the watchdog restarts {victim}", restarted, bound + 60, every=2)
        stopped = False
        took = now() - t0
        result.recovery["watchdog_restart"] = took
        result.check(f"watchdog restarted the stopped process within its bound ({bound:.0f} s)",
                     took <= bound, f"{took:.0f} s")
        logs = ctx.stack.logs(SERVICE, tail=400, timestamps=True)
        line = next((x for x in logs.splitlines()
                     if "watchdog:" in x and victim in x and " restart:" in x), "")
        result.check("the restart was the watchdog's decision (its log line)", bool(line),
                     line.strip()[:200])
        # Where the time went (facts, not checks): SIGSTOP -> decision logged, then
        # decision -> new process RUNNING (Supervisor's stop wait and start).
        decided = checks.log_time(line)
        if decided is not None:
            result.recovery["watchdog_decided"] = decided - t0_wall
            result.recovery["restart_after_decision"] = took - (decided - t0_wall)
        wait_done(ctx, run, list(held), 240)
        result.check(f"tasks it held ({len(held)}) completed (warm stop or redelivery)",
                     bool(held), "none held" if not held else "")
        after = pids(ctx)
        result.check(f"its sibling {sibling} in the same container kept its pid",
                     after[SERVICE].get(sibling) == before[SERVICE][sibling],
                     f"{before[SERVICE][sibling]} -> {after[SERVICE].get(sibling)}")
        seen, changed = compared(before, after, ctx.disturbed, (SERVICE, victim))
        result.check("no healthy process was restarted", not changed,
                     f"changed: {changed}" if changed else
                     f"compared {len(seen)} processes"
                     + (f", skipping {sorted(ctx.disturbed)} (other scenarios)"
                        if ctx.disturbed else ""))
        result.facts["compared_processes"] = ", ".join(seen)
        drain(ctx, run, pub, result)
    finally:
        if stopped:
            ctx.stack.exec(SERVICE, "sh", "-c", f"kill -CONT {int(main)}", timeout=30)
        whole_again(ctx, result)
        cluster.forget(ctx.stack, run)
