"""What each Celery 5.7 pool supports, and the fleet settings it must refuse.

Read from celery 5.7.0's ``celery/concurrency`` (and its docs' pool pages):
- ``prefork``: child processes; soft and hard time limits (signals), child
  recycling (``max_tasks_per_child``, ``max_memory_per_child``).
- ``gevent``: greenlets in one process; ``on_apply`` wraps a task in
  ``gevent.Timeout(time_limit)`` (the hard limit, cooperative: it fires when
  the task yields to the hub) and never passes ``soft_timeout`` on, so a soft
  limit is silently ignored. No children to recycle.
- ``threads``: a ThreadPoolExecutor; ``on_apply`` drops every timeout, so
  neither limit is enforced (``time_limit`` stays the shutdown budget, the
  task must bound its own I/O). No children to recycle.
- ``solo``: the task runs in the consumer; no timeouts, no children.
- ``eventlet``: not supported (see EVENTLET).
``acks_late`` is a property of the request, not of the pool: every pool acks
after the task under it.
"""

from __future__ import annotations

RECYCLING = ("max_tasks_per_child", "max_memory_per_child")
# Pools whose workers have child processes to replace.
RECYCLING_POOLS = ("prefork",)
# Pools that ignore a soft time limit while enforcing a hard one: accepting a
# soft limit there would promise a clean-up that never happens.
NO_SOFT_LIMIT_POOLS = ("gevent",)
EVENTLET = (
    "eventlet is retired upstream (bugfix-only; its own docs recommend migrating away) "
    "and Celery is deprecating its eventlet pool (celery#9257), so this stack does not "
    "install it for Celery 5.7 on Python 3.11/3.13: use pool: gevent (the same green-thread "
    "model, installed with the package) or threads"
)


def check_pool(where: str, raw: dict, f: dict, errors: list[str]) -> None:
    """Refuse a pool this stack cannot run, or a setting the fleet's pool ignores."""
    pool, name = f.get("pool"), f.get("name")
    if pool == "eventlet":
        errors.append(f"{where}.pool: fleet {name!r} asks for 'eventlet'; {EVENTLET}")
        return
    if pool not in RECYCLING_POOLS:
        for key in RECYCLING:
            # raw: an omitted max_tasks_per_child gets prefork's default 1000,
            # which load drops for this pool; only an explicit value is a mistake.
            if raw.get(key) is not None:
                errors.append(
                    f"{where}.{key}: fleet {name!r} uses pool {pool!r}, which has no child "
                    "processes to replace; remove it (or set null), or use pool: prefork"
                )
    if pool in NO_SOFT_LIMIT_POOLS and f.get("soft_time_limit") is not None:
        errors.append(
            f"{where}.soft_time_limit: fleet {name!r} uses pool {pool!r}, which enforces only "
            "time_limit (gevent.Timeout) and silently ignores a soft limit; remove it, or "
            "use pool: prefork"
        )
