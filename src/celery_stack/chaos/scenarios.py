"""The seven failure scenarios of the chaos suite, each filling one ``Result``.

Every scenario starts from a whole stack (3 running nodes, every service
healthy), injects exactly one failure, measures recovery with bounded waits,
reconciles the ledger and leaves the stack whole again (its ``finally``
undoes the failure even when a check failed).
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from ..testing.compose import BIND, Compose, secret
from ..topology import Topology
from . import checks, cluster, haproxy
from .ledger import (
    CONFIRM_TIMEOUT,
    PRODUCER_CONNECT_TIMEOUT,
    RECONNECT_PAUSE,
    Publisher,
    producer_app,
    reconcile,
    spread,
)
from .report import Result

POISON_TASK = "celery_stack.chaos.tasks.poison"
# Share of the load per queue (most on default, the least on slow-consuming bulk).
LOAD_WEIGHTS = {"default": 5, "priority": 3, "bulk": 2}
# Bounded waits (generous: the CPU is shared with other stacks).
WHOLE_TIMEOUT = 300
DOWN_DETECT_TIMEOUT = 240  # Erlang net_ticktime (60 s) + a loaded machine
REJOIN_TIMEOUT = 300
DRAIN_TIMEOUT = 900
DRAIN_STALL = 180  # no ledger progress for this long: stop waiting
PUBLISH_TIMEOUT = 900
# Seconds a ledger task sleeps when the suite must kill it mid-run.
LONG_TASK = 8.0


@dataclass
class Ctx:
    stack: Compose
    topology: Topology
    say: Callable[[str], None]
    amqp_url: str = ""
    # Services another concurrently running scenario disturbs on purpose.
    disturbed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if not self.amqp_url:
            port = self.stack.port_map["AMQP_PORT"]
            self.amqp_url = (f"amqp://celery:{secret('rabbitmq_app_password')}@{BIND}:{port}/"
                             f"{cluster.VHOST}")

    def new_run(self, label: str) -> str:
        return f"{label}-{uuid.uuid4().hex[:10]}"

    def app(self):
        return producer_app(self.amqp_url)


# ------------------------------------------------------------------ helpers

def now() -> float:
    return time.monotonic()


def wait_whole(ctx: Ctx, timeout: float = WHOLE_TIMEOUT) -> None:
    """The state every scenario starts from and leaves: all healthy, 3 nodes, full quorums."""
    cluster.all_healthy(ctx.stack, timeout)
    cluster.wait_for("3 running RabbitMQ nodes seen by every node",
                     lambda: cluster.full_cluster(ctx.stack), timeout, every=3)
    names = {q.name for q in ctx.topology.queues}

    def replicated() -> bool:
        states = cluster.queues(ctx.stack)
        return all(len(states[n].members) == len(cluster.NODES) for n in names if n in states) \
            and names <= set(states)
    cluster.wait_for("every task queue replicated on 3 nodes", replicated, timeout, every=3)


def publish(ctx: Ctx, run: str, plan: list[tuple[str, float]], rate: float | None = None,
            ) -> Publisher:
    return Publisher(ctx.app(), run, plan, rate=rate).start()


def publish_all(ctx: Ctx, run: str, plan: list[tuple[str, float]]) -> Publisher:
    pub = publish(ctx, run, plan)
    if not pub.join(PUBLISH_TIMEOUT):
        pub.stop()
        raise AssertionError(f"publishing {len(plan)} tasks took over {PUBLISH_TIMEOUT} s")
    if pub.fatal:
        raise AssertionError(f"publisher stopped: {pub.fatal}")
    return pub


def send_one(ctx: Ctx, name: str, run: str, queue: str) -> str:
    """One confirmed publish of task ``name`` (taking ``run``); returns its id."""
    pub = Publisher(ctx.app(), run, [(queue, 0.0)], task=name).start()
    if not pub.join(120) or not pub.confirmed:
        pub.stop()
        raise AssertionError(f"{name}: not confirmed within 120 s: {pub.errors[-3:]}")
    return next(iter(pub.confirmed))


def drain(ctx: Ctx, run: str, pub: Publisher, result: Result,
          timeout: float = DRAIN_TIMEOUT, fault: tuple[float, float] | None = None) -> None:
    """Wait (bounded) until every confirmed task ran and the queues are empty; reconcile.

    ``fault``: the (monotonic) window in which the scenario's fault may make
    publishes fail; without one, no publish may fail at all.
    """
    # Only this load's queues: a scenario running beside may hold others on purpose.
    names = sorted({q for q, _ in pub.plan} or {q.name for q in ctx.topology.queues})
    start = now()
    last, last_change = -1, now()
    while now() - start < timeout:
        count = cluster.ledger_count(ctx.stack, run)
        if count != last:
            last, last_change = count, now()
        if count >= len(pub.confirmed):
            depths = cluster.depth(ctx.stack, names)
            if not any(depths.values()):
                break
        elif now() - last_change > DRAIN_STALL:
            break
        time.sleep(3)
    result.recovery["drained_after_publish"] = now() - (pub.finished_at or start)
    runs = cluster.ledger_runs(ctx.stack, run)
    counts = reconcile(pub.confirmed, runs)
    result.counts = counts.as_dict()
    result.facts["publish_attempts_failed"] = len(pub.errors)
    if pub.errors:
        result.facts["first_publish_error"] = pub.errors[0][1][:200]
    result.check(f"every confirmed task executed at least once ({counts.executed}/"
                 f"{counts.sent})", counts.lost == 0 and counts.sent > 0,
                 f"lost ids (sample): {', '.join(counts.lost_ids)}" if counts.lost else "")
    judge_publisher(pub, result, fault, runs)


def judge_publisher(pub: Publisher, result: Result, fault: tuple[float, float] | None,
                    runs: dict[str, int]) -> None:
    """Volume, publish errors and unconfirmed executions, each against a stated bound."""
    planned = pub.planned()
    result.check(f"volume: confirmed >= {checks.VOLUME_SHARE:.0%} of planned "
                 f"({len(pub.confirmed)}/{planned})",
                 checks.volume_ok(len(pub.confirmed), planned))
    result.check("delivery tags matched the tasks sent (the count is trustworthy)",
                 pub.fatal is None, pub.fatal or "")
    outside = checks.errors_outside(pub.errors, fault)
    result.check("publish errors only while the fault lasted" if fault else
                 "no publish error (no broker fault in this scenario)", not outside,
                 "; ".join(outside[:3]))
    budget = checks.error_budget(fault, RECONNECT_PAUSE)
    result.check(f"publish errors within the fault's budget ({budget}: one attempt per "
                 f"{RECONNECT_PAUSE} s reconnect pause)", len(pub.errors) <= budget,
                 f"{len(pub.errors)} errors")
    ran = {tid for tid, n in runs.items() if n > 0}
    stray = checks.unconfirmed_beyond_attempts(ran - set(pub.confirmed), pub.attempted,
                                               set(pub.confirmed))
    result.check("unconfirmed executions only of attempts whose confirm was lost",
                 not stray, f"{len(stray)} ran without being attempted")


def whole_again(ctx: Ctx, result: Result) -> None:
    try:
        wait_whole(ctx)
        result.check("stack whole again: every service healthy, 3 nodes, queues on 3 nodes", True)
    except AssertionError as exc:
        result.check("stack whole again", False, str(exc))


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    # The docker CLI on PATH, arguments built here (never from outside input).
    proc = subprocess.run(["docker", *args], capture_output=True, text=True,  # noqa: S603,S607
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {cluster.show(proc)}")
    return proc


def load_plan(count: int, seconds: float = 0.0) -> list[tuple[str, float]]:
    return [(q, seconds) for q in spread(count, LOAD_WEIGHTS)]


def survivor(victim: str) -> str:
    return next(n for n in cluster.NODES if n != victim)


def wait_started(ctx: Ctx, run: str, service: str, ids: list[str],
                 timeout: float = 90) -> tuple[str, int]:
    """(task id, pool pid) of one of ``ids`` now running in ``service``."""
    host = cluster.hostname(ctx.stack, service)

    def running() -> tuple[str, int] | None:
        started = cluster.ledger_hash(ctx.stack, run, "started")
        done = cluster.ledger_hash(ctx.stack, run, "done")
        for tid in ids:
            where = started.get(tid, "")
            if where.startswith(f"{host}:") and tid not in done:
                return tid, int(where.rsplit(":", 1)[1])
        return None
    return cluster.wait_for(f"a long task running in {service}", running, timeout, every=0.5)


def wait_done(ctx: Ctx, run: str, ids: list[str], timeout: float) -> float:
    start = now()
    cluster.wait_for(f"{len(ids)} task(s) executed",
                     lambda: set(ids) <= set(cluster.ledger_runs(ctx.stack, run)), timeout)
    return now() - start


def program_of(ctx: Ctx, service: str) -> str:
    """The Supervisor name of the (first) Celery process of a worker service."""
    fleet = service.removeprefix("worker-")
    name = ctx.topology.fleet(fleet).program
    return f"{name}:{name}-00"


def pids(ctx: Ctx) -> dict[str, dict[str, int | None]]:
    return {s: {n: p.pid for n, p in cluster.programs(ctx.stack, s).items()}
            for s in cluster.worker_services(ctx.stack)}


# ---------------------------------------------------------------- scenarios

def node_killed_under_load(ctx: Ctx, result: Result, tasks: int) -> None:
    """1. docker kill the node leading the busiest queue mid-load; restart it later."""
    wait_whole(ctx)
    hap = haproxy.checks(ctx.stack)
    result.facts.update(haproxy_down_bound=f"{hap.down_bound:.0f} s",
                        haproxy_up_bound=f"{hap.up_bound:.0f} s")
    run = ctx.new_run("node-kill")
    pub = publish(ctx, run, load_plan(tasks))
    victim = ""
    try:
        cluster.wait_for("30% of the load confirmed",
                         lambda: len(pub.confirmed) >= tasks * 0.3 or pub.done, 300, every=0.2)
        states = cluster.queues(ctx.stack)
        busiest = max((states[q] for q in LOAD_WEIGHTS), key=lambda s: s.messages)
        victim = cluster.service_of_node(busiest.leader)
        result.facts.update(busiest_queue=f"{busiest.name} ({busiest.messages} messages)",
                            victim=f"{victim} (leader of {busiest.name})",
                            confirmed_at_kill=len(pub.confirmed))
        ctx.say(f"  killing {victim}, leader of {busiest.name} ({busiest.messages} messages)")
        # The fault starts when the kill is issued: the node and its connections
        # die before `docker kill` returns (a publish error seen 0.2 s before it did).
        t_kill = now()
        docker("kill", ctx.stack.container(victim))
        ctx.say(f"  {victim} killed after {t_kill - pub.started_at:.1f} s of publishing")
        # HAProxy stops routing to the dead node (moved here from e2e, now under load).
        down = haproxy.wait_status(ctx.stack, victim, "DOWN", DOWN_DETECT_TIMEOUT)
        result.recovery["haproxy_marked_down"] = down if down is not None else -1.0
        result.check(f"HAProxy marked {victim} DOWN within {hap.down_bound:.0f} s "
                     "(fall x (inter + timeout check))",
                     down is not None and down <= hap.down_bound + haproxy.RESOLUTION,
                     "never" if down is None else f"{down:.1f} s")
        peer = survivor(victim)
        cluster.wait_for(f"{peer} sees {victim} gone",
                         lambda: len(cluster.running_nodes(ctx.stack, peer)) == 2,
                         DOWN_DETECT_TIMEOUT, every=3)
        result.recovery["node_down_detected"] = now() - t_kill
        ctx.say(f"  {peer} sees 2 nodes after {now() - t_kill:.1f} s; "
                f"{len(pub.confirmed)} confirmed")
        states = cluster.queues(ctx.stack, peer)
        result.facts["new_leader"] = states[busiest.name].leader
        result.check(f"{busiest.name} has a new leader on a survivor",
                     states[busiest.name].leader not in ("", busiest.leader),
                     states[busiest.name].leader)
        if not pub.join(PUBLISH_TIMEOUT):
            pub.stop()
            raise AssertionError(f"publishing {tasks} tasks took over {PUBLISH_TIMEOUT} s")
        gap, at = pub.stall(t_kill)
        result.recovery["longest_publish_stall"] = gap
        result.recovery["publishing_resumed"] = max(0.0, at + gap - t_kill)
        ctx.say(f"  {tasks} confirmed in {pub.finished_at - pub.started_at:.1f} s; "
                f"starting {victim}")
        t_start = now()
        ctx.stack.run("start", victim, timeout=180)
        cluster.wait_for(f"{victim} back in the cluster",
                         lambda: cluster.full_cluster(ctx.stack), REJOIN_TIMEOUT, every=2)
        result.recovery["node_back"] = now() - t_start
        result.check(f"{victim} rejoined: 3 running nodes", True)
        victim_done = victim
        victim = ""
        ctx.stack.wait_healthy(victim_done, REJOIN_TIMEOUT)
        up = haproxy.wait_status(ctx.stack, victim_done, "UP", REJOIN_TIMEOUT)
        result.recovery["haproxy_marked_up_after_healthy"] = up if up is not None else -1.0
        result.check(f"HAProxy marked {victim_done} UP within {hap.up_bound:.0f} s of it "
                     "answering (hold valid + rise x (inter + timeout check))",
                     up is not None and up <= hap.up_bound + haproxy.RESOLUTION,
                     "never" if up is None else f"{up:.1f} s")
        # Publish errors are the fault's only while HAProxy may still route to the dead
        # node, plus a batch's confirm timeout and one reconnect.
        fault_end = t_kill + hap.down_bound + CONFIRM_TIMEOUT + PRODUCER_CONNECT_TIMEOUT \
            + RECONNECT_PAUSE
        drain(ctx, run, pub, result, fault=(t_kill, fault_end))
    finally:
        pub.stop()
        if victim:
            ctx.stack.run("start", victim, timeout=180, check=False)
        whole_again(ctx, result)
        cluster.forget(ctx.stack, run)


def worker_killed_mid_task(ctx: Ctx, result: Result) -> None:
    """2. kill -9 a prefork pool child, then the worker main process, while tasks run."""
    service = "worker-default"
    program = program_of(ctx, service)
    wait_whole(ctx)
    run = ctx.new_run("worker-kill")
    confirmed: dict[str, float] = {}
    attempted: set[str] = set()
    errors: list[tuple[float, str]] = []
    try:
        # a) a pool child: the pool replaces it, the task is requeued (reject_on_worker_lost).
        main = cluster.programs(ctx.stack, service)[program].pid
        pub = publish_all(ctx, run, [("default", LONG_TASK)] * 4)
        confirmed.update(pub.confirmed)
        attempted |= pub.attempted
        errors += pub.errors
        tid, child = wait_started(ctx, run, service, list(pub.confirmed))
        cluster.signal(ctx.stack, service, "KILL", child)
        t0 = now()
        result.facts["pool_child_killed"] = f"pid {child} running task {tid}"
        wait_done(ctx, run, [tid], 180)
        result.recovery["killed_child_task_done"] = now() - t0
        attempts = int(cluster.ledger_hash(ctx.stack, run, "attempts").get(tid, 0))
        result.check("task of the killed pool child redelivered and completed",
                     attempts >= 2, f"started {attempts} time(s)")
        after = cluster.programs(ctx.stack, service)[program]
        result.check("pool child replaced by the pool, main process untouched",
                     after.pid == main and after.state == "RUNNING", f"main pid {after.pid}")
        wait_done(ctx, run, list(pub.confirmed), 180)

        # b) the main process: the broker requeues its unacked tasks, Supervisor restarts it.
        pub = publish_all(ctx, run, [("default", LONG_TASK)] * 4)
        confirmed.update(pub.confirmed)
        attempted |= pub.attempted
        errors += pub.errors
        tid, _ = wait_started(ctx, run, service, list(pub.confirmed))
        main = cluster.programs(ctx.stack, service)[program].pid
        cluster.signal(ctx.stack, service, "KILL", main)
        t0 = now()
        result.facts["main_process_killed"] = f"pid {main} while task {tid} ran"

        def restarted() -> bool:
            p = cluster.programs(ctx.stack, service)[program]
            return p.state == "RUNNING" and p.pid not in (None, main)
        cluster.wait_for(f"Supervisor restarts {program}", restarted, 120, every=1)
        result.recovery["supervisor_restart"] = now() - t0
        new = cluster.programs(ctx.stack, service)[program].pid
        result.check("Supervisor restarted the killed main process", True, f"pid {main} -> {new}")
        wait_done(ctx, run, list(pub.confirmed), 240)
        result.recovery["killed_main_tasks_done"] = now() - t0
        attempts = int(cluster.ledger_hash(ctx.stack, run, "attempts").get(tid, 0))
        result.check("task running in the killed main process redelivered and completed",
                     attempts >= 2, f"started {attempts} time(s)")
        # Both loads as one publisher: the plan is what both publish_all calls sent.
        done = Publisher(None, run, [("default", LONG_TASK)] * 8)  # type: ignore[arg-type]
        done.confirmed, done.attempted, done.errors = confirmed, attempted, errors
        done.finished_at = now()
        drain(ctx, run, done, result)
    finally:
        whole_again(ctx, result)
        cluster.forget(ctx.stack, run)

# Titles in issue order; run.py maps numbers to these functions.
TITLES = {
    1: "Broker node killed under load",
    2: "Worker process killed mid-task",
    3: "Hung worker (SIGSTOP) restarted by the watchdog",
    4: "Redis killed: client and worker recover, stored results kept",
    5: "Partition: one node cut off for 30 s",
    6: "Rolling restart of the 3 RabbitMQ nodes under load",
    7: "Poison task dead-lettered",
}
