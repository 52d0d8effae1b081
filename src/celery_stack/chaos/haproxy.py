"""HAProxy's view of the AMQP servers, for the chaos scenarios (moved from e2e).

``server_row`` reads the stats CSV on the project's published stats port (the
generated admin password, never printed); ``checks`` reads the check
settings from the haproxy.cfg inside the running container.
"""

from __future__ import annotations

import base64
import csv
import io
import time
import urllib.request

from ..testing.compose import Compose, secret
from .checks import HaproxyChecks, haproxy_checks

BACKEND = "rabbitmq_amqp"
CFG = "/etc/haproxy/haproxy.cfg"
POLL = 0.5  # seconds between two stats reads
# lastchg counts whole seconds: a change is timed at most this late.
RESOLUTION = 1.0


def server_row(stack: Compose, server: str) -> dict[str, str]:
    """HAProxy's stats row of one AMQP backend server (status, lastchg, ...)."""
    req = urllib.request.Request(stack.url("HAPROXY_STATS_PORT", "/;csv"))  # noqa: S310
    token = base64.b64encode(f"admin:{secret('haproxy_stats_password')}".encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(req, timeout=15) as resp:  # noqa: S310 (loopback)
        rows = list(csv.DictReader(io.StringIO(resp.read().decode().lstrip("# "))))
    for row in rows:
        if row["pxname"] == BACKEND and row["svname"] == server:
            return row
    raise AssertionError(f"no server {server} in HAProxy's {BACKEND} backend")


def checks(stack: Compose) -> HaproxyChecks:
    proc = stack.exec("haproxy", "cat", CFG, timeout=30)
    if proc.returncode != 0:
        raise AssertionError(f"cannot read {CFG} in haproxy: {proc.stderr[-500:]}")
    return haproxy_checks(proc.stdout)


def wait_status(stack: Compose, server: str, want: str | tuple[str, ...],
                timeout: float) -> float | None:
    """Seconds from the call until HAProxy changed ``server``'s status to one
    starting with ``want`` (one prefix or several); None if not within ``timeout``.

    The time comes from HAProxy's own ``lastchg`` (whole seconds since the
    change, counted when the answer was built), not from when a poll happened
    to see it, so a slow stats read on a loaded host adds nothing; the answer's
    arrival is used, so the figure can only err late, by under a second.
    """
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        row = server_row(stack, server)
        if row["status"].startswith(want):
            seen = time.monotonic() - start
            return max(0.0, seen - float(row.get("lastchg") or 0))
        time.sleep(POLL)
    return None
