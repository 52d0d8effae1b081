"""What a failed smoke leaves for the next diagnosis: the failing fleets' state and logs.

Printed only when a smoke fails (pytest shows a failed test's output). A
gevent fleet is first asked for every greenlet's stack (SIGUSR2,
celery_stack.green_dump): its log alone does not say where a stuck consumer
greenlet waits.
"""

from __future__ import annotations

import re
import shlex
import time

from infra import first, host_of

from celery_stack.topology import load

TOPOLOGY = load(None)
LOG = "/var/log/celery-stack/{process}.log"


def failed_queues(text: str) -> set[str]:
    """Queues `celery-stack smoke` names in "smoke: FAILED for queue(s): a, b"."""
    m = re.search(r"FAILED for queue\(s\): (.+)", text)
    return {q.strip() for q in m.group(1).split(",")} if m else set()


def print_failing_fleets(worker, smoke_output: str, lines: int = 300) -> None:
    """For each queue the smoke names: its consumers on the broker, each fleet process's log."""
    queues = failed_queues(smoke_output)
    if not queues:
        return
    fleets = {f for f in TOPOLOGY.fleets if set(f.queues) & queues}
    vhost = worker.run(". /etc/celery-stack/env; echo \"$CELERY_STACK_BROKER_VHOST\"")
    vhost = vhost.stdout.strip()
    broker = host_of(first("rabbitmq"))
    for cmd in ("list_queues name consumers messages_ready messages_unacknowledged",
                "list_consumers queue_name channel_pid prefetch_count"):
        out = broker.run(f"rabbitmqctl -q {cmd.split()[0]} -p {shlex.quote(vhost or '/')} "
                         f"{cmd.split(' ', 1)[1]}")
        print(f"== rabbitmqctl {cmd.split()[0]} (queues {sorted(queues)}):")
        print("\n".join(x for x in out.stdout.splitlines() if x.split("\t")[0] in queues)
              or out.stderr)
    for fleet in sorted(fleets, key=lambda f: f.name):
        if fleet.pool == "gevent":
            worker.run(f"supervisorctl signal USR2 {shlex.quote(fleet.program)}:*")
            time.sleep(2)  # the hub writes the dump at its next turn
        status = worker.run(f"supervisorctl status {shlex.quote(fleet.program)}:*").stdout
        for line in status.splitlines():  # every process of the fleet, running or not
            name = line.split(None, 1)[0] if line.strip() else ""
            if not name.startswith(f"{fleet.program}:"):
                continue
            log = LOG.format(process=name.split(":")[-1])
            print(f"== {line.strip()}; last {lines} lines of {log}:")
            print(worker.run(f"tail -n {lines} {shlex.quote(log)}").stdout)
