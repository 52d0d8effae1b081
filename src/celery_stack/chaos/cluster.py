"""What the chaos suite asks the running stack: nodes, leaders, depths, processes, ledger.

Every question goes through ``docker compose exec`` (rabbitmqctl on a node,
redis-cli in the Redis container, supervisorctl in a worker container), so
nothing private is published for the suite. Every wait is bounded.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..testing.compose import Compose, StackError, secret
from .tasks import key

VHOST = "celery"
NODES = ("rabbit1", "rabbit2", "rabbit3")


def show(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}: {proc.stdout[-1500:]} {proc.stderr[-1500:]}".strip()


def wait_for(what: str, check: Callable[[], object], timeout: float, every: float = 2.0):
    """Poll ``check`` until it returns a truthy value; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last!r})")
        time.sleep(every)


# ------------------------------------------------------------------ RabbitMQ

def ctl(stack: Compose, node: str, *args: str, timeout: float = 60,
        ) -> subprocess.CompletedProcess[str] | None:
    """rabbitmqctl on ``node``; None when it does not answer in time."""
    try:
        return stack.exec(node, "rabbitmqctl", "-q", *args, timeout=timeout)
    except StackError:
        return None


# Node names in an Erlang list as `rabbitmqctl eval` prints it: [rabbit@a,'rabbit@b-1'].
_NODE = re.compile(r"'?([\w.-]+@[\w.-]+)'?")


def running_nodes(stack: Compose, ask: str) -> list[str]:
    """Cluster members running the rabbit app as ``ask`` sees them ([] when it cannot tell).

    Not `cluster_status`: with a member down it also calls that member for
    its alarms, listeners and versions, and each call waits for the dead peer's
    name to fail to resolve (56-70 s per cluster_status before the image's
    erl_inetrc, 0.6-4 s with it). `rabbit_nodes:list_running/0` asks only the
    connected members.
    """
    proc = ctl(stack, ask, "eval", "rabbit_nodes:list_running().", timeout=30)
    if proc is None or proc.returncode != 0:
        return []
    return parse_node_list(proc.stdout)


def parse_node_list(text: str) -> list[str]:
    """Sorted node names of an Erlang list of atoms; [] for anything else."""
    text = text.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return []
    return sorted(_NODE.findall(text))


def partitions(stack: Compose, ask: str) -> list | None:
    proc = ctl(stack, ask, "cluster_status", "--formatter", "json")
    if proc is None or proc.returncode != 0:
        return None
    try:
        return json.loads(proc.stdout).get("partitions") or []
    except json.JSONDecodeError:
        return None


def full_cluster(stack: Compose) -> bool:
    """Every node sees all three nodes running."""
    want = [f"rabbit@{n}" for n in NODES]
    return all(running_nodes(stack, n) == want for n in NODES)


@dataclass(frozen=True)
class QueueState:
    name: str
    leader: str
    messages: int
    members: tuple[str, ...]


def queues(stack: Compose, ask: str = "rabbit1", tries: int = 6) -> dict[str, QueueState]:
    """Task and dead-letter quorum queues; retried: a loaded or recovering node may time out."""
    for attempt in range(tries):
        proc = ctl(stack, ask, "list_queues", "-p", VHOST, "name", "type", "leader", "members",
                   "messages", "--formatter", "json")
        if proc is not None and proc.returncode == 0:
            break
        if attempt == tries - 1:
            raise AssertionError(f"list_queues on {ask}: {show(proc) if proc else 'no answer'}")
        time.sleep(5)
    out = {}
    for q in json.loads(proc.stdout):
        if q.get("type") == "quorum" and not q["name"].startswith("celery_delayed"):
            out[q["name"]] = QueueState(q["name"], str(q.get("leader", "")),
                                        int(q.get("messages") or 0),
                                        tuple(sorted(q.get("members") or ())))
    return out


def depth(stack: Compose, names: Iterable[str], ask: str = "rabbit1") -> dict[str, int]:
    states = queues(stack, ask)
    return {n: states[n].messages for n in names if n in states}


def quorum_critical(stack: Compose, node: str) -> bool:
    """True while stopping ``node`` would leave some quorum queue without a majority."""
    try:
        proc = stack.exec(node, "rabbitmq-queues", "check_if_node_is_quorum_critical",
                          timeout=60)
    except StackError:
        return True
    return proc.returncode != 0


# The queue each at-least-once dead-letter worker of a node serves.
_DLX_WORKERS = ("[element(2, sys:get_state(P)) || "
                "{_, P, _, _} <- supervisor:which_children(rabbit_fifo_dlx_sup)].")


def dlx_workers(stack: Compose, queue: str) -> list[str]:
    """Nodes with an at-least-once dead-letter worker for ``queue``.

    RabbitMQ runs exactly one, on the queue's leader; none there means
    dead-lettered messages wait in the source queue and never move.
    """
    found = []
    for node in NODES:
        proc = ctl(stack, node, "eval", _DLX_WORKERS, timeout=30)
        if proc is not None and proc.returncode == 0 and f'<<"{queue}">>' in proc.stdout:
            found.append(f"rabbit@{node}")
    return found


def queue_report(stack: Compose, names: Iterable[str], ask: str = "rabbit1") -> str:
    """Leader, ready, unacknowledged and consumers of ``names``, for a failure message."""
    proc = ctl(stack, ask, "list_queues", "-p", VHOST, "name", "leader", "messages_ready",
               "messages_unacknowledged", "consumers", "--formatter", "json")
    if proc is None or proc.returncode != 0:
        return f"list_queues on {ask} failed: {show(proc) if proc else 'no answer'}"
    wanted = set(names)
    rows = [q for q in json.loads(proc.stdout or "[]") if q.get("name") in wanted]
    return "; ".join(f"{q['name']}: leader {q.get('leader')}, ready {q.get('messages_ready')}, "
                     f"unacked {q.get('messages_unacknowledged')}, consumers {q.get('consumers')}"
                     for q in rows) or f"none of {sorted(wanted)} listed"


def service_of_node(node: str) -> str:
    """rabbit@rabbit2 -> rabbit2."""
    return node.split("@", 1)[1]


# --------------------------------------------------------------------- Redis

def redis_cli(stack: Compose, *args: str, timeout: float = 60) -> list[str]:
    # The password travels in this process' environment (-e NAME), never argv.
    proc = stack.exec("redis", "redis-cli", "--no-auth-warning", "--user", "celery", "-h",
                      "redis", *args, env=("REDISCLI_AUTH",),
                      caller_env={"REDISCLI_AUTH": secret("redis_password")}, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"redis-cli {args[0]}: {show(proc)}")
    return proc.stdout.splitlines()


def ledger_hash(stack: Compose, run: str, kind: str) -> dict[str, str]:
    lines = redis_cli(stack, "HGETALL", key(run, kind), timeout=120)
    return dict(zip(lines[0::2], lines[1::2], strict=False))


def ledger_runs(stack: Compose, run: str, kind: str = "done") -> dict[str, int]:
    return {k: int(v) for k, v in ledger_hash(stack, run, kind).items()}


def ledger_count(stack: Compose, run: str, kind: str = "done") -> int:
    return int(redis_cli(stack, "HLEN", key(run, kind))[0])


def forget(stack: Compose, run: str) -> None:
    """Delete a run's ledger: the stack is left as it was found."""
    redis_cli(stack, "DEL", *(key(run, k) for k in ("done", "started", "attempts", "poison")))


# ---------------------------------------------------------------- Supervisor

@dataclass(frozen=True)
class Program:
    name: str
    state: str
    pid: int | None


_STATUS = re.compile(r"^(\S+)\s+(\S+)(?:\s+pid (\d+),)?")


def programs(stack: Compose, service: str) -> dict[str, Program]:
    proc = stack.exec(service, "supervisorctl", "status", timeout=60)
    out = {}
    for line in proc.stdout.splitlines():
        m = _STATUS.match(line)
        if m:
            out[m.group(1)] = Program(m.group(1), m.group(2),
                                      int(m.group(3)) if m.group(3) else None)
    if not out:
        raise AssertionError(f"supervisorctl status in {service}: {show(proc)}")
    return out


def children(stack: Compose, service: str, pid: int) -> list[int]:
    proc = stack.exec(service, "cat", f"/proc/{pid}/task/{pid}/children", timeout=30)
    return [int(x) for x in proc.stdout.split()] if proc.returncode == 0 else []


def signal(stack: Compose, service: str, sig: str, pid: int) -> None:
    proc = stack.exec(service, "sh", "-c", f"kill -{sig} {int(pid)}", timeout=30)
    if proc.returncode != 0:
        raise AssertionError(f"kill -{sig} {pid} in {service}: {show(proc)}")


def hostname(stack: Compose, service: str) -> str:
    return stack.exec(service, "hostname", timeout=30).stdout.strip()


def worker_services(stack: Compose) -> list[str]:
    return [s for s in stack.services() if s.startswith("worker-") or s == "beat"]


def all_healthy(stack: Compose, timeout: float) -> None:
    for service in stack.services():
        stack.wait_healthy(service, timeout)
