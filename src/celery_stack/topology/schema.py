"""Shape of the topology file: allowed keys, their types and defaults.

Type checking is generic (``check_mapping``); the meaning of values and the
rules that span fields live in ``validate.py``. Each error names the field by
its path in the file (``fleets[1].pool``) and says how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REQUIRED = object()


@dataclass(frozen=True)
class Field:
    types: tuple[type, ...]
    default: Any = REQUIRED
    hint: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def _f(types, default=REQUIRED, hint=""):
    return Field(types if isinstance(types, tuple) else (types,), default, hint)


NUM = (int, float)
OPT_INT = (int, type(None))

APP = {
    "name": _f(str, hint="the Celery app's main name, e.g. 'demo'"),
    "module": _f(str, hint="'package.module:attribute' of the Celery app object"),
    "default_queue": _f(str, "default", "name of a queue in 'queues'"),
}
BROKER = {
    "rabbitmq_version": _f(str, "4.0", "'major.minor' of the RabbitMQ you deploy, e.g. '4.0'"),
    "ha": _f(str, "quorum", "one of: quorum, mirrored"),
    "heartbeat": _f(int, 60, "AMQP heartbeat in seconds"),
    "pool_limit": _f(int, 10, "connections per worker/producer process"),
    "mirror_count": _f(int, 2, "mirrors per classic queue (ha: mirrored only)"),
}
QUEUE = {
    "name": _f(str),
    "type": _f(str, "quorum", "one of: quorum, classic"),
    "delivery_limit": _f(int, 20, "redeliveries before dead-lettering"),
    "dead_letter": _f(bool, True, "true or false"),
    "max_length": _f(OPT_INT, None, "a message count, or null for unbounded"),
}
ROUTE = {
    "task": _f(str, hint="a task name or glob such as 'myapp.tasks.convert_*'"),
    "queue": _f(str, hint="name of a queue in 'queues'"),
}
AUTOSCALE = {
    "min": _f(int),
    "max": _f(int),
}
FLEET = {
    "name": _f(str),
    "queues": _f(list, hint="a list of queue names"),
    "pool": _f(str, "prefork", "one of: prefork, threads, gevent, solo"),
    "concurrency": _f(OPT_INT, 2, "pool size per process"),
    "autoscale": _f((dict, type(None)), None, "{min: N, max: M}"),
    "processes": _f(int, 1, "worker processes per host (Supervisor numprocs)"),
    "prefetch_multiplier": _f(int, 1, "1 for long tasks; 0 means unlimited"),
    "max_tasks_per_child": _f(OPT_INT, 1000, "tasks before a pool child is replaced"),
    "max_memory_per_child": _f(OPT_INT, None, "KiB before a pool child is replaced"),
    "soft_time_limit": _f(OPT_INT, None, "seconds"),
    "time_limit": _f(int, 300, "seconds"),
    "acks_late": _f(bool, True, "true or false"),
    "stop_wait_seconds": _f(OPT_INT, None, "seconds Supervisor waits for a warm shutdown"),
}
BEAT_ENTRY = {
    "name": _f(str),
    "task": _f(str),
    "every": _f(OPT_INT, None, "seconds between runs"),
    "cron": _f((str, type(None)), None, "'minute hour day_of_month month day_of_week'"),
    "queue": _f((str, type(None)), None, "name of a queue in 'queues'"),
    "args": _f(list, [], "a list of JSON-serialisable arguments"),
}
BEAT = {
    "enabled": _f(bool, True, "true or false"),
    "schedule": _f(list, [], "a list of {name, task, every|cron}"),
}
MONITORING = {
    "events": _f(bool, True, "true or false"),
    "event_queue_ttl": _f(NUM, 5.0, "seconds"),
    "event_queue_expires": _f(NUM, 60.0, "seconds"),
    "gossip": _f(bool, False, "true or false"),
    "mingle": _f(bool, False, "true or false"),
    "worker_heartbeat": _f(bool, True, "true or false"),
    "worker_heartbeat_interval": _f(int, 10, "seconds between worker heartbeat events"),
}
RESULTS = {
    "ignore_by_default": _f(bool, True, "true or false"),
    "expires": _f(int, 86400, "seconds"),
}
TOP = {
    "app": _f(dict),
    "broker": _f(dict, {}),
    "queues": _f(list),
    "routes": _f(list, []),
    "fleets": _f(list),
    # A list is accepted only so that load.parse can refuse a second beat with
    # a precise message (two schedulers send every periodic task twice).
    "beat": _f((dict, list), {}, "one mapping {enabled, schedule}"),
    "monitoring": _f(dict, {}),
    "results": _f(dict, {}),
}

_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a mapping",
    type(None): "null",
}


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
    # YAML booleans are ints in Python; never accept one where a number is meant.
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)


def check_mapping(value: Any, spec: dict[str, Field], path: str, errors: list[str]) -> dict:
    """Check ``value`` against ``spec``; return it with defaults filled in.

    Type errors are appended to ``errors``; a field with a wrong type is left
    out of the result so later rules never see it.
    """
    if not isinstance(value, dict):
        errors.append(f"{path or 'topology'}: must be a mapping, got {type(value).__name__}")
        return {}
    out: dict[str, Any] = {}
    for key in value:
        if key not in spec:
            known = ", ".join(spec)
            errors.append(f"{_join(path, key)}: unknown key; remove it or use one of: {known}")
    for key, field in spec.items():
        where = _join(path, key)
        if key not in value:
            if field.required:
                hint = f" ({field.hint})" if field.hint else ""
                errors.append(f"{where}: required; add it{hint}")
            else:
                out[key] = field.default
            continue
        item = value[key]
        if not _type_ok(item, field.types):
            want = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in field.types)
            hint = f" ({field.hint})" if field.hint else ""
            errors.append(f"{where}: must be {want}, got {item!r}; fix the value{hint}")
            continue
        out[key] = item
    return out


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
