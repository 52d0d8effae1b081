"""The watchdog on a worker host, as its cron line, Supervisor and state file show it."""

from __future__ import annotations

import json
import re
import shlex

CRON = "/etc/cron.d/celery-stack-watchdog"
STATE = "/var/lib/celery-stack-watchdog/state.json"
# Seconds a cron pass may start late (README, "celery-stack watchdog").
PASS_START_S = 5.0
SUPERVISOR_CONF = "/etc/supervisor/conf.d/celery-stack.conf"


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
