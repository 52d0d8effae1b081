"""Questions the watchdog asks Celery workers and the broker.

A ``Prober`` answers four questions; ``CeleryProber`` asks them over the
broker with a bare Celery app configured from the topology, so it works for
any user application without importing its code.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import Any, Protocol

from celery import Celery

from ..derive import celery_settings
from ..topology.model import Topology


class ProbeError(RuntimeError):
    """The broker could not be asked (unreachable, refused): no decision is possible."""


class Prober(Protocol):
    def ping(self, nodes: list[str]) -> set[str]:
        """Nodes among ``nodes`` that replied."""
        ...

    def stats(self, nodes: list[str] | None) -> dict[str, tuple[int, float | None]]:
        """node -> (tasks processed since start, uptime s); ``None`` asks every node."""
        ...

    def active(self, nodes: list[str]) -> dict[str, int]:
        """node -> tasks executing now (nodes that did not reply are absent)."""
        ...

    def ready(self, queues: list[str]) -> dict[str, int]:
        """queue -> ready messages (queues that could not be read are absent)."""
        ...


def make_app(topology: Topology, env: Mapping[str, str] | None = None) -> Celery:
    # No user code is imported: the settings alone are enough to talk to workers.
    app = Celery(topology.app.name, set_as_current=False)
    app.config_from_object(celery_settings.build(topology, os.environ if env is None else env))
    return app


def _processed(stats: Mapping[str, Any]) -> int:
    return sum(int(n) for n in (stats.get("total") or {}).values())


class CeleryProber:
    def __init__(self, app: Celery, timeout: float):
        self.app = app
        self.timeout = timeout
        # An unreachable broker must fail this run quickly, not hang cron.
        app.conf.broker_connection_timeout = timeout
        app.conf.broker_connection_max_retries = 1

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # kombu raises many types; all mean "cannot ask"
            raise ProbeError(f"{what}: {type(exc).__name__}: {exc}") from exc

    def ping(self, nodes: list[str]) -> set[str]:
        if not nodes:
            return set()
        replies = self._call("ping", self.app.control.ping, destination=nodes,
                             timeout=self.timeout) or []
        return {node for reply in replies for node in reply} & set(nodes)

    def stats(self, nodes: list[str] | None) -> dict[str, tuple[int, float | None]]:
        if nodes == []:
            return {}
        inspect = self.app.control.inspect(destination=nodes, timeout=self.timeout)
        replies = self._call("inspect stats", inspect.stats) or {}
        return {node: (_processed(s), s.get("uptime")) for node, s in replies.items()
                if isinstance(s, dict)}

    def active(self, nodes: list[str]) -> dict[str, int]:
        if not nodes:
            return {}
        inspect = self.app.control.inspect(destination=nodes, timeout=self.timeout)
        replies = self._call("inspect active", inspect.active) or {}
        return {node: len(tasks) for node, tasks in replies.items() if isinstance(tasks, list)}

    def ready(self, queues: list[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self.app.connection_for_write() as conn:
            self._call("broker connection", conn.ensure_connection, max_retries=1)
            for name in queues:
                # A channel per queue: a missing queue closes the channel it was asked on.
                channel = conn.channel()
                try:
                    counts[name] = channel.queue_declare(queue=name, passive=True).message_count
                except Exception:  # noqa: S112 (unknown count: the stall rule just won't fire)
                    continue
                finally:
                    # The broker may already have closed it.
                    with contextlib.suppress(Exception):
                        channel.close()
        return counts
