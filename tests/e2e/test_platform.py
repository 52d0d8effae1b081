"""The compose platform end to end, as `make up` runs it.

Acceptance: from scratch the stack comes up healthy and the smoke probe
passes on every queue, the threads (io) and gevent (net) fleets included
(anonymous access and credentials: tests/security, make security); a bulk
task running while its fleet is stopped finishes (warm shutdown) or is
redelivered, never lost. A killed RabbitMQ node (HAProxy marks it DOWN, then
UP; it rejoins; no task lost under load) is chaos scenario 1 (make chaos-quick).
Run: make e2e (it depends on the generated secrets and compose files).
The tests run in file order on one stack; each one leaves it as it found it.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest

from celery_stack.chaos import cluster
from celery_stack.topology import load

from .conftest import BIND, PORTS, Compose, secret

pytestmark = pytest.mark.e2e

SMOKE_TIMEOUT = 90
REJOIN_TIMEOUT = 180
RESTART_TIMEOUT = 180
VHOST = "celery"
BULK_TASK = "celery_stack.demo.tasks.convert_large_file"
BULK_SECONDS = 8
NODES = ("rabbit1", "rabbit2", "rabbit3")


def topology():
    return load(os.environ.get("CELERY_STACK_TOPOLOGY_FILE") or None)


def show(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


def smoke(stack: Compose) -> subprocess.CompletedProcess[str]:
    """What `make smoke` runs: the probe from beat (or the first fleet) through HAProxy."""
    topo = topology()
    service = "beat" if topo.beat.enabled else f"worker-{sorted(f.name for f in topo.fleets)[0]}"
    return stack.exec(service, "celery-stack", "smoke", "--timeout", str(SMOKE_TIMEOUT),
                      env=("CELERY_STACK_BROKER_HOSTS=haproxy:5672",),
                      timeout=SMOKE_TIMEOUT + 60)


def assert_smoke_ok(stack: Compose) -> None:
    proc = smoke(stack)
    assert proc.returncode == 0, show(proc)
    queues = [q.name for q in topology().queues]
    rows = {}
    for line in proc.stdout.splitlines():
        # QUEUE  OWNER FLEETS  SERVED BY  NODE  RESULT
        parts = line.split(None, 4)
        if len(parts) == 5 and parts[0] in queues:
            rows[parts[0]] = parts[4]
    assert rows == dict.fromkeys(queues, "ok"), show(proc)


def url(port_var: str, path: str = "/") -> str:
    return f"http://{BIND}:{PORTS[port_var]}{path}"


def running_nodes(stack: Compose) -> list[str]:
    # rabbit_nodes:list_running, not cluster_status (slow while a member is down).
    return cluster.running_nodes(stack, "rabbit1")


def wait_nodes(stack: Compose, want: int, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    nodes: list[str] = []
    while time.monotonic() < deadline:
        nodes = running_nodes(stack)
        if len(nodes) == want:
            return nodes
        time.sleep(3)
    raise AssertionError(f"not {want} running RabbitMQ nodes within {timeout:.0f} s: {nodes}")


def in_beat(stack: Compose, code: str, *args: str, timeout: float = 120,
            ) -> subprocess.CompletedProcess[str]:
    """Python in the beat container, with the demo app's producer settings."""
    return stack.exec("beat", "python", "-c", code, *args, timeout=timeout)


# --------------------------------------------------------------------- smoke

def test_every_service_healthy_and_smoke_passes(stack: Compose) -> None:
    services = sorted(stack.config()["services"])
    assert {"rabbit1", "rabbit2", "rabbit3", "haproxy", "redis", "flower"} <= set(services)
    for service in services:
        assert stack.health(service) == "running/healthy", service
    assert wait_nodes(stack, 3, 60) == ["rabbit@rabbit1", "rabbit@rabbit2", "rabbit@rabbit3"]
    # Every pool the demo topology uses runs (a missing gevent crash-loops its fleet):
    # smoke below proves each queue answered by its fleet; here, on that pool.
    pools = {f.name: f.pool for f in topology().fleets}
    assert {"threads", "gevent"} <= set(pools.values()), pools
    for name, pool in pools.items():
        conf = stack.exec(f"worker-{name}", "cat", "/etc/supervisor/conf.d/celery-stack.conf")
        assert f"--pool {pool}" in conf.stdout, (name, show(conf))
    assert_smoke_ok(stack)


def rabbitmqctl_rows(stack: Compose, *args: str) -> list[list[str]]:
    proc = stack.exec("rabbit1", "rabbitmqctl", "-q", *args, "--no-table-headers", timeout=60)
    assert proc.returncode == 0, show(proc)
    return [line.split("\t") for line in proc.stdout.splitlines() if line.strip()]


def test_a_gevent_fleet_answers_remote_control_from_its_consumer_loop(stack: Compose) -> None:
    """Its mailbox consumes on the connection its tasks come on (celery_stack.consumer).

    Celery's own mailbox greenlet has a connection of its own: a ping answered
    there proves nothing about the loop that takes tasks, which the watchdog
    relies on.
    """
    green = [f for f in topology().fleets if f.pool == "gevent"]
    assert green, "the demo topology has no gevent fleet to check"
    connection = {pid: conn for pid, conn in rabbitmqctl_rows(stack, "list_channels", "pid",
                                                              "connection")}
    consumers = rabbitmqctl_rows(stack, "list_consumers", "-p", VHOST, "queue_name", "channel_pid")
    for fleet in green:
        tasks = {connection[pid] for name, pid in consumers if name in fleet.queues}
        boxes = {name: connection[pid] for name, pid in consumers
                 if re.fullmatch(rf"{re.escape(fleet.name)}-\d+@.+\.celery\.pidbox", name)}
        assert len(boxes) == fleet.processes, (fleet.name, consumers)
        for box, conn in boxes.items():
            assert conn in tasks, f"{box} consumes on {conn}, not on a task connection {tasks}"


# ------------------------------------------------------------------- failure

def haproxy_status(server: str) -> str:
    """HAProxy's view of one AMQP backend server (UP, DOWN, ...), from the stats CSV."""
    req = urllib.request.Request(url("HAPROXY_STATS_PORT", "/;csv"))  # noqa: S310 (loopback)
    token = base64.b64encode(f"admin:{secret('haproxy_stats_password')}".encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(req, timeout=15) as resp:  # noqa: S310 (loopback)
        rows = list(csv.DictReader(io.StringIO(resp.read().decode().lstrip("# "))))
    for row in rows:
        if row["pxname"] == "rabbitmq_amqp" and row["svname"] == server:
            return row["status"]
    raise AssertionError(f"no server {server} in HAProxy's rabbitmq_amqp backend")


def wait_haproxy(server: str, want: str, timeout: float) -> float:
    start = time.monotonic()
    status = ""
    while time.monotonic() - start < timeout:
        status = haproxy_status(server)
        if status.startswith(want):
            return time.monotonic() - start
        time.sleep(1)
    raise AssertionError(f"HAProxy: {server} not {want} within {timeout:.0f} s ({status})")


def wait_whole(stack: Compose) -> None:
    """Every service healthy and 3 RabbitMQ nodes running (state a test starts from)."""
    for service in sorted(stack.config()["services"]):
        stack.wait_healthy(service, RESTART_TIMEOUT)
    wait_nodes(stack, 3, REJOIN_TIMEOUT)
    for server in NODES:
        wait_haproxy(server, "UP", 60)


SEND = """
import sys
from celery_stack.demo.app import app
from celery_stack.demo.tasks import convert_large_file
r = convert_large_file.apply_async(args=[int(sys.argv[1])],
                                   kwargs={"seconds": float(sys.argv[2])}, ignore_result=False)
print(r.id)
app.close()
"""

RESULT = """
import json, sys
from celery_stack.demo.app import app
r = app.AsyncResult(sys.argv[1])
value = r.get(timeout=float(sys.argv[2]), propagate=False)
print(json.dumps({"state": r.state, "result": value}, default=repr))
app.close()
"""


def wait_log(stack: Compose, service: str, pattern: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    logs = ""
    while time.monotonic() < deadline:
        logs = stack.logs(service)
        if re.search(pattern, logs):
            return logs
        time.sleep(0.5)
    raise AssertionError(f"{service}: no log line matching {pattern!r} within "
                         f"{timeout:.0f} s; last lines:\n{logs[-3000:]}")


def queue_depths(stack: Compose) -> dict[str, int]:
    proc = stack.exec("rabbit1", "rabbitmqctl", "-q", "list_queues", "-p", VHOST,
                      "name", "messages", "--no-table-headers", timeout=60)
    assert proc.returncode == 0, show(proc)
    depths = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            depths[parts[0]] = int(parts[1])
    return depths


def test_bulk_task_survives_warm_shutdown_of_its_fleet(stack: Compose) -> None:
    wait_whole(stack)
    file_id = uuid.uuid4().int % 10**9
    sent = in_beat(stack, SEND, str(file_id), str(BULK_SECONDS))
    assert sent.returncode == 0, show(sent)
    task_id = sent.stdout.strip().splitlines()[-1]
    task = rf"{re.escape(BULK_TASK)}\[{re.escape(task_id)}\]"
    logs = wait_log(stack, "worker-bulk", rf"{task} received", 60)
    # The stop must really hit a running task.
    assert not re.search(rf"{task} succeeded", logs), "the task finished before the stop"

    start = time.monotonic()
    try:
        stop = stack.run("stop", "worker-bulk", timeout=400, check=False)
        took = time.monotonic() - start
        assert stop.returncode == 0, show(stop)
        # Stopped, so these logs are final.
        lines = stack.logs("worker-bulk").splitlines()
    finally:
        # `start` waits for the dependencies' health checks as well.
        stack.run("start", "worker-bulk", timeout=RESTART_TIMEOUT, check=False)
    first = max(i for i, line in enumerate(lines) if re.search(rf"{task} received", line))
    after = lines[first:]
    done = [i for i, line in enumerate(after) if re.search(rf"{task} succeeded", line)]
    stopped = [i for i, line in enumerate(after) if "stopped: celery-bulk" in line]
    killed = [line for line in after if "WorkerLostError" in line or "SIGKILL" in line]
    excerpt = "\n".join(after[:60])

    # Never lost: after the restart the task has succeeded (finished during the
    # stop, or redelivered by acks_late + reject_on_worker_lost and run again)
    # and nothing is left waiting or unacknowledged in its queue.
    stack.wait_healthy("worker-bulk", RESTART_TIMEOUT)
    result = in_beat(stack, RESULT, task_id, "120", timeout=200)
    assert result.returncode == 0, show(result)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "state": "SUCCESS", "result": file_id}, show(result)
    depths = queue_depths(stack)
    assert depths.get("bulk") == 0, depths

    # Warm: the stop waited for the running task (well inside the grace
    # period) instead of killing it and relying on redelivery.
    assert not killed and done and stopped and done[0] < stopped[0], (
        f"the stop (took {took:.1f} s) did not let the running task finish; it survived only "
        f"by redelivery. A TERM sent to the pool children (Supervisor stopasgroup) kills "
        f"them. Worker log from the task's receipt:\n{excerpt}")
    assert "exit status 0" in after[stopped[0]], excerpt
    assert took < BULK_SECONDS + 60, f"stop took {took:.1f} s"
    assert_smoke_ok(stack)
