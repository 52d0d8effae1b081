"""The watchdog, run by cron, restarts exactly a SIGSTOPped worker process within its bound.

The README's bound is "interval + unresponsive threshold": the interval is
the cron schedule's period, the threshold the watchdog's --unresponsive-after,
both read from /etc/cron.d/celery-stack-watchdog on the host. Phase 1 stops
the process and notes the time; the other checks run meanwhile; phase 3
collects the watchdog's restart (its state file records when it decided),
compares every other Supervisor pid, and waits for the new process.
"""

import json
import re
import shlex
import time

import pytest
from infra import first

from celery_stack.topology import load

testinfra_hosts = [first("celery_workers")]
TOPOLOGY = load(None)
CRON = "/etc/cron.d/celery-stack-watchdog"
STATE = "/var/lib/celery-stack-watchdog/state.json"
# Seconds a cron pass may start late (README, "celery-stack watchdog").
PASS_START_S = 5.0
SUPERVISOR_CONF = "/etc/supervisor/conf.d/celery-stack.conf"
# Shared between the two phases (same pytest session).
STOPPED: dict = {}


def cron_settings(host) -> dict[str, float]:
    """Pass interval (s) from the schedule and the watchdog's options from its command line."""
    lines = [x for x in host.file(CRON).content_string.splitlines()
             if x.strip() and not x.startswith("#") and "=" not in x.split()[0]]
    assert len(lines) == 1, lines
    fields = lines[0].split()
    minute, rest = fields[0], fields[1:5]
    assert rest == ["*"] * 4, f"not a per-minute schedule: {fields[:5]}"
    step = re.fullmatch(r"\*(?:/(\d+))?", minute)
    assert step, f"minute field {minute!r}: expected * or */N"
    argv = shlex.split(" ".join(fields[6:]))  # fields[5] is the user
    assert "watchdog" in argv, argv

    def opt(name: str) -> float:
        assert name in argv, f"{name} is not on the cron line: {argv}"
        return float(argv[argv.index(name) + 1])
    return {"interval": 60.0 * int(step.group(1) or 1),
            "threshold": opt("--unresponsive-after"), "grace": opt("--startup-grace")}


def processes(host) -> dict[str, tuple[str, int, float]]:
    """Supervisor name -> (state, pid, uptime s), e.g. from "RUNNING pid 7, uptime 0:01:02"."""
    out = {}
    for line in host.run("supervisorctl status").stdout.splitlines():
        m = re.match(r"(\S+)\s+(\S+)\s+pid (\d+), uptime (?:(\d+) days?, )?(\d+):(\d+):(\d+)",
                     line)
        if m:
            days, h, mi, s = (int(m.group(i) or 0) for i in range(4, 8))
            out[m.group(1)] = (m.group(2), int(m.group(3)), (((days * 24 + h) * 60) + mi) * 60 + s)
    return out


def program_setting(host, program: str, key: str) -> int:
    conf = host.file(SUPERVISOR_CONF).content_string
    section = conf.split(f"[program:{program}]", 1)[1].split("\n[", 1)[0]
    return int(re.search(rf"^{key}=(\d+)", section, re.M).group(1))


def restarts(host, name: str) -> list[float]:
    text = host.file(STATE).content_string if host.file(STATE).exists else "{}"
    return (json.loads(text).get("processes", {}).get(name) or {}).get("restarts") or []


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
        # Supervisor kills the stopped process after stopwaitsecs, then starts a new one.
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
    finally:
        # Never leave a stopped process behind for later checks.
        host.run(f"kill -0 {STOPPED['pid']} 2>/dev/null && kill -CONT {STOPPED['pid']}")
