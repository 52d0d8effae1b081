"""The watchdog, run by cron, restarts exactly a SIGSTOPped worker process within its bound.

The README's bound is "interval + unresponsive threshold": the interval is
the cron schedule's period, the threshold the watchdog's --unresponsive-after,
both read from /etc/cron.d/celery-stack-watchdog on the host. Phase 1 stops
the process and notes the time; the other checks run meanwhile; phase 3
collects the watchdog's restart (its state file records when it decided),
compares every other Supervisor pid, and waits for the new process.
"""

import time

import pytest
from infra import first
from watchdog_host import PASS_START_S, cron_settings, processes, program_setting, restarts

from celery_stack.topology import load

testinfra_hosts = [first("celery_workers")]
TOPOLOGY = load(None)
# Shared between the two phases (same pytest session).
STOPPED: dict = {}


@pytest.mark.phase(1)
def test_sigstop_one_of_several_worker_processes(host):
    settings = cron_settings(host)
    procs = processes(host)
    fleets = {f.program: f for f in TOPOLOGY.fleets}
    workers = {n: p for n, p in procs.items() if n.split(":")[0] in fleets}
    assert len(workers) >= 2, f"'exactly one' needs two or more worker processes: {procs}"
    # A prefork fleet (the threshold applies as is) with the shortest stop wait.
    fleet = min((f for f in TOPOLOGY.fleets if f.pool == "prefork"), key=lambda f: f.stop_wait)
    name = next(n for n in workers if n.startswith(f"{fleet.program}:"))
    state, pid, uptime = workers[name]
    assert state == "RUNNING", procs
    # The watchdog leaves young processes alone: wait out its grace first.
    time.sleep(max(0.0, settings["grace"] - uptime))
    result = host.run(f"kill -STOP {pid} && date +%s.%N")
    assert result.rc == 0, result.stderr
    STOPPED.update(name=name, pid=pid, program=fleet.program, at=float(result.stdout),
                   before={n: p[1] for n, p in procs.items()}, settings=settings)


@pytest.mark.phase(3)
def test_cron_watchdog_restarted_exactly_that_process_within_its_bound(host):
    assert STOPPED, "the SIGSTOP step did not run"
    s, name = STOPPED["settings"], STOPPED["name"]
    try:
        # The README's bound: interval + threshold, plus the seconds a cron pass
        # may read its clock late (Python start-up), which the README states as 5 s.
        bound = s["interval"] + s["threshold"] + PASS_START_S
        # Poll one pass past the bound (a pass writes its decision after its
        # probes, within a minute): a late decision is then seen and measured.
        deadline = STOPPED["at"] + bound + s["interval"] + 60
        new = []
        while not new and time.time() < deadline:
            new = [t for t in restarts(host, name) if t > STOPPED["at"]]
            time.sleep(3)
        assert new, f"no watchdog restart of {name} within {deadline - STOPPED['at']:.0f} s"
        took = new[0] - STOPPED["at"]
        print(f"watchdog decided {took:.1f} s after SIGSTOP (bound {bound:.0f} s)")
        assert took <= bound, (f"the watchdog decided to restart {name} {took:.0f} s after "
                               f"SIGSTOP; bound {bound:.0f} s (interval {s['interval']:.0f} + "
                               f"threshold {s['threshold']:.0f} + pass start {PASS_START_S:.0f})")
        # The watchdog continues the stopped process before Supervisor's TERM
        # (celery_stack.watchdog.resume), so it stops warmly within stopwaitsecs;
        # then Supervisor starts a new one.
        wait = (program_setting(host, STOPPED["program"], "stopwaitsecs")
                + program_setting(host, STOPPED["program"], "startsecs") + s["interval"])
        deadline = new[0] + wait

        def replaced(now) -> bool:
            state, pid, _ = now.get(name, ("", 0, 0))
            return state == "RUNNING" and pid != STOPPED["pid"]
        now = processes(host)
        while not replaced(now) and time.time() < deadline:
            time.sleep(3)
            now = processes(host)
        assert replaced(now), f"{name} not running again {wait:.0f} s after the decision: {now}"
        changed = {n: (pid, now.get(n, ("", None))[1]) for n, pid in STOPPED["before"].items()
                   if n != name and now.get(n, ("", None))[1] != pid}
        assert not changed, f"other processes restarted (old, new pid): {changed}"
        # Warm: Supervisor saw it exit by itself, not end by its SIGKILL after stopwaitsecs.
        process = name.split(":")[-1]
        log = host.run(f"journalctl -u supervisor --no-pager -o cat --since @{int(STOPPED['at'])}"
                       f" | grep -F 'stopped: {process} '").stdout
        assert "(exit status 0)" in log and "SIGKILL" not in log, (
            f"{name} did not stop warmly after the watchdog's restart:\n{log}")
    finally:
        # Never leave a stopped process behind for later checks.
        host.run(f"kill -0 {STOPPED['pid']} 2>/dev/null && kill -CONT {STOPPED['pid']}")
