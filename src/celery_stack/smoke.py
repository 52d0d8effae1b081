"""Smoke probe: prove every queue is served by a worker of the fleet owning it.

Publishes one probe task per queue through the configured broker (normally
the load balancer), waits for all of them within one deadline, and fails
unless each came back from a fleet that consumes that queue.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from celery import Celery

from .derive import celery_settings
from .probe import PROBE_TASK
from .topology import Topology


@dataclass(frozen=True)
class ProbeResult:
    queue: str
    owners: tuple[str, ...]
    fleet: str = ""
    node: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and self.fleet in self.owners


def make_app(topology: Topology, env: Mapping[str, str]) -> Celery:
    app = Celery(topology.app.name, set_as_current=False)
    app.config_from_object(celery_settings.build(topology, env))
    return app


def run(topology: Topology, env: Mapping[str, str] | None = None,
        timeout: float = 60.0) -> list[ProbeResult]:
    env = os.environ if env is None else env
    app = make_app(topology, env)
    if not app.conf.result_backend:
        raise SystemExit("smoke: no result backend; set CELERY_STACK_REDIS_HOST (and "
                         "CELERY_STACK_REDIS_PASSWORD_FILE) or CELERY_STACK_RESULT_BACKEND")
    token = uuid.uuid4().hex
    pending = {}
    for q in topology.queues:
        # expires: a probe nobody consumed must not run hours later.
        pending[q.name] = app.send_task(PROBE_TASK, args=[token], queue=q.name,
                                        expires=timeout, ignore_result=False)
    deadline = time.monotonic() + timeout
    results = []
    for q in topology.queues:
        owners = tuple(f.name for f in topology.fleets_for(q.name))
        remaining = max(0.1, deadline - time.monotonic())
        try:
            reply = pending[q.name].get(timeout=remaining, disable_sync_subtasks=False)
        except Exception as exc:  # any failure (timeout, task error) is reported per queue
            kind = "no reply within timeout" if "Timeout" in type(exc).__name__ else repr(exc)
            results.append(ProbeResult(q.name, owners, error=kind))
            continue
        error = "" if reply.get("token") == token else "stale reply"
        if not error and reply.get("fleet") not in owners:
            error = f"served by fleet {reply.get('fleet')!r}, not by its owner"
        results.append(ProbeResult(q.name, owners, reply.get("fleet", ""),
                                   reply.get("node", ""), error))
    app.close()
    return results


def table(results: list[ProbeResult]) -> str:
    rows = [("QUEUE", "OWNER FLEETS", "SERVED BY", "NODE", "RESULT")]
    for r in results:
        rows.append((r.queue, ",".join(r.owners), r.fleet or "-", r.node or "-",
                     "ok" if r.ok else f"FAIL: {r.error}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)
