"""Publish ledger tasks with publisher confirms, and reconcile what ran.

``reconcile`` is pure (unit-tested). ``Publisher`` runs on the host and
publishes through HAProxy's published AMQP port; it records which task ids
the broker confirmed and every gap between two confirms (a publish stall),
retrying a failed publish with the same task id after reconnecting, so an
unconfirmed attempt that did reach a queue shows up as a duplicate, never
as a loss.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from celery import Celery

from ..derive import celery_settings
from ..topology import load

LEDGER_TASK = "celery_stack.chaos.tasks.ledger"
# Seconds between reconnection attempts after a failed publish.
RECONNECT_PAUSE = 0.5


@dataclass(frozen=True)
class Counts:
    """Reconciliation of one run: every confirmed task must have run at least once."""

    sent: int  # confirmed by the broker
    executed: int  # confirmed ids that ran at least once
    duplicated: int  # confirmed ids that ran more than once
    lost: int  # confirmed ids that never ran
    extra_runs: int  # executions beyond the first, summed
    unconfirmed_executed: int  # ran although their publish was never confirmed
    lost_ids: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "executed": self.executed, "duplicated": self.duplicated,
                "lost": self.lost, "extra_runs": self.extra_runs,
                "unconfirmed_executed": self.unconfirmed_executed}


def reconcile(confirmed: Iterable[str], runs: Mapping[str, int], sample: int = 10) -> Counts:
    """Compare confirmed task ids with the ledger (task id -> executions)."""
    confirmed = set(confirmed)
    ran = {tid for tid, n in runs.items() if n > 0}
    lost = sorted(confirmed - ran)
    return Counts(
        sent=len(confirmed),
        executed=len(confirmed & ran),
        duplicated=sum(1 for tid in confirmed if runs.get(tid, 0) > 1),
        lost=len(lost),
        extra_runs=sum(n - 1 for tid, n in runs.items() if tid in confirmed and n > 1),
        unconfirmed_executed=len(ran - confirmed),
        lost_ids=tuple(lost[:sample]),
    )


def longest_gap(times: Sequence[float], start: float, end: float) -> tuple[float, float]:
    """(longest stretch without a confirm, when it began) within [start, end]."""
    points = [start, *sorted(t for t in times if start <= t <= end), end]
    best, at = 0.0, start
    for a, b in itertools.pairwise(points):
        if b - a > best:
            best, at = b - a, a
    return best, at


def spread(count: int, weights: Mapping[str, int]) -> list[str]:
    """``count`` queue names interleaved in proportion to ``weights``."""
    total = sum(weights.values())
    out: list[str] = []
    credit = dict.fromkeys(weights, 0.0)
    for _ in range(count):
        for q, w in weights.items():
            credit[q] += w / total
        q = max(credit, key=lambda name: credit[name])
        credit[q] -= 1
        out.append(q)
    return out


def producer_app(amqp_url: str) -> Celery:
    """A Celery app with the topology's producer settings, publishing to ``amqp_url``."""
    env = {"CELERY_STACK_BROKER_URL": amqp_url}
    app = Celery("celery-stack-chaos", set_as_current=False)
    topology = load(os.environ.get("CELERY_STACK_TOPOLOGY_FILE") or None)
    app.config_from_object(celery_settings.build(topology, env))
    # Fail fast on a dead connection: the publisher reconnects and retries itself.
    app.conf.broker_connection_timeout = 4
    app.conf.broker_connection_max_retries = 1
    return app


@dataclass
class Publisher:
    """Publishes ledger tasks (one thread), each confirmed before the next."""

    app: Celery
    run: str
    plan: list[tuple[str, float]]  # (queue, task seconds) per task
    rate: float | None = None  # tasks per second; None: as fast as confirms allow
    confirmed: dict[str, float] = field(default_factory=dict)  # task id -> confirm time
    attempted: set[str] = field(default_factory=set)
    errors: list[tuple[float, str]] = field(default_factory=list)
    started_at: float = 0.0
    finished_at: float | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Publisher:
        self._thread = threading.Thread(target=self._loop, name="chaos-publisher", daemon=True)
        self.started_at = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()

    def join(self, timeout: float) -> bool:
        assert self._thread is not None
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def done(self) -> bool:
        return self.finished_at is not None

    def _connect(self):
        while not self.stop_event.is_set():
            conn = self.app.connection_for_write()
            try:
                conn.ensure_connection(max_retries=1)
                return conn, self.app.amqp.Producer(conn.default_channel)
            except Exception as exc:  # any connection failure: pause and retry
                self.errors.append((time.monotonic(), f"connect: {type(exc).__name__}: {exc}"))
                conn.release()
                time.sleep(RECONNECT_PAUSE)
        return None, None

    def _loop(self) -> None:
        conn, producer = self._connect()
        try:
            for i, (queue, seconds) in enumerate(self.plan):
                if self.rate:
                    # Paced load: a steady stream across a slow fault (rolling restart).
                    delay = self.started_at + i / self.rate - time.monotonic()
                    if delay > 0:
                        self.stop_event.wait(delay)
                tid = str(uuid.uuid4())
                while not self.stop_event.is_set():
                    self.attempted.add(tid)
                    try:
                        self.app.send_task(LEDGER_TASK, args=[self.run, seconds], queue=queue,
                                           task_id=tid, producer=producer, retry=False)
                        self.confirmed[tid] = time.monotonic()
                        break
                    except Exception as exc:  # unconfirmed: reconnect, same id again
                        self.errors.append((time.monotonic(), f"{type(exc).__name__}: {exc}"))
                        if conn is not None:
                            conn.release()
                        conn, producer = self._connect()
                if self.stop_event.is_set():
                    break
        finally:
            if conn is not None:
                conn.release()
            self.finished_at = time.monotonic()

    def stall(self, start: float, end: float | None = None) -> tuple[float, float]:
        """Longest stretch without a confirm between ``start`` and ``end`` (default: finish)."""
        end = end if end is not None else (self.finished_at or time.monotonic())
        return longest_gap(list(self.confirmed.values()), start, end)

    def first_confirm_after(self, t: float) -> float | None:
        after = [c for c in self.confirmed.values() if c >= t]
        return min(after) - t if after else None
