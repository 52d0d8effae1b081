"""Pure checks and bounds of the chaos suite (unit-tested; no I/O).

Every bound here is computed from configuration the caller read from the
running stack (rendered Supervisor/HAProxy/Celery settings), never picked.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

# Share of the planned tasks that must be confirmed (issue 10: >= 95 %).
VOLUME_SHARE = 0.95


def volume_ok(confirmed: int, planned: int, share: float = VOLUME_SHARE) -> bool:
    """A scenario with load proves something only if the load was actually sent."""
    return planned > 0 and confirmed >= share * planned


def errors_outside(errors: Sequence[tuple[float, str]],
                   window: tuple[float, float] | None) -> list[str]:
    """Publish errors that happened outside the fault window (all of them without one),
    each with its time from the fault's start, so a failure says how early or late."""
    if window is None:
        return [text for _, text in errors]
    lo, hi = window
    return [f"{text} at {at - lo:+.1f} s from the fault's start (window 0 to {hi - lo:.1f} s)"
            for at, text in errors if not lo <= at <= hi]


def error_budget(window: tuple[float, float] | None, pause: float) -> int:
    """Most publish-error records a fault window allows: every failed attempt sleeps
    ``pause`` before the next, and records at most two lines (publish, release)."""
    if window is None:
        return 0
    return 2 * (math.floor((window[1] - window[0]) / pause) + 1)


def unconfirmed_beyond_attempts(ran_unconfirmed: set[str], attempted: set[str],
                                confirmed: set[str]) -> set[str]:
    """Executed ids never confirmed that were not even attempted without confirm.

    A task may run although its confirm was lost (its connection broke after
    the broker took it): such ids are in ``attempted - confirmed``. Anything
    else ran without this run publishing it: the ledger is polluted.
    """
    return ran_unconfirmed - (attempted - confirmed)


@dataclass(frozen=True)
class HaproxyChecks:
    inter: float
    fall: int
    rise: int
    timeout_check: float
    dns_hold: float

    @property
    def down_bound(self) -> float:
        """A dead server is DOWN after ``fall`` failed checks, each started at most
        ``inter`` after the previous one ended and failing within ``timeout check``."""
        return self.fall * (self.inter + self.timeout_check)

    @property
    def up_bound(self) -> float:
        """A server answering again is UP after ``rise`` passed checks, once HAProxy's
        resolver has its (possibly new) address: ``hold valid`` at most."""
        return self.dns_hold + self.rise * (self.inter + self.timeout_check)


def _seconds(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)?", text)
    if not m:
        raise ValueError(f"not a HAProxy time: {text!r}")
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 0.001}[m.group(2)]
    return float(m.group(1)) * scale


def haproxy_checks(cfg: str) -> HaproxyChecks:
    """The AMQP servers' check settings from a rendered haproxy.cfg."""
    words = {}
    for line in cfg.splitlines():
        parts = line.split("#", 1)[0].split()
        if parts[:1] == ["default-server"]:
            for key in ("inter", "fall", "rise"):
                if key in parts:
                    words[key] = parts[parts.index(key) + 1]
        elif parts[:2] == ["timeout", "check"]:
            words["timeout_check"] = parts[2]
        elif parts[:2] == ["hold", "valid"]:
            words["dns_hold"] = parts[2]
    missing = {"inter", "fall", "rise", "timeout_check", "dns_hold"} - set(words)
    if missing:
        raise ValueError(f"haproxy.cfg: no {', '.join(sorted(missing))}")
    return HaproxyChecks(_seconds(words["inter"]), int(words["fall"]), int(words["rise"]),
                         _seconds(words["timeout_check"]), _seconds(words["dns_hold"]))


def watchdog_decision_bound(interval: float, threshold: float, ping: float,
                            jitter: float = 0.0) -> float:
    """Longest SIGSTOP -> restart call of the watchdog (cron or its compose loop).

    Passes start on a grid every ``interval`` (cron's minutes; the loop keeps
    the same grid however long a pass takes). The first pass to miss the
    process starts within ``interval`` of the stop and starts its silence
    clock; the restart is decided by the first pass whose silence, plus the
    ``jitter`` a pass's clock may be late, reaches ``threshold``: interval +
    ceil((threshold - jitter) / interval) x interval, which is interval +
    threshold when threshold is a multiple of it. That pass calls restart
    after its four broker calls (ping, stats, active, the queue read's
    connection), each waiting at most the ``ping`` timeout.
    """
    decide = interval + math.ceil(max(0.0, threshold - jitter) / interval) * interval
    return decide + 4 * ping


def log_time(line: str) -> float | None:
    """Epoch seconds of a `docker logs --timestamps` line (RFC 3339, nanoseconds), or None."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)\s", line)
    if m is None:
        return None
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    whole = datetime.datetime.fromisoformat(m.group(1) + zone).timestamp()
    return whole + float(f"0.{m.group(2)}") if m.group(2) else whole


def redis_recovery_bound(socket_timeout: float, get_timeout: float, pause: float) -> float:
    """Longest Redis-ready -> first good round trip of the result client and worker.

    After Redis answers again: a backend call already waiting on a dead socket
    gives up within ``redis_socket_timeout`` and the next one reconnects (the
    connection errors kombu[redis] provides); a client ``get()`` in flight for a
    result lost with Redis waits its own timeout; then the client pauses once.
    """
    return socket_timeout + get_timeout + pause
