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
# Seconds to wait for a batch's confirms before publishing it again elsewhere.
CONFIRM_TIMEOUT = 30
# Seconds a (re)connect through HAProxy may take before the publisher gives up on it.
PRODUCER_CONNECT_TIMEOUT = 4


class DeliveryTagError(RuntimeError):
    """A confirm's delivery tag maps to no task sent: the counts would be wrong.

    Never retried: the publisher stops and the scenario fails (``Publisher.fatal``).
    """


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
    app.conf.broker_connection_timeout = PRODUCER_CONNECT_TIMEOUT
    app.conf.broker_connection_max_retries = 1
    # Confirms are pipelined by the Publisher (confirm_publish would wait for each).
    app.conf.broker_transport_options = {}
    # One publish per task on the channel, so delivery tag n is the n-th task:
    # a task-sent event would take a delivery tag of its own.
    app.conf.task_send_sent_event = False
    return app


@dataclass
class Publisher:
    """Publishes ledger tasks (one thread) with pipelined publisher confirms.

    Tasks go out in batches; a batch is complete when the broker confirmed
    every message of it (``basic.ack``). A nack, a timeout or a broken
    connection sends the unconfirmed ones again, same ids, on a new connection.
    """

    app: Celery
    run: str
    plan: list[tuple[str, float]]  # (queue, task seconds) per task
    rate: float | None = None  # tasks per second; None: as fast as confirms allow
    batch: int = 200
    task: str = LEDGER_TASK  # any task taking (run, seconds)
    confirmed: dict[str, float] = field(default_factory=dict)  # task id -> confirm time
    attempted: set[str] = field(default_factory=set)
    errors: list[tuple[float, str]] = field(default_factory=list)
    fatal: str | None = None  # a DeliveryTagError: the run's counts cannot be trusted
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
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def done(self) -> bool:
        return self.finished_at is not None

    def _error(self, what: str, exc: BaseException) -> None:
        self.errors.append((time.monotonic(), f"{what}: {type(exc).__name__}: {exc}"))

    def _send(self, items: list[tuple[str, str, float]]) -> list[tuple[str, str, float]]:
        """Publish ``items`` (id, queue, seconds) on a fresh confirm channel; the unconfirmed."""
        pending: dict[int, tuple[str, str, float]] = {}
        nacked: list[tuple[str, str, float]] = []

        def settle(tag: int, multiple: bool, ok: bool) -> None:
            at = time.monotonic()
            if tag > len(items):
                # Something else published on this channel: the tags do not map to
                # tasks. Fail loudly rather than count a task confirmed wrongly.
                raise DeliveryTagError(f"delivery tag {tag} beyond the {len(items)} tasks sent")
            for t in [x for x in pending if x <= tag] if multiple else [tag]:
                item = pending.pop(t, None)
                if item is None:
                    continue
                if ok:
                    self.confirmed[item[0]] = at
                else:
                    nacked.append(item)

        conn = self.app.connection_for_write()
        try:
            conn.ensure_connection(max_retries=1)
            channel = conn.channel()
            channel.confirm_select()
            channel.events["basic_ack"].add(lambda tag, multiple: settle(tag, multiple, True))
            channel.events["basic_nack"].add(lambda tag, multiple: settle(tag, multiple, False))
            producer = self.app.amqp.Producer(channel)
            for tag, item in enumerate(items, start=1):
                tid, queue, seconds = item
                self.attempted.add(tid)
                pending[tag] = item
                self.app.send_task(self.task, args=[self.run, seconds], queue=queue,
                                   task_id=tid, producer=producer, retry=False)
            deadline = time.monotonic() + CONFIRM_TIMEOUT
            while pending and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=1)
                except TimeoutError:
                    continue
            if pending:
                self.errors.append((time.monotonic(), f"{len(pending)} unconfirmed after "
                                                      f"{CONFIRM_TIMEOUT} s"))
        except DeliveryTagError:
            raise  # not a broken connection: _loop stops and records it
        except Exception as exc:  # a broken connection: everything unconfirmed goes again
            self._error("publish", exc)
            time.sleep(RECONNECT_PAUSE)
        finally:
            try:
                conn.release()
            except Exception as exc:  # releasing a dead connection may fail too
                self._error("release", exc)
        if nacked:
            self.errors.append((time.monotonic(), f"{len(nacked)} nacked"))
        return [*pending.values(), *nacked]

    def _loop(self) -> None:
        try:
            step = self.batch
            if self.rate:
                # Paced load: small batches, a steady stream across a slow fault.
                step = max(1, int(self.rate / 10))
            for first in range(0, len(self.plan), step):
                if self.stop_event.is_set():
                    break
                if self.rate:
                    delay = self.started_at + first / self.rate - time.monotonic()
                    if delay > 0:
                        self.stop_event.wait(delay)
                items = [(str(uuid.uuid4()), q, sec) for q, sec in self.plan[first:first + step]]
                while items and not self.stop_event.is_set():
                    items = self._send(items)
        except DeliveryTagError as exc:
            self.fatal = str(exc)
        finally:
            self.finished_at = time.monotonic()

    def planned(self) -> int:
        """Tasks this publisher should have confirmed by now: the whole plan, or for a
        paced publisher stopped on purpose, what its rate allowed until it finished."""
        if not self.rate:
            return len(self.plan)
        end = self.finished_at or time.monotonic()
        return min(len(self.plan), int(self.rate * (end - self.started_at)))

    def stall(self, start: float, end: float | None = None) -> tuple[float, float]:
        """Longest stretch without a confirm between ``start`` and ``end`` (default: finish)."""
        end = end if end is not None else (self.finished_at or time.monotonic())
        return longest_gap(list(self.confirmed.values()), start, end)

    def first_confirm_after(self, t: float) -> float | None:
        after = [c for c in self.confirmed.values() if c >= t]
        return min(after) - t if after else None
