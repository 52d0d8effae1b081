"""The load generator and probes, run inside a setup's network.

Started by the bench as ``docker compose run --rm bench-agent <command> ...``
(image celery-stack/worker, this repository's source on PYTHONPATH), so the
same code with the same client library drives A, B and C. Each command prints
one JSON object on its last stdout line. The Celery app is ``BENCH_APP``
(``module:attribute``): the demo app with the topology's settings for A and
B, ``bench/naive``'s app for C. Broker statistics come from each node's
management API (``BENCH_MANAGEMENT_URLS``) and Prometheus endpoint (:15692).

End-to-end times: the agent notes the wall clock just before publishing;
the worker stores the result with ``date_done`` (tasks are sent with
``ignore_result=False``, which overrides the tuned setups' default); all
containers share the host's clock.
"""

from __future__ import annotations

import base64
import importlib
import itertools
import json
import os
import shlex
import sys
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path

from .agent_args import build_parser

NOOP = "celery_stack.demo.tasks.report"
SMALL = "celery_stack.demo.tasks.thumbnail_small_file"
SLOW = "celery_stack.demo.tasks.convert_large_file"
# Concurrent producers in the throughput figure, the same for every setup.
PUBLISHERS = 4


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def load_app():
    module, _, attr = os.environ["BENCH_APP"].partition(":")
    app = getattr(importlib.import_module(module), attr or "app")
    # The agent reads results from Redis in bulk (wait_done); Celery's per-send
    # hook would subscribe to a pub/sub channel per task, slowing the
    # publisher down for nothing. Workers store results exactly as before.
    app.backend.on_task_call = lambda *args, **kwargs: None
    return app


# ------------------------------------------------------------ broker stats
def _auth() -> str:
    user = os.environ["BENCH_MANAGEMENT_USER"]
    password = Path(os.environ["BENCH_MANAGEMENT_PASSWORD_FILE"]).read_text().strip()
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def node_urls() -> list[str]:
    return [u.strip().rstrip("/") for u in os.environ["BENCH_MANAGEMENT_URLS"].split(",")
            if u.strip()]


def http_get(url: str, headers: dict[str, str] | None = None) -> bytes:
    """GET an http:// URL of the setup's own network (nothing else is accepted)."""
    if not url.startswith("http://"):
        raise ValueError(f"BENCH_MANAGEMENT_URLS: {url!r} must be an http:// URL")
    req = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (checked above)
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (checked above)
        return resp.read()


def management(path: str):
    """GET ``path`` from the first management API that answers."""
    last: Exception | None = None
    for base in node_urls():
        try:
            return json.loads(http_get(base + path, {"Authorization": _auth()}))
        except OSError as exc:
            last = exc
    raise RuntimeError(f"BENCH_MANAGEMENT_URLS: no node answered {path}: {last}")


def prometheus_total(metric: str) -> float:
    """Sum of ``metric`` over every node's Prometheus endpoint (all labels)."""
    total = 0.0
    for base in node_urls():
        host = base.rsplit(":", 1)[0]
        for line in http_get(f"{host}:15692/metrics").decode().splitlines():
            if line.startswith(metric) and line[len(metric)] in " {":
                total += float(line.rsplit(" ", 1)[1])
    return total


def memory_used() -> int:
    """RabbitMQ's own memory accounting (what the watermark uses), all nodes."""
    return sum(int(n.get("mem_used", 0)) for n in management("/api/nodes"))


def queues(app) -> list[dict]:
    vhost = urllib.parse.quote(app.connection_for_read().virtual_host or "/", safe="")
    return management(f"/api/queues/{vhost}?columns=name,messages,messages_ready,consumers")


# ------------------------------------------------------------------ tasks
def task_queues(app) -> list[str]:
    return [q.name for q in (app.conf.task_queues or ())] or [app.conf.task_default_queue]


def pool_weights(app) -> list[tuple[str | None, int]]:
    """(queue, pool processes) per fleet of the topology; [(None, 1)] for C.

    Throughput load is spread over the queues in proportion to the processes
    that serve them, so every setup's whole pool gets work.
    """
    if not os.environ.get("CELERY_STACK_TOPOLOGY"):
        return [(None, 1)]
    from celery_stack.topology import load
    topology = load(os.environ["CELERY_STACK_TOPOLOGY"])
    return [(f.queues[0], f.concurrency * f.processes) for f in topology.fleets]


def send(app, producer, name: str, args: list, queue: str | None,
         store: bool | None) -> tuple[str, float]:
    """Publish one task; ``store=None`` keeps the setup's own result default."""
    options: dict = {"queue": queue} if queue else {}
    if store is not None:
        options["ignore_result"] = not store
    t = time.time()
    result = app.send_task(name, args=args, producer=producer, **options)
    return result.id, t


def wait_done(app, ids: list[str], timeout: float) -> dict[str, float]:
    """Task id -> completion wall time (date_done), polling the result backend."""
    backend = app.backend
    client = backend.client
    pending = list(ids)
    done: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        still = []
        for chunk in (pending[i:i + 500] for i in range(0, len(pending), 500)):
            values = client.mget([backend.get_key_for_task(i) for i in chunk])
            for task_id, raw in zip(chunk, values, strict=True):
                meta = json.loads(raw) if raw else None
                if meta and meta.get("status") == "SUCCESS" and meta.get("date_done"):
                    done[task_id] = datetime.fromisoformat(meta["date_done"]).timestamp()
                else:
                    still.append(task_id)
        pending = still
        if pending:
            time.sleep(0.2)
    return done


# RabbitMQ's collect_statistics_interval default (5000 ms), unchanged here.
STATS_INTERVAL_S = 5


def drain(app, timeout: float = 180) -> float:
    """Purge the task queues and wait until no task message is left anywhere."""
    start = time.monotonic()
    names = set(task_queues(app))
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for name in names:
            channel.queue_purge(name)
    # Management statistics refresh every 5 s: a zero read counts only once
    # the statistics are younger than the purge.
    while time.monotonic() - start < timeout:
        left = sum(q.get("messages", 0) or 0 for q in queues(app) if q["name"] in names)
        if left == 0 and time.monotonic() - start >= STATS_INTERVAL_S + 1:
            return time.monotonic() - start
        time.sleep(1)
    raise RuntimeError(f"queues {sorted(names)} still hold messages after {timeout:.0f} s")


# --------------------------------------------------------------- commands
def cmd_wait_workers(app, a) -> dict:
    start = time.monotonic()
    names: list[str] = []
    while time.monotonic() - start < a.timeout:
        replies = app.control.ping(timeout=2.0) or []
        names = sorted(n for r in replies for n in r)
        if len(names) >= a.n:
            return {"workers": names, "seconds": time.monotonic() - start}
        time.sleep(1)
    raise RuntimeError(f"only {len(names)} of {a.n} workers answered ping: {names}")


def publish_concurrently(app, plan: list[str], publishers: int) -> tuple[list[str], float, float]:
    """Send NOOP to each queue of ``plan`` from ``publishers`` threads, each with
    its own producer (a web app's processes, not one loop): a publisher that
    waits for its confirm no longer caps the rate. (ids, first send, last send)."""
    ids: list[str] = []
    times: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def one(part: list[str]) -> None:
        try:
            with app.producer_or_acquire() as producer:
                for queue in part:
                    task_id, t = send(app, producer, NOOP, [0], queue, True)
                    with lock:
                        ids.append(task_id)
                        times.append(t)
        except Exception as exc:  # re-raised below: a thread's error would vanish
            with lock:
                errors.append(exc)
    threads = [threading.Thread(target=one, args=(plan[i::publishers],))
               for i in range(publishers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors or len(ids) != len(plan):
        raise RuntimeError(f"throughput: published {len(ids)} of {len(plan)} tasks; "
                           f"publisher errors: {errors[:3]!r}")
    return ids, min(times), time.time()


def cmd_throughput(app, a) -> dict:
    weights = pool_weights(app)
    cycle = list(itertools.chain.from_iterable([q] * w for q, w in weights))
    reps = []
    drain(app)  # each repetition ends with every task executed: one drain is enough
    for _ in range(a.reps):
        plan = [cycle[i % len(cycle)] for i in range(a.n)]
        ids, first, published = publish_concurrently(app, plan, a.publishers)
        done = wait_done(app, ids, a.timeout)
        if len(done) != len(ids):
            raise RuntimeError(f"throughput: {len(ids) - len(done)} of {len(ids)} tasks "
                               f"not executed within {a.timeout:.0f} s")
        last = max(done.values())
        reps.append({"n": a.n, "publishers": a.publishers, "publish_s": published - first,
                     "e2e_s": last - first, "tasks_per_s": a.n / (last - first),
                     "publish_per_s": a.n / max(published - first, 1e-9)})
    return {"queues": [q for q, _ in weights], "reps": reps}


def cmd_hol(app, a) -> dict:
    reps = []
    drain(app)
    for _ in range(a.reps):
        with app.producer_or_acquire() as producer:
            for i in range(a.bulk_n):
                send(app, producer, SLOW, [i, a.bulk_seconds], None, False)
            time.sleep(1.0)  # the backlog is in place and the pools are busy
            sent: dict[str, float] = {}
            for i in range(a.prio_n):
                task_id, t = send(app, producer, SMALL, [i, a.prio_seconds], None, True)
                sent[task_id] = t
                time.sleep(a.prio_interval)
        done = wait_done(app, list(sent), a.timeout)
        if len(done) != len(sent):
            raise RuntimeError(f"hol: {len(sent) - len(done)} small tasks not executed "
                               f"within {a.timeout:.0f} s")
        reps.append({"latencies_ms": sorted((done[i] - sent[i]) * 1000 for i in sent)})
        drain(app)  # the rest of the backlog goes before the next repetition
    return {"reps": reps}


IDLE_METRICS = ("rabbitmq_global_messages_received_total",
                "rabbitmq_global_messages_delivered_total")


def cmd_idle(app, a) -> dict:
    reps = []
    for _ in range(a.reps):
        t0 = time.monotonic()
        before = {m: prometheus_total(m) for m in IDLE_METRICS}
        time.sleep(a.seconds)
        after = {m: prometheus_total(m) for m in IDLE_METRICS}
        dt = time.monotonic() - t0
        received = (after[IDLE_METRICS[0]] - before[IDLE_METRICS[0]]) / dt
        delivered = (after[IDLE_METRICS[1]] - before[IDLE_METRICS[1]]) / dt
        reps.append({"seconds": dt, "received_per_s": received, "delivered_per_s": delivered,
                     "messages_per_s": received + delivered})
    return {"reps": reps}


def cmd_storm(app, a) -> dict:
    """Idle memory, then a steady task stream (events on) with memory samples."""
    samples = []
    start = time.monotonic()

    def sample(phase: str) -> None:
        event_msgs = sum(q.get("messages", 0) or 0 for q in queues(app)
                         if q["name"].startswith("celeryev"))
        samples.append({"t": time.monotonic() - start, "phase": phase,
                        "mem_bytes": memory_used(), "event_queue_messages": event_msgs})

    while time.monotonic() - start < a.idle_seconds:
        sample("idle")
        time.sleep(a.sample)
    emit({"storm": "started"})  # the bench times the monitor's pause from here
    storm_start = time.monotonic()
    next_sample = storm_start
    sent = 0
    weights = pool_weights(app)
    cycle = list(itertools.chain.from_iterable([q] * w for q, w in weights))
    with app.producer_or_acquire() as producer:
        while (now := time.monotonic()) - storm_start < a.seconds:
            if now >= next_sample:
                sample("attached" if now - storm_start < a.detach_at else "detached")
                next_sample += a.sample
            due = int((now - storm_start) * a.rate)
            while sent < due:
                send(app, producer, NOOP, [0], cycle[sent % len(cycle)], None)
                sent += 1
            time.sleep(0.01)
    sample("detached" if a.detach_at < a.seconds else "attached")
    return {"rate": a.rate, "sent": sent, "detach_at": a.detach_at, "samples": samples}


def cmd_monitor(app, a) -> None:
    """A Flower-like event consumer (its queue uses the app's event settings).

    AMQP heartbeats off: a stalled monitor keeps its connection (and its
    queue) instead of being disconnected by the broker.
    """
    conn = app.connection_for_read(heartbeat=0)
    counts = {"events": 0}

    def on_event(event: dict) -> None:
        counts["events"] += 1

    with conn:
        receiver = app.events.Receiver(conn, handlers={"*": on_event})
        emit({"monitor": "started"})
        receiver.capture(limit=None, timeout=None, wakeup=False)


def cmd_settle(app, a) -> dict:
    """Wait (mingle and the first heartbeats after the workers answered)."""
    time.sleep(a.seconds)
    return {"settled_s": a.seconds}


def cmd_seq(app, a) -> dict:
    """Several commands in one agent process: one container start instead of many."""
    results = []
    for step in a.steps:
        b = build_parser(PUBLISHERS).parse_args(shlex.split(step))
        if b.cmd in ("seq", "monitor", "drain"):
            raise SystemExit(f"seq: {b.cmd} cannot be a step")
        results.append(globals()["cmd_" + b.cmd.replace("-", "_")](app, b))
    return {"seq": results}


def main(argv: list[str] | None = None) -> int:
    a = build_parser(PUBLISHERS).parse_args(argv)
    app = load_app()
    if a.cmd == "monitor":
        cmd_monitor(app, a)
        return 0
    if a.cmd == "drain":
        emit({"drain_s": drain(app)})
        return 0
    handler = globals()["cmd_" + a.cmd.replace("-", "_")]
    emit(handler(app, a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
