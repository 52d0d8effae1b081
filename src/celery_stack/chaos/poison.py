"""Scenario 7: a task that always kills its worker ends in the dead-letter queue."""

from __future__ import annotations

from kombu import Connection

from . import cluster
from .report import Result
from .scenarios import (
    POISON_TASK,
    Ctx,
    drain,
    now,
    program_of,
    publish_all,
    send_one,
    wait_whole,
    whole_again,
)


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
        try:
            cluster.wait_for(f"the poison task in {dlq}",
                             lambda: cluster.depth(ctx.stack, [dlq]).get(dlq, 0) > before, 300)
        except AssertionError as exc:
            # Say where it is stuck: redelivery (worker side) or the move (broker side).
            seen = cluster.ledger_hash(ctx.stack, run, "poison").get(tid, 0)
            movers = cluster.dlx_workers(ctx.stack, queue) or "no node"
            raise AssertionError(
                f"{exc}; {seen} deliveries seen; {cluster.queue_report(ctx.stack, [queue, dlq])};"
                f" dead-letter worker of {queue} on {movers}") from None
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
