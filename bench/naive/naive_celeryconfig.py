"""The naive baseline (setup C): what a project gets from the Celery tutorial.

Only what is needed to connect is set, plus the two choices the benchmark
describes as typical: events on (`celery worker -E`, for a monitor) with no
expiry on the monitor's event queue, and results stored. Everything else is
Celery's default: one queue named "celery" (classic), prefetch multiplier 4,
early acks, gossip, mingle and worker heartbeats on, no publisher confirms.
"""

import os
from pathlib import Path
from urllib.parse import quote


def _secret(var: str) -> str:
    return quote(Path(os.environ[var]).read_text(encoding="utf-8").strip(), safe="")


_user = os.environ["BENCH_BROKER_USER"]
_vhost = quote(os.environ.get("BENCH_BROKER_VHOST", "/"), safe="")
broker_url = (f"amqp://{_user}:{_secret('BENCH_BROKER_PASSWORD_FILE')}"
              f"@{os.environ['BENCH_BROKER_HOST']}/{_vhost}")
result_backend = (f"redis://{os.environ['BENCH_REDIS_USER']}:"
                  f"{_secret('BENCH_REDIS_PASSWORD_FILE')}@{os.environ['BENCH_REDIS_HOST']}:6379/0")
# `celery worker -E`: task events on, so a monitor (Flower) can show tasks.
worker_send_task_events = True
# Celery 5.7 expires event messages after 5 s by default; older releases (and
# many copied configs) do not. The baseline the issue describes has no TTL.
event_queue_ttl = None
event_queue_expires = None
# Results stored for every task (Celery's default task_ignore_result=False).
task_ignore_result = False
