"""RabbitMQ objects derived from the topology, version-aware.

Output is a fragment in RabbitMQ's definitions format (exchanges, queues,
bindings, policies), so the compose stack can load it at boot
(``load_definitions``) and the rabbitmq role can apply it item by item.

Why each object exists:
- The task exchange, task queues and bindings are declared by the broker
  before any worker starts, so a task published first is stored, not dropped
  as unroutable. Their arguments equal what Celery declares (type only).
- One policy per task queue carries everything that may change later
  (delivery limit, dead-lettering, max length, HA), because a policy can be
  edited at runtime while queue arguments cannot.
- Dead-letter queues catch poison tasks after the delivery limit instead of
  letting the broker drop them.
"""

from __future__ import annotations

import re
from typing import Any

from ..topology.model import Queue, Topology
from .celery_settings import TASK_EXCHANGE, TASK_EXCHANGE_TYPE, queue_arguments

DLX = "celery-stack.dlx"
POLICY_PRIORITY = 10  # above 0 (operator defaults), below anything an admin adds at 100+


def _version(topology: Topology) -> tuple[int, int]:
    return topology.broker.version_tuple


def policy_definition(topology: Topology, queue: Queue) -> dict[str, Any]:
    version = _version(topology)
    d: dict[str, Any] = {}
    if queue.dead_letter:
        d["dead-letter-exchange"] = DLX
        d["dead-letter-routing-key"] = queue.dead_letter_queue
    if queue.max_length is not None:
        d["max-length"] = queue.max_length
    if queue.type == "quorum":
        # Poison tasks stop after this many redeliveries (then dead-lettered).
        d["delivery-limit"] = queue.delivery_limit
        # Refuse publishes when full (the publisher gets a nack with confirms)
        # instead of silently dropping the oldest task.
        d["overflow"] = "reject-publish"
        if queue.dead_letter and version >= (3, 10):
            # Dead-letter without loss: retried until the DLQ confirms.
            d["dead-letter-strategy"] = "at-least-once"
        if version >= (3, 11):
            # Spread queue leaders over the nodes instead of piling them on one.
            d["queue-leader-locator"] = "balanced"
    elif topology.broker.ha == "mirrored":
        d.update(_mirroring(topology))
    return d


def _mirroring(topology: Topology) -> dict[str, Any]:
    # Classic mirroring: only reachable on 3.x (validation refuses 4.x).
    return {"ha-mode": "exactly", "ha-params": topology.broker.mirror_count,
            "ha-sync-mode": "automatic"}


def _policy(vhost: str, queue_name: str, definition: dict[str, Any]) -> dict[str, Any]:
    return {
        "vhost": vhost,
        "name": f"celery-stack.{queue_name}",
        "pattern": f"^{re.escape(queue_name)}$",
        "apply-to": "queues",
        "priority": POLICY_PRIORITY,
        "definition": definition,
    }


def policies(topology: Topology, vhost: str) -> list[dict[str, Any]]:
    out = []
    for q in topology.queues:
        definition = policy_definition(topology, q)
        if definition:
            out.append(_policy(vhost, q.name, definition))
        if q.dead_letter and q.type == "classic" and topology.broker.ha == "mirrored":
            # A classic DLQ is mirrored only by policy: without one, the tasks
            # dead-lettered from a mirrored queue would live on a single node.
            out.append(_policy(vhost, q.dead_letter_queue, _mirroring(topology)))
    return out


def definitions(topology: Topology, vhost: str = "/") -> dict[str, list[dict[str, Any]]]:
    exchanges = [{
        "vhost": vhost, "name": TASK_EXCHANGE, "type": TASK_EXCHANGE_TYPE, "durable": True,
        "auto_delete": False, "internal": False, "arguments": {},
    }]
    queues, bindings = [], []
    for q in topology.queues:
        queues.append({"vhost": vhost, "name": q.name, "durable": True, "auto_delete": False,
                       "arguments": queue_arguments(q.type)})
        bindings.append({"vhost": vhost, "source": TASK_EXCHANGE, "destination": q.name,
                         "destination_type": "queue", "routing_key": q.name, "arguments": {}})
    dead = [q for q in topology.queues if q.dead_letter]
    if dead:
        exchanges.append({"vhost": vhost, "name": DLX, "type": "direct", "durable": True,
                          "auto_delete": False, "internal": False, "arguments": {}})
    for q in dead:
        # Same type as the source queue so a dead-lettered task keeps its HA.
        queues.append({"vhost": vhost, "name": q.dead_letter_queue, "durable": True,
                       "auto_delete": False, "arguments": queue_arguments(q.type)})
        bindings.append({"vhost": vhost, "source": DLX, "destination": q.dead_letter_queue,
                         "destination_type": "queue", "routing_key": q.dead_letter_queue,
                         "arguments": {}})
    return {"vhosts": [vhost_definition(topology, vhost)], "exchanges": exchanges,
            "queues": queues, "bindings": bindings, "policies": policies(topology, vhost)}


def vhost_definition(topology: Topology, vhost: str) -> dict[str, Any]:
    d: dict[str, Any] = {"name": vhost}
    if topology.broker.ha == "quorum" and _version(topology) >= (3, 11):
        # Queues a client declares without a type (other apps, tools) become
        # quorum queues too, instead of silently non-replicated classic ones.
        d["default_queue_type"] = "quorum"
        d["metadata"] = {"default_queue_type": "quorum"}
    return d
