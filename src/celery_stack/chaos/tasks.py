"""Tasks the chaos suite sends; they run in the ordinary worker fleets.

Each one writes to Redis through the result backend's client, so the suite
can count executions per task id afterwards (a ledger that survives broker
failures and worker crashes). Keys are named per run and expire, so an
interrupted run never leaves data behind for long.
"""

from __future__ import annotations

import os
import signal
import socket
import time

from celery import current_app, shared_task

# A crashed run's ledger is gone after a day; a finished run deletes its own.
KEY_TTL = 86400
# Seconds a ledger mark keeps retrying while Redis is away: below the default
# fleet's soft_time_limit (60 s), so the task's own limit never cuts the wait.
# The suite's outage is seconds; beyond this the task fails and shows as lost.
MARK_PATIENCE = 50
# Milliseconds WAITAOF waits for the local fsync (everysec: within about 1 s).
WAITAOF_MS = 2000


def key(run: str, kind: str) -> str:
    """Redis hash of one run: ``done`` / ``attempts`` / ``poison`` (id -> count), ``started``
    (id -> host:pid)."""
    return f"celery-stack:chaos:{run}:{kind}"


def _redis():
    # The backend's own client: the worker's Redis credentials and pool.
    return current_app.backend.client


def _mark(run: str, kind: str, task_id: str, value: str | None = None,
          durable: bool = False) -> bool:
    """Writes one ledger mark; with ``durable``, True only once it is fsynced."""
    client = _redis()
    name = key(run, kind)
    # One connection, no MULTI: WAITAOF covers only its own connection's writes.
    pipe = client.pipeline(transaction=False)
    if value is None:
        pipe.hincrby(name, task_id, 1)
    else:
        pipe.hset(name, task_id, value)
    pipe.expire(name, KEY_TTL)
    if durable:
        pipe.execute_command("WAITAOF", 1, 0, WAITAOF_MS)
    replies = pipe.execute()
    return not durable or replies[-1][0] >= 1


@shared_task(bind=True, name="celery_stack.chaos.tasks.ledger")
def ledger(self, run: str, seconds: float = 0.0) -> None:
    """Record that this task id started (where) and, after ``seconds``, that it ran."""
    if seconds:
        # Where it runs (the suite kills exactly this process mid-task) and
        # how often it started (a redelivered task starts twice).
        _mark(run, "started", self.request.id, f"{socket.gethostname()}:{os.getpid()}")
        _mark(run, "attempts", self.request.id)
        time.sleep(seconds)
    _mark(run, "done", self.request.id)


@shared_task(bind=True, name="celery_stack.chaos.tasks.stored", ignore_result=False)
def stored(self, value: str, run: str | None = None) -> str:
    """Returns ``value``: its result is stored in Redis (read back after a Redis kill).

    With ``run``, it is counted in that run's ledger first. The ledger lives in
    the Redis the suite kills: a task running meanwhile waits (bounded) until
    its mark lands, so "executed" stays a fact, never a guess.
    """
    if run:
        deadline = time.monotonic() + MARK_PATIENCE
        while True:
            try:
                # appendfsync everysec loses up to 1 s of writes in a crash (the suite
                # kills Redis): the mark counts only once it is in the AOF on disk.
                if _mark(run, "done", self.request.id, durable=True):
                    break
            except current_app.backend.connection_errors:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"ledger mark of {self.request.id} not durable in "
                                   f"{MARK_PATIENCE} s")
            time.sleep(0.5)
    return value


@shared_task(bind=True, name="celery_stack.chaos.tasks.poison")
def poison(self, run: str, seconds: float = 0.0) -> None:
    """Counts its delivery, then kills the pool process that runs it (never succeeds)."""
    _mark(run, "poison", self.request.id)
    os.kill(os.getpid(), signal.SIGKILL)
