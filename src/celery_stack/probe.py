"""The probe task every worker registers (through the ``imports`` setting).

It reports which fleet, node and queue executed it, so the smoke test can
prove each queue is served by the fleet that owns it. It stores its result
even when results are ignored by default: the smoke test reads it.
"""

import os
import socket

from celery import shared_task

PROBE_TASK = "celery_stack.probe"


@shared_task(name=PROBE_TASK, bind=True, ignore_result=False, acks_late=True)
def probe(self, token: str) -> dict:
    delivery = self.request.delivery_info or {}
    return {
        "token": token,
        "fleet": os.environ.get("CELERY_STACK_FLEET", ""),
        "node": self.request.hostname or "",
        "host": socket.gethostname(),
        "queue": delivery.get("routing_key", ""),
    }
