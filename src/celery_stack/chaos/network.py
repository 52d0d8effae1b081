"""Scenarios 5 (a network cut of one node) and 6 (rolling restart), both under paced load."""

from __future__ import annotations

import json
import time

from . import cluster, haproxy
from .ledger import CONFIRM_TIMEOUT, PRODUCER_CONNECT_TIMEOUT, RECONNECT_PAUSE
from .report import Result
from .scenarios import (
    LOAD_WEIGHTS,
    REJOIN_TIMEOUT,
    Ctx,
    docker,
    drain,
    load_plan,
    now,
    publish,
    wait_whole,
    whole_again,
)

PARTITION_SECONDS = 30
# Reconnecting publisher: a failed connect gives up after the producer's connect
# timeout, then pauses before the next attempt.
RECONNECT = PRODUCER_CONNECT_TIMEOUT + RECONNECT_PAUSE


def network_name(ctx: Ctx, network: str = "back") -> str:
    return f"{ctx.stack.project}_{network}"


def partition_stall_bound(cut: float) -> float:
    """Longest publish stall a cut of ``cut`` s may cause: shorter than net_ticktime, the
    cut elects no new leader, so confirms for queues the cut node leads wait for the heal;
    a batch gives up waiting after CONFIRM_TIMEOUT and is re-sent after one reconnect."""
    return cut + CONFIRM_TIMEOUT + RECONNECT


def partition(ctx: Ctx, result: Result, rate: float = 80.0) -> None:
    """5. Cut one node off the back network for 30 s, reconnect; 0 lost, 3 nodes again."""
    wait_whole(ctx)
    hap = haproxy.checks(ctx.stack)
    states = cluster.queues(ctx.stack)
    leaders = [states[q].leader for q in LOAD_WEIGHTS]
    victim = cluster.service_of_node(max(set(leaders), key=leaders.count))
    container = ctx.stack.container(victim)
    net = network_name(ctx)
    aliases = json.loads(docker("inspect", "-f", "{{json .NetworkSettings.Networks}}",
                                container).stdout)[net].get("Aliases") or [victim]
    alias_args = [x for a in aliases if a != container[:12] for x in ("--alias", a)]
    stall_bound = partition_stall_bound(PARTITION_SECONDS)
    result.facts.update(victim=f"{victim} (leads {leaders.count(f'rabbit@{victim}')} of "
                               f"{len(leaders)} task queues)",
                        cut_for=f"{PARTITION_SECONDS} s", load=f"{rate:.0f} tasks/s",
                        haproxy_down_bound=f"{hap.down_bound:.0f} s",
                        stall_bound=f"{stall_bound:.1f} s")
    run = ctx.new_run("partition")
    pub = publish(ctx, run, load_plan(int(rate * (PARTITION_SECONDS + 240))), rate=rate)
    cut = False
    try:
        time.sleep(10)
        # The fault starts when the cut is issued, not when `docker` returns.
        t_cut = now()
        docker("network", "disconnect", net, container)
        cut = True
        ctx.say(f"  {victim} disconnected from {net}")
        # The cut took effect: HAProxy, on the same network, sees the node fail its checks
        # (DOWN) or its name stop resolving there (MAINT, resolution).
        down = haproxy.wait_status(ctx.stack, victim, ("DOWN", "MAINT"), PARTITION_SECONDS)
        result.recovery["haproxy_saw_node_down"] = down if down is not None else -1.0
        result.check(f"the cut took effect: HAProxy marked {victim} DOWN/MAINT within "
                     f"{hap.down_bound:.0f} s (fall x (inter + timeout check))",
                     down is not None and down <= hap.down_bound + haproxy.RESOLUTION,
                     "never" if down is None else f"{down:.1f} s")
        peer = next(n for n in cluster.NODES if n != victim)
        result.facts["rabbitmq_saw_it_during_the_cut"] = (
            len(cluster.running_nodes(ctx.stack, peer)) < len(cluster.NODES)
            or bool(cluster.partitions(ctx.stack, peer)))
        time.sleep(max(0.0, PARTITION_SECONDS - (now() - t_cut)))
        docker("network", "connect", *alias_args, net, container)
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
        result.check(f"publishing never stalled longer than {stall_bound:.1f} s "
                     "(cut + confirm timeout + one reconnect)", gap <= stall_bound,
                     f"longest {gap:.1f} s")
        drain(ctx, run, pub, result,
              fault=(t_cut, t_back + CONFIRM_TIMEOUT + RECONNECT))
    finally:
        pub.stop()
        if cut:
            docker("network", "connect", *alias_args, net, container)
        whole_again(ctx, result)
        cluster.forget(ctx.stack, run)


def rolling_stall_bound(down_bound: float) -> float:
    """Longest publish stall while one node restarts gracefully: it closes its client
    connections (the publisher reconnects) and hands its queues' leadership over before
    it stops; a connection HAProxy still routes to it fails until HAProxy marks it down."""
    return down_bound + RECONNECT


def rolling_restart(ctx: Ctx, result: Result, rate: float = 40.0) -> None:
    """6. Restart rabbit1..3 one at a time under load; measure the longest publish stall."""
    wait_whole(ctx)
    bound = rolling_stall_bound(haproxy.checks(ctx.stack).down_bound)
    run = ctx.new_run("rolling")
    pub = publish(ctx, run, load_plan(int(rate * 1500)), rate=rate)
    result.facts.update(load=f"{rate:.0f} tasks/s", stall_bound=f"{bound:.1f} s")
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
        t_last = now()
        time.sleep(10)
        pub.stop()
        pub.join(60)
        gap, at = pub.stall(t_first)
        result.recovery["longest_publish_stall"] = gap
        result.facts["longest_stall_began"] = f"{at - t_first:.0f} s into the restarts"
        result.check(f"publishing never stalled longer than {bound:.1f} s "
                     "(HAProxy down bound + one reconnect)", gap <= bound,
                     f"longest {gap:.1f} s")
        drain(ctx, run, pub, result, fault=(t_first, t_last + CONFIRM_TIMEOUT + RECONNECT))
    finally:
        pub.stop()
        whole_again(ctx, result)
        cluster.forget(ctx.stack, run)
