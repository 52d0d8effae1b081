"""Rules that give a topology its meaning, checked all at once.

Every rule appends ``"<field path>: <what is wrong>; <how to fix it>"`` to the
error list instead of raising, so a user sees every mistake in one run.
The rules encode the traps in the project's domain notes (quorum queues vs
autoscale, mirroring removed in RabbitMQ 4.0, shutdown budget, ...).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from .model import HA_MODES, POOLS, QUEUE_TYPES
from .pools import check_pool

# RabbitMQ allows almost anything up to 255 bytes, but names also end up in
# policy regexes, Supervisor sections and shell-free command lines: keep them
# to a portable alphabet. "amq." is reserved by the broker.
QUEUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,119}$")
# Fleet names become Supervisor program names and Celery node names
# ("<fleet>-NN@host"): no ':' (Supervisor group separator), no '@', no '%'.
FLEET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
VERSION = re.compile(r"^\d+\.\d+$")
# Longest worker heartbeat interval: beyond 5 min a dead worker shows online too long.
HEARTBEAT_INTERVAL_MAX = 300


def _dupes(names: list[str]) -> list[str]:
    return sorted(n for n, c in Counter(names).items() if c > 1)


def check_broker(broker: dict, queues: list[dict], errors: list[str]) -> None:
    version = broker.get("rabbitmq_version")
    if version is not None and not VERSION.match(version):
        errors.append(
            f"broker.rabbitmq_version: {version!r} is not 'major.minor'; write e.g. '4.0' or '3.10'"
        )
        version = None
    ha = broker.get("ha")
    if ha is not None and ha not in HA_MODES:
        errors.append(f"broker.ha: unknown mode {ha!r}; use one of: {', '.join(HA_MODES)}")
    if ha == "mirrored" and version is not None and int(version.split(".")[0]) >= 4:
        errors.append(
            f"broker.ha: classic queue mirroring was removed in RabbitMQ 4.0 (version {version}); "
            "set ha: quorum (and type: quorum on queues) or target RabbitMQ 3.x"
        )
    if ha == "mirrored" and not any(q.get("type") == "classic" for q in queues):
        errors.append(
            "broker.ha: mirrored only applies to classic queues and every queue is quorum; "
            "set ha: quorum or make the queues to mirror type: classic"
        )
    for key, low in (("heartbeat", 0), ("pool_limit", 1), ("mirror_count", 2)):
        value = broker.get(key)
        if value is not None and value < low:
            errors.append(f"broker.{key}: {value} is below {low}; set it to {low} or more")


def check_queues(queues: list[dict], errors: list[str]) -> None:
    names = [q["name"] for q in queues if "name" in q]
    for name in _dupes(names):
        errors.append(f"queues: duplicate queue name {name!r}; give each queue a unique name")
    for i, q in enumerate(queues):
        where = f"queues[{i}]"
        name = q.get("name")
        if name is not None and (not QUEUE_NAME.match(name) or name.startswith("amq.")):
            errors.append(
                f"{where}.name: {name!r} is not usable as a RabbitMQ queue name; use letters, "
                "digits, '.', '_' or '-' (not starting with 'amq.', at most 120 characters)"
            )
        if name is not None and q.get("dead_letter") and f"{name}.dlq" in names:
            errors.append(
                f"{where}.name: {name}.dlq is also declared, but it is the dead-letter queue "
                f"derived for {name!r}; rename that queue"
            )
        qtype = q.get("type")
        if qtype is not None and qtype not in QUEUE_TYPES:
            errors.append(f"{where}.type: unknown type {qtype!r}; use one of: quorum, classic")
        limit = q.get("delivery_limit")
        if qtype == "quorum" and limit is not None and limit < 1:
            errors.append(f"{where}.delivery_limit: {limit} must be 1 or more")
        length = q.get("max_length")
        if length is not None and length < 1:
            errors.append(f"{where}.max_length: {length} must be 1 or more, or null for unbounded")


def check_fleets(raw: list[Any], fleets: list[dict], queue_names: set[str], queues: list[dict],
                 errors: list[str]) -> None:
    for name in _dupes([f["name"] for f in fleets if "name" in f]):
        errors.append(f"fleets: duplicate fleet name {name!r}; give each fleet a unique name")
    quorum = {q["name"] for q in queues if q.get("type") == "quorum" and "name" in q}
    for i, f in enumerate(fleets):
        _check_fleet(f"fleets[{i}]", raw[i], f, queue_names, quorum, errors)
    consumed = {q for f in fleets for q in f.get("queues") or [] if isinstance(q, str)}
    for i, q in enumerate(queues):
        name = q.get("name")
        if name is not None and name not in consumed:
            errors.append(
                f"queues[{i}].name: no fleet consumes queue {name!r}; its tasks would wait "
                "forever: add it to a fleet's queues or remove the queue"
            )


def _check_fleet(where: str, raw: dict, f: dict, queue_names: set[str], quorum: set[str],
                 errors: list[str]) -> None:
    name = f.get("name")
    if name is not None and not FLEET_NAME.match(name):
        errors.append(
            f"{where}.name: {name!r} is not usable as a Supervisor program / Celery node name; "
            "use lower-case letters, digits, '_' or '-' (at most 63 characters)"
        )
    if name == "beat":
        errors.append(
            f"{where}.name: 'beat' is reserved: its program celery-beat would clash with the "
            "beat scheduler's Supervisor program; rename the fleet"
        )
    consumed = f.get("queues")
    if consumed is not None:
        if not consumed:
            errors.append(f"{where}.queues: empty; list the queues this fleet consumes")
        for j, q in enumerate(consumed):
            if not isinstance(q, str):
                errors.append(f"{where}.queues[{j}]: must be a queue name, got {q!r}")
            elif q not in queue_names:
                known = ", ".join(sorted(queue_names)) or "none"
                errors.append(
                    f"{where}.queues[{j}]: unknown queue {q!r}; define it under queues "
                    f"or fix the name (defined: {known})"
                )
        for q in _dupes([q for q in consumed if isinstance(q, str)]):
            errors.append(f"{where}.queues: {q!r} is listed twice; list it once")
    pool = f.get("pool")
    if pool is not None and pool not in POOLS and pool != "eventlet":
        errors.append(f"{where}.pool: unknown pool {pool!r}; use one of: {', '.join(POOLS)}")
    check_pool(where, raw, f, errors)
    for key in ("concurrency", "processes", "time_limit"):
        value = f.get(key)
        if value is not None and value < 1:
            errors.append(f"{where}.{key}: {value} must be 1 or more")
    for key in ("max_tasks_per_child", "max_memory_per_child", "soft_time_limit"):
        value = f.get(key)
        if value is not None and value < 1:
            errors.append(f"{where}.{key}: {value} must be 1 or more, or null to disable")
    _check_autoscale(where, raw, f, quorum, errors)
    soft, hard = f.get("soft_time_limit"), f.get("time_limit")
    if soft is not None and hard is not None and soft >= hard:
        errors.append(
            f"{where}.soft_time_limit: {soft} s is not below time_limit {hard} s; the soft "
            "limit must fire first so the task can clean up: lower it or raise time_limit"
        )
    prefetch = f.get("prefetch_multiplier")
    if prefetch is not None and prefetch < 0:
        errors.append(f"{where}.prefetch_multiplier: {prefetch} must be 0 or more")
    if prefetch == 0 and f.get("acks_late"):
        errors.append(
            f"{where}.prefetch_multiplier: 0 (unlimited) with acks_late makes one worker "
            "reserve the whole queue unacked; set 1 (long tasks) or a small number"
        )
    stop = f.get("stop_wait_seconds")
    longest = hard if hard is not None else soft
    if stop is not None and longest is not None and stop <= longest:
        errors.append(
            f"{where}.stop_wait_seconds: {stop} s cannot hold the shutdown budget: a running "
            f"task may take {longest} s (time_limit) to finish a warm shutdown; set it above "
            f"{longest} or remove it to use time_limit + margin"
        )


def _check_autoscale(where: str, raw: dict, f: dict, quorum: set[str],
                     errors: list[str]) -> None:
    auto = f.get("autoscale")
    if auto is None:
        # raw, not f: a concurrency of the wrong type is already reported and
        # left out of f; it must not read as an explicit null here.
        if "concurrency" in raw and raw["concurrency"] is None:
            errors.append(f"{where}.concurrency: null needs autoscale; set a pool size")
        return
    if raw.get("concurrency") is not None:
        errors.append(f"{where}.autoscale: set either concurrency or autoscale, not both")
    lo, hi = auto.get("min"), auto.get("max")
    if lo is not None and hi is not None and not (0 <= lo <= hi and hi >= 1):
        errors.append(f"{where}.autoscale: need 0 <= min <= max and max >= 1, got {lo}..{hi}")
    if f.get("pool") == "solo":
        errors.append(f"{where}.autoscale: the solo pool cannot autoscale; use prefork")
    on_quorum = sorted(set(f.get("queues") or []) & quorum)
    if on_quorum:
        errors.append(
            f"{where}.autoscale: does not work with quorum queues ({', '.join(on_quorum)}): "
            "Celery disables global QoS for them; set a fixed concurrency instead"
        )


def check_routes(routes: list[dict], queue_names: set[str], errors: list[str]) -> None:
    for i, r in enumerate(routes):
        q = r.get("queue")
        if q is not None and q not in queue_names:
            errors.append(f"routes[{i}].queue: unknown queue {q!r}; define it under queues")
    for task in _dupes([r["task"] for r in routes if "task" in r]):
        errors.append(f"routes: {task!r} is routed twice; keep one route per task pattern")


def check_beat(beat: dict, entries: list[dict], queue_names: set[str], errors: list[str]) -> None:
    for name in _dupes([e["name"] for e in entries if "name" in e]):
        errors.append(f"beat.schedule: duplicate entry name {name!r}; names must be unique")
    for i, e in enumerate(entries):
        where = f"beat.schedule[{i}]"
        every, cron = e.get("every"), e.get("cron")
        if (every is None) == (cron is None):
            errors.append(f"{where}: set exactly one of every (seconds) or cron")
        if every is not None and every < 1:
            errors.append(f"{where}.every: {every} must be 1 second or more")
        if cron is not None and len(cron.split()) != 5:
            errors.append(
                f"{where}.cron: {cron!r} needs 5 fields: minute hour day_of_month month "
                "day_of_week"
            )
        elif cron is not None:
            problem = _cron_problem(cron)
            if problem:
                errors.append(f"{where}.cron: {cron!r} is not a valid schedule ({problem}); "
                              "fix the out-of-range or misspelt field")
        q = e.get("queue")
        if q is not None and q not in queue_names:
            errors.append(f"{where}.queue: unknown queue {q!r}; define it under queues")


def _cron_problem(cron: str) -> str | None:
    """Why Celery's crontab refuses ``cron`` (5 fields), or None if it accepts it."""
    from celery.schedules import crontab

    minute, hour, dom, month, dow = cron.split()
    try:
        crontab(minute=minute, hour=hour, day_of_month=dom, month_of_year=month,
                day_of_week=dow)
    except ValueError as exc:
        return str(exc)
    return None


def check_monitoring(mon: dict, errors: list[str]) -> None:
    for key in ("event_queue_ttl", "event_queue_expires"):
        value = mon.get(key)
        if value is not None and value <= 0:
            errors.append(
                f"monitoring.{key}: {value} must be above 0 seconds; without it event queues "
                "grow unbounded in the broker's memory"
            )
    interval = mon.get("worker_heartbeat_interval")
    if interval is not None and not 1 <= interval <= HEARTBEAT_INTERVAL_MAX:
        errors.append(
            f"monitoring.worker_heartbeat_interval: {interval} must be 1 to "
            f"{HEARTBEAT_INTERVAL_MAX} seconds; monitors call a worker offline after two "
            "silent intervals (10 keeps Flower current at a fifth of Celery's 2 s chatter)"
        )


def check_app(app: dict, queue_names: set[str], errors: list[str]) -> None:
    module = app.get("module")
    if module is not None and not re.match(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", module):
        errors.append(f"app.module: {module!r} must look like 'package.module:app'")
    default = app.get("default_queue")
    if default is not None and default not in queue_names:
        errors.append(
            f"app.default_queue: {default!r} is not a defined queue; unrouted tasks go there: "
            "define it under queues or name an existing one"
        )
