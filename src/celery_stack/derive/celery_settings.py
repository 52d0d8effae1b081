"""Celery settings derived from the topology and the environment.

``build`` returns a plain dict of Celery setting names to values; the
application loads it with ``app.config_from_object("celery_stack.celeryconfig")``.
Fleet-specific settings (acks, prefetch, limits) are chosen by the fleet the
process belongs to (``CELERY_STACK_FLEET``, set by the Supervisor program), so
one module serves every fleet, beat and producers alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celery.schedules import crontab
from kombu import Exchange, Queue

from ..topology.model import Fleet, Topology
from . import connections

# Exchange every task queue is bound to (by its own name as routing key).
TASK_EXCHANGE = "celery"
# Topic, not direct: Celery's native delayed delivery (ETA/countdown on
# quorum queues) only works for queues bound to topic exchanges; with exact
# binding keys a topic exchange routes like a direct one.
TASK_EXCHANGE_TYPE = "topic"
# Modules every worker imports: the smoke probe task lives there.
PROBE_MODULE = "celery_stack.probe"


def queue_arguments(queue_type: str) -> dict[str, str]:
    """Declaration arguments: only the type, which no policy can set.

    Everything mutable (delivery limit, dead-lettering, max length) is set by
    policy instead: queue arguments can never change after declaration, and a
    redeclare with other arguments fails with PRECONDITION_FAILED.
    """
    return {"x-queue-type": queue_type}


def task_queues(topology: Topology) -> tuple[Queue, ...]:
    exchange = Exchange(TASK_EXCHANGE, type=TASK_EXCHANGE_TYPE, durable=True)
    return tuple(
        Queue(q.name, exchange, routing_key=q.name, durable=True,
              queue_arguments=queue_arguments(q.type))
        for q in topology.queues
    )


def task_routes(topology: Topology) -> dict[str, dict[str, str]]:
    # Celery matches exact names and globs in insertion order: first match wins.
    return {r.task: {"queue": r.queue} for r in topology.routes}


def beat_schedule(topology: Topology) -> dict[str, dict[str, Any]]:
    schedule = {}
    for e in topology.beat.schedule:
        if e.cron is not None:
            minute, hour, dom, month, dow = e.cron.split()
            when: Any = crontab(minute=minute, hour=hour, day_of_month=dom,
                                month_of_year=month, day_of_week=dow)
        else:
            when = float(e.every)
        entry: dict[str, Any] = {"task": e.task, "schedule": when, "args": list(e.args)}
        if e.queue:
            entry["options"] = {"queue": e.queue}
        schedule[e.name] = entry
    return schedule


def fleet_settings(fleet: Fleet) -> dict[str, Any]:
    """Settings that differ per fleet; read by the worker executing the task."""
    return {
        # Ack after the task ran, so a task whose worker dies is redelivered
        # (at-least-once: tasks must be idempotent).
        "task_acks_late": fleet.acks_late,
        # ...and also when the pool child is killed (OOM, SIGKILL) mid-task.
        "task_reject_on_worker_lost": fleet.acks_late,
        # Messages reserved per pool slot; 1 keeps long tasks from queueing
        # behind a busy process while peers sit idle.
        "worker_prefetch_multiplier": fleet.prefetch_multiplier,
        # Replace pool children periodically/when bloated: contains leaks.
        "worker_max_tasks_per_child": fleet.max_tasks_per_child,
        "worker_max_memory_per_child": fleet.max_memory_per_child,
        # The soft limit raises in the task so it can clean up; the hard limit
        # kills the child. Both bound the shutdown budget (see model.py).
        "task_soft_time_limit": fleet.soft_time_limit,
        "task_time_limit": fleet.time_limit,
    }


def build(topology: Topology, env: Mapping[str, str], fleet: str | None = None,
          read: connections.Reader | None = None) -> dict[str, Any]:
    read = read or connections.read_file
    mon, broker = topology.monitoring, topology.broker
    settings: dict[str, Any] = {
        # --- broker -------------------------------------------------------
        # First URL is the load balancer, the rest are nodes: kombu fails
        # over through the list when a connection cannot be made.
        "broker_url": connections.broker_urls(env, read),
        "broker_failover_strategy": "round-robin",
        # AMQP heartbeats detect dead TCP peers (HAProxy timeouts exceed it).
        "broker_heartbeat": broker.heartbeat,
        # Bounded connection pool per process: avoids connection storms.
        "broker_pool_limit": broker.pool_limit,
        "broker_connection_retry_on_startup": True,
        # Publisher confirms: with quorum queues a publish returns only once
        # a majority stored it, so nothing is lost silently.
        "broker_transport_options": {"confirm_publish": topology.uses_quorum},
        # Native delayed delivery set up once through the first URL that
        # answers, not retried on every stopped node (celery_stack.consumer).
        "worker_consumer": "celery_stack.consumer:Consumer",
        # --- queues and routing --------------------------------------------
        "task_queues": task_queues(topology),
        "task_routes": task_routes(topology),
        "task_default_queue": topology.app.default_queue,
        "task_default_exchange": TASK_EXCHANGE,
        "task_default_exchange_type": TASK_EXCHANGE_TYPE,
        "task_default_routing_key": topology.app.default_queue,
        "task_default_queue_type": topology.queue(topology.app.default_queue).type,
        # A typo in a queue name must fail at publish time, not create an
        # unconsumed classic queue that silently collects tasks.
        "task_create_missing_queues": False,
        # --- serialization -------------------------------------------------
        # JSON only: pickle lets anyone who can publish run code on workers.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "enable_utc": True,
        "timezone": "UTC",
        # --- results -------------------------------------------------------
        # Most results are never read: storing them costs Redis memory.
        "task_ignore_result": topology.results.ignore_by_default,
        "result_expires": topology.results.expires,
        # Bounded Redis connections per process ("too many connections").
        "redis_max_connections": int(env.get("CELERY_STACK_REDIS_MAX_CONNECTIONS", "20")),
        "redis_socket_timeout": 30,
        "redis_retry_on_timeout": True,
        "redis_backend_health_check_interval": 30,
        # --- events and worker chatter ---------------------------------------
        "worker_send_task_events": mon.events,
        "task_send_sent_event": mon.events,
        # Event queues expire: a monitor that disappears cannot pile events
        # up in the broker's memory.
        "event_queue_ttl": mon.event_queue_ttl,
        "event_queue_expires": mon.event_queue_expires,
        # --- worker behaviour ------------------------------------------------
        # On a lost connection, acks_late tasks are redelivered anyway:
        # cancel them locally instead of running them twice.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_detect_quorum_queues": True,
        "worker_enable_remote_control": True,  # the watchdog and smoke probe ping workers
        "imports": [PROBE_MODULE],
        # --- beat ------------------------------------------------------------
        "beat_schedule": beat_schedule(topology) if topology.beat.enabled else {},
    }
    backend = connections.result_backend(env, read)
    if backend:
        settings["result_backend"] = backend
    if fleet is not None:
        settings.update(fleet_settings(topology.fleet(fleet)))
    return settings


def redacted(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-friendly copy of ``settings`` without secrets, for humans."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if key == "broker_url":
            value = [connections.redact(u) for u in value]
        elif key == "result_backend":
            value = connections.redact(value)
        elif key == "task_queues":
            value = [{"name": q.name, "routing_key": q.routing_key,
                      "arguments": q.queue_arguments} for q in value]
        elif key == "beat_schedule":
            value = {k: {**v, "schedule": str(v["schedule"])} for k, v in value.items()}
        out[key] = value
    return out
