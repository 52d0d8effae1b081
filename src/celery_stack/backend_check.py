"""Workers refuse to start when the Redis result backend cannot reconnect.

Celery's Redis backend takes its list of connection errors from kombu's Redis
transport, which imports ``packaging`` (a dependency only of kombu's ``redis``
extra). When that import fails Celery swallows it and the backend gets an
empty list: no retry, no reconnect, ever (docs/topology.md, "Result backend").
A worker in that state stores results until the first Redis restart and then
fails every call, so it must not start at all. Connected from celeryconfig, so
every worker that loads the stack's settings runs the check.
"""

from __future__ import annotations

from celery import signals

FIX = ("install celery[redis] (kombu[redis]: redis + packaging), as the package's "
       "pinned dependencies do")


def reconnect_problem(app) -> str | None:
    """Why ``app``'s result backend cannot reconnect, or None when it can."""
    from celery.backends.redis import RedisBackend  # Sentinel is a subclass

    backend = app.backend
    if not isinstance(backend, RedisBackend) or backend.connection_errors:
        return None
    try:
        import kombu.transport.redis  # noqa: F401  the import Celery swallowed
        cause = "kombu.transport.redis imports, yet reports no error classes"
    except ImportError as exc:
        cause = f"kombu.transport.redis fails to import ({exc})"
    return (f"result backend {type(backend).__name__} has no connection errors to "
            f"retry on: {cause}; it would never reconnect after Redis restarts. {FIX}")


@signals.worker_init.connect
def refuse_without_reconnect(sender, **_) -> None:
    problem = reconnect_problem(sender.app)
    if problem:
        # SystemExit: Celery's signal dispatch logs and ignores an Exception.
        raise SystemExit(f"celery-stack: worker refused to start: {problem}")
