"""The benchmark's concurrent publisher: every task of the plan sent, or an error."""

from __future__ import annotations

import contextlib
import threading

import pytest

from celery_stack.bench.agent import publish_concurrently


class FakeApp:
    """Stands in for a Celery app: records send_task calls, fails on one queue."""

    def __init__(self, fail_queue: str | None = None) -> None:
        self.sent: list[str] = []
        self.fail_queue = fail_queue
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def producer_or_acquire(self):
        yield object()

    def send_task(self, name, args, producer, queue=None, **options):
        if queue == self.fail_queue:
            raise ConnectionError(f"broker closed the channel on {queue}")
        with self.lock:
            self.sent.append(queue)
            return type("R", (), {"id": f"id-{len(self.sent)}"})()


def test_every_task_of_the_plan_is_sent_once_across_publishers() -> None:
    app = FakeApp()
    plan = ["default", "priority", "bulk"] * 7
    ids, first, last = publish_concurrently(app, plan, 4)
    assert sorted(app.sent) == sorted(plan)
    assert len(set(ids)) == len(plan)
    assert first <= last


def test_a_failing_publisher_fails_the_measurement() -> None:
    app = FakeApp(fail_queue="bulk")
    with pytest.raises(RuntimeError, match=r"published \d+ of 21 tasks"):
        publish_concurrently(app, ["default", "priority", "bulk"] * 7, 4)
