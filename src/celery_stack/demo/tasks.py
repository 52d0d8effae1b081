"""Demo tasks, one kind per queue of the default topology.

Routes (in the topology) send ``thumbnail_*`` to ``priority`` and
``convert_*`` to ``bulk``; ``report`` goes to the default queue.
Tasks take ids and sizes, never ORM objects, and are idempotent.
"""

import time

from celery import shared_task


@shared_task(
    name="celery_stack.demo.tasks.thumbnail_small_file",
    # Network-bound work: retry transient failures with backoff.
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=5,
)
def thumbnail_small_file(file_id: int, seconds: float = 0.05) -> int:
    """Small urgent work (priority queue): milliseconds."""
    time.sleep(seconds)
    return file_id


@shared_task(
    name="celery_stack.demo.tasks.convert_large_file",
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=3,
)
def convert_large_file(file_id: int, seconds: float = 5.0) -> int:
    """Large slow work (bulk queue): seconds to minutes."""
    time.sleep(seconds)
    return file_id


@shared_task(name="celery_stack.demo.tasks.report")
def report(seconds: float = 0.2) -> str:
    """Ordinary work (default queue)."""
    time.sleep(seconds)
    return "ok"
