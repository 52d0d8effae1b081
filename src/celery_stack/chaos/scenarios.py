"""The seven failure scenarios of the chaos suite, each filling one ``Result``.

Every scenario starts from a whole stack (3 running nodes, every service
healthy), injects exactly one failure, measures recovery with bounded waits,
reconciles the ledger and leaves the stack whole again (its ``finally``
undoes the failure even when a check failed).
"""

from __future__ import annotations

import json
import math
import shlex
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from kombu import Connection

from ..derive.supervisor import START_SECS
from ..testing.compose import BIND, Compose, secret
from ..topology import Topology
from ..watchdog import decide as watchdog_rules
from ..watchdog import run as watchdog_run
from . import cluster
from .ledger import Publisher, producer_app, reconcile, spread
from .report import Result

POISON_TASK = "celery_stack.chaos.tasks.poison"
STORED_TASK = "celery_stack.chaos.tasks.stored"
# Share of the load per queue (most on default, the least on slow-consuming bulk).
LOAD_WEIGHTS = {"default": 5, "priority": 3, "bulk": 2}
# Bounded waits (generous: the CPU is shared with other stacks).
WHOLE_TIMEOUT = 300
DOWN_DETECT_TIMEOUT = 240  # Erlang net_ticktime (60 s) + a loaded machine
REJOIN_TIMEOUT = 300
DRAIN_TIMEOUT = 900
DRAIN_STALL = 180  # no ledger progress for this long: stop waiting
PUBLISH_TIMEOUT = 900
# Longest publish stall accepted during a rolling restart (measured ~ a few s;
# the bound leaves room for a noisy machine and one client reconnect cycle).
ROLLING_STALL_BOUND = 60.0
PARTITION_SECONDS = 30
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
    return pub


def send_one(ctx: Ctx, name: str, run: str, queue: str) -> str:
    """One confirmed publish of task ``name`` (taking ``run``); returns its id."""
    pub = Publisher(ctx.app(), run, [(queue, 0.0)], task=name).start()
    if not pub.join(120) or not pub.confirmed:
        pub.stop()
        raise AssertionError(f"{name}: not confirmed within 120 s: {pub.errors[-3:]}")
    return next(iter(pub.confirmed))


def drain(ctx: Ctx, run: str, pub: Publisher, result: Result,
          timeout: float = DRAIN_TIMEOUT) -> None:
    """Wait (bounded) until every confirmed task ran and the queues are empty; reconcile."""
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
    counts = reconcile(pub.confirmed, cluster.ledger_runs(ctx.stack, run))
    result.counts = counts.as_dict()
    result.facts["publish_attempts_failed"] = len(pub.errors)
    if pub.errors:
        result.facts["first_publish_error"] = pub.errors[0][1][:200]
    result.check(f"every confirmed task executed at least once ({counts.executed}/"
                 f"{counts.sent})", counts.lost == 0 and counts.sent > 0,
                 f"lost ids (sample): {', '.join(counts.lost_ids)}" if counts.lost else "")


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
        docker("kill", ctx.stack.container(victim))
        t_kill = now()
        ctx.say(f"  {victim} killed after {t_kill - pub.started_at:.1f} s of publishing")
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
        drain(ctx, run, pub, result)
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
    try:
        # a) a pool child: the pool replaces it, the task is requeued (reject_on_worker_lost).
        main = cluster.programs(ctx.stack, service)[program].pid
        pub = publish_all(ctx, run, [("default", LONG_TASK)] * 4)
        confirmed.update(pub.confirmed)
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
        done = Publisher(None, run, [("default", LONG_TASK)])  # type: ignore[arg-type]
        done.confirmed = confirmed
        done.finished_at = now()
        drain(ctx, run, done, result)
    finally:
        whole_again(ctx, result)
        cluster.forget(ctx.stack, run)


def watchdog_settings(ctx: Ctx, service: str) -> tuple[float, float, float]:
    """(pass interval, unresponsive threshold, ping timeout) of the watchdog in ``service``."""
    conf = ctx.stack.exec(service, "cat", "/etc/supervisor/conf.d/celery-stack.conf").stdout
    line = next((x for x in conf.splitlines()
                 if x.startswith("command=") and " watchdog " in f"{x} "), "")
    argv = shlex.split(line.removeprefix("command="))
    if not argv:
        raise AssertionError(f"{service}: no watchdog program in the Supervisor config")

    def opt(name: str, default: float) -> float:
        return float(argv[argv.index(name) + 1]) if name in argv else default
    return (opt("--interval", 0.0),
            opt("--unresponsive-after", watchdog_rules.Options().unresponsive_after),
            opt("--ping-timeout", watchdog_run.PING_TIMEOUT))


def hung_worker(ctx: Ctx, result: Result) -> None:
    """3. SIGSTOP one worker process: the watchdog restarts exactly that one."""
    service = "worker-priority"
    program = program_of(ctx, service)
    fleet = ctx.topology.fleet("priority")
    interval, threshold, ping = watchdog_settings(ctx, service)
    # A pass sleeps `interval` after the previous one ended; a pass with a
    # silent process waits out ping, stats and active (3 x ping timeout),
    # doubled for a loaded machine. Worst case: one period until the first
    # miss, whole periods until the silence reaches the threshold, the
    # deciding pass's probes, Supervisor's stop wait (a stopped process
    # ignores TERM) and its start time.
    probes = 3 * ping
    period = interval + 2 * probes
    bound = ((math.ceil(threshold / period) + 1) * period + probes + fleet.stop_wait
             + START_SECS)
    result.facts.update(watchdog_interval=f"{interval:.0f} s", ping_timeout=f"{ping:.0f} s",
                        unresponsive_threshold=f"{threshold:.0f} s",
                        stop_wait=f"{fleet.stop_wait} s", restart_bound=f"{bound:.0f} s")
    wait_whole(ctx)
    run = ctx.new_run("hung")
    before = pids(ctx)
    main = before[service][program]
    stopped = False
    try:
        pub = publish_all(ctx, run, [("priority", 3.0)] * 8)
        wait_started(ctx, run, service, list(pub.confirmed))
        cluster.signal(ctx.stack, service, "STOP", main)
        stopped = True
        t0 = now()
        held = set(pub.confirmed) - set(cluster.ledger_runs(ctx.stack, run))
        ctx.say(f"  SIGSTOP {program} pid {main} in {service}; {len(held)} task(s) unfinished")

        def restarted() -> bool:
            p = cluster.programs(ctx.stack, service)[program]
            return p.state == "RUNNING" and p.pid not in (None, main)
        cluster.wait_for(f"the watchdog restarts {program}", restarted, bound + 60, every=2)
        stopped = False
        took = now() - t0
        result.recovery["watchdog_restart"] = took
        result.check(f"watchdog restarted the stopped process within its bound ({bound:.0f} s)",
                     took <= bound, f"{took:.0f} s")
        logs = ctx.stack.logs(service, tail=400)
        line = next((x for x in logs.splitlines()
                     if "watchdog:" in x and program in x and " restart:" in x), "")
        result.check("the restart was the watchdog's decision (its log line)", bool(line),
                     line.strip()[:200])
        wait_done(ctx, run, list(held), 240)
        result.check(f"tasks it held ({len(held)}) redelivered and completed",
                     bool(held), "none held" if not held else "")
        after = pids(ctx)
        changed = sorted(f"{s}/{n}" for s in before for n, pid in before[s].items()
                         if s not in ctx.disturbed and (s, n) != (service, program)
                         and after.get(s, {}).get(n) != pid)
        result.check("no healthy process was restarted", not changed,
                     f"changed: {changed}" if changed else
                     f"compared {sum(len(v) for v in before.values()) - 1} processes"
                     + (f", skipping {sorted(ctx.disturbed)} (other scenarios)"
                        if ctx.disturbed else ""))
        drain(ctx, run, pub, result)
    finally:
        if stopped:
            ctx.stack.exec(service, "sh", "-c", f"kill -CONT {int(main)}", timeout=30)
        whole_again(ctx, result)
        cluster.forget(ctx.stack, run)


STORE = """
import json, sys
from celery_stack.demo.app import app
values = json.loads(sys.argv[1])
results = [app.send_task("NAME", args=[v], queue="default", ignore_result=False) for v in values]
print(json.dumps([[r.id, r.get(timeout=120)] for r in results]))
app.close()
""".replace("NAME", STORED_TASK)

READ = """
import json, sys
from celery_stack.demo.app import app
out = {}
for tid in json.loads(sys.argv[1]):
    r = app.AsyncResult(tid)
    out[tid] = [r.state, r.result if r.state == "SUCCESS" else repr(r.result)]
print(json.dumps(out))
app.close()
"""


def in_beat(ctx: Ctx, code: str, arg: str) -> object:
    proc = ctx.stack.exec("beat", "python", "-c", code, arg, timeout=240)
    if proc.returncode != 0:
        raise AssertionError(f"python in beat: {cluster.show(proc)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def redis_restart(ctx: Ctx, result: Result, count: int = 50) -> None:
    """4. Results stored before a Redis restart are readable after it."""
    wait_whole(ctx)
    values = [uuid.uuid4().hex for _ in range(count)]
    stored = in_beat(ctx, STORE, json.dumps(values))
    ids = {tid: value for tid, value in stored}  # type: ignore[misc]
    result.check(f"{count} results stored before the restart",
                 sorted(ids.values()) == sorted(values))
    t0 = now()
    ctx.stack.run("restart", "redis", timeout=120)
    ctx.stack.wait_healthy("redis", 120)
    result.recovery["redis_back"] = now() - t0
    try:
        read = in_beat(ctx, READ, json.dumps(list(ids)))
        readable = sum(1 for tid, v in ids.items() if read.get(tid) == ["SUCCESS", v])  # type: ignore[union-attr]
        result.counts = {"sent": len(ids), "executed": len(ids), "duplicated": 0,
                         "lost": len(ids) - readable}
        result.check(f"results readable after the restart ({readable}/{len(ids)})",
                     readable == len(ids))
        t1 = now()
        again = in_beat(ctx, STORE, json.dumps(["after-restart"]))
        result.recovery["new_result_round_trip"] = now() - t1
        result.check("workers store new results after the restart",
                     [v for _, v in again] == ["after-restart"])  # type: ignore[union-attr]
    finally:
        whole_again(ctx, result)


def network_name(ctx: Ctx, network: str = "back") -> str:
    return f"{ctx.stack.project}_{network}"


def partition(ctx: Ctx, result: Result, rate: float = 80.0) -> None:
    """5. Cut one node off the back network for 30 s, reconnect; 0 lost, 3 nodes again."""
    wait_whole(ctx)
    states = cluster.queues(ctx.stack)
    leaders = [states[q].leader for q in LOAD_WEIGHTS]
    victim = cluster.service_of_node(max(set(leaders), key=leaders.count))
    container = ctx.stack.container(victim)
    net = network_name(ctx)
    aliases = json.loads(docker("inspect", "-f", "{{json .NetworkSettings.Networks}}",
                                container).stdout)[net].get("Aliases") or [victim]
    result.facts.update(victim=f"{victim} (leads {leaders.count(f'rabbit@{victim}')} of "
                               f"{len(leaders)} task queues)",
                        cut_for=f"{PARTITION_SECONDS} s", load=f"{rate:.0f} tasks/s")
    run = ctx.new_run("partition")
    pub = publish(ctx, run, load_plan(int(rate * (PARTITION_SECONDS + 240))), rate=rate)
    cut = False
    try:
        time.sleep(10)
        docker("network", "disconnect", net, container)
        cut = True
        t_cut = now()
        ctx.say(f"  {victim} disconnected from {net}")
        time.sleep(PARTITION_SECONDS)
        args = [x for a in aliases if a != container[:12] for x in ("--alias", a)]
        docker("network", "connect", *args, net, container)
        cut = False
        t_back = now()
        cluster.wait_for("cluster healed: every node sees 3 running nodes",
                         lambda: cluster.full_cluster(ctx.stack), REJOIN_TIMEOUT, every=3)
        result.recovery["cluster_healed"] = now() - t_back
        parts = {n: cluster.partitions(ctx.stack, n) for n in cluster.NODES}
        result.check("3 running nodes and no partition recorded",
                     all(p == [] for p in parts.values()), json.dumps(parts))
        # Keep publishing a little after the heal, then stop the stream.
        time.sleep(10)
        pub.stop()
        pub.join(60)
        gap, at = pub.stall(t_cut)
        result.recovery["longest_publish_stall"] = gap
        result.recovery["publishing_resumed"] = max(0.0, at + gap - t_cut)
        drain(ctx, run, pub, result)
    finally:
        pub.stop()
        if cut:
            docker("network", "connect", *[x for a in aliases if a != container[:12]
                                            for x in ("--alias", a)], net, container)
        whole_again(ctx, result)
        cluster.forget(ctx.stack, run)


def rolling_restart(ctx: Ctx, result: Result, rate: float = 40.0) -> None:
    """6. Restart rabbit1..3 one at a time under load; measure the longest publish stall."""
    wait_whole(ctx)
    run = ctx.new_run("rolling")
    pub = publish(ctx, run, load_plan(int(rate * 1500)), rate=rate)
    result.facts.update(load=f"{rate:.0f} tasks/s", stall_bound=f"{ROLLING_STALL_BOUND:.0f} s")
    try:
        time.sleep(10)
        t_first = now()
        for node in cluster.NODES:
            cluster.wait_for(f"{node} not quorum-critical",
                             lambda n=node: not cluster.quorum_critical(ctx.stack, n), 300)
            t0 = now()
            ctx.say(f"  restarting {node}")
            ctx.stack.run("restart", node, timeout=240)
            ctx.stack.wait_healthy(node, REJOIN_TIMEOUT)
            cluster.wait_for(f"{node} back in the cluster",
                             lambda: cluster.full_cluster(ctx.stack), REJOIN_TIMEOUT, every=2)
            result.recovery[f"{node}_back"] = now() - t0
        time.sleep(10)
        pub.stop()
        pub.join(60)
        gap, at = pub.stall(t_first)
        result.recovery["longest_publish_stall"] = gap
        result.facts["longest_stall_began"] = f"{at - t_first:.0f} s into the restarts"
        result.check(f"publishing never stalled longer than {ROLLING_STALL_BOUND:.0f} s",
                     gap <= ROLLING_STALL_BOUND, f"longest {gap:.1f} s")
        drain(ctx, run, pub, result)
    finally:
        pub.stop()
        whole_again(ctx, result)
        cluster.forget(ctx.stack, run)


def dead_letters(ctx: Ctx, queue: str, task_id: str | None = None,
                 take: bool = False) -> list[dict]:
    """Headers of the messages in ``queue``; with ``take``, acknowledges ``task_id``'s."""
    found = []
    with Connection(ctx.amqp_url, connect_timeout=10) as conn:
        channel = conn.channel()
        while True:
            msg = channel.basic_get(queue, no_ack=False)
            if msg is None:
                break
            headers = msg.properties.get("application_headers") or {}
            found.append(headers)
            if take and headers.get("id") == task_id:
                channel.basic_ack(msg.delivery_tag)
        # Everything not acknowledged goes back when the channel closes.
        channel.close()
    return found


def poison_task(ctx: Ctx, result: Result, queue: str = "bulk") -> None:
    """7. A task that always kills its worker ends in the dead-letter queue."""
    spec = next(q for q in ctx.topology.queues if q.name == queue)
    dlq = spec.dead_letter_queue
    service = f"worker-{queue}"
    program = program_of(ctx, service)
    result.facts.update(queue=queue, delivery_limit=spec.delivery_limit, dead_letter_queue=dlq)
    wait_whole(ctx)
    run = ctx.new_run("poison")
    before = cluster.depth(ctx.stack, [dlq]).get(dlq, 0)
    main = cluster.programs(ctx.stack, service)[program].pid
    tid = ""
    try:
        tid = send_one(ctx, POISON_TASK, run, queue)
        t0 = now()
        cluster.wait_for(f"the poison task in {dlq}",
                         lambda: cluster.depth(ctx.stack, [dlq]).get(dlq, 0) > before, 300)
        result.recovery["dead_lettered_after"] = now() - t0
        deliveries = int(cluster.ledger_hash(ctx.stack, run, "poison").get(tid, 0))
        result.facts["deliveries"] = deliveries
        result.check(f"dead-lettered after at most delivery_limit + 1 = {spec.delivery_limit + 1}"
                     " deliveries (no endless loop)",
                     2 <= deliveries <= spec.delivery_limit + 1, f"{deliveries} deliveries")
        headers = dead_letters(ctx, dlq, tid, take=True)
        ours = [h for h in headers if h.get("id") == tid]
        reason = str(ours[0].get("x-first-death-reason", "")) if ours else ""
        result.check(f"the message in {dlq} is this task, dead-lettered for its delivery limit",
                     bool(ours) and reason == "delivery_limit", f"reason {reason or 'none'}")
        # Queue statistics lag behind the acknowledgement by a few seconds.
        want = {queue: 0, dlq: before}
        try:
            cluster.wait_for(f"{queue} empty and {dlq} at {before}",
                             lambda: cluster.depth(ctx.stack, [queue, dlq]) == want, 60)
            result.check(f"{queue} empty, {dlq} back to its earlier depth", True)
        except AssertionError as exc:
            result.check(f"{queue} empty, {dlq} back to its earlier depth", False, str(exc))
        ctx.stack.wait_healthy(service, 120)
        p = cluster.programs(ctx.stack, service)[program]
        result.check(f"{service} healthy, main process never restarted",
                     p.pid == main and p.state == "RUNNING", f"pid {main} -> {p.pid}")
        pub = publish_all(ctx, run, [(queue, 0.0)] * 5)
        drain(ctx, run, pub, result)
        result.check(f"{service} still executes tasks after the poison", result.counts is not None
                     and result.counts["lost"] == 0)
    finally:
        if tid:
            # Leave the stack as found: never a poison message left anywhere.
            dead_letters(ctx, dlq, tid, take=True)
        whole_again(ctx, result)
        cluster.forget(ctx.stack, run)


# Titles in issue order; run.py maps numbers to these functions.
TITLES = {
    1: "Broker node killed under load",
    2: "Worker process killed mid-task",
    3: "Hung worker (SIGSTOP) restarted by the watchdog",
    4: "Redis restart keeps stored results",
    5: "Partition: one node cut off for 30 s",
    6: "Rolling restart of the 3 RabbitMQ nodes under load",
    7: "Poison task dead-lettered",
}
