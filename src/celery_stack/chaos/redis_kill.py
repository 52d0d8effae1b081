"""Scenario 4: ``docker kill`` Redis (a crash, not a graceful restart), then start it.

A long-lived client process (in the beat container, the app's own producer
and result settings) loops: send a ``stored`` task, wait for its result. The
default fleet's worker runs it, counts it in the ledger and stores the result.
Both sides must recover in the same processes within a bound derived from the
rendered Celery settings, and every task whose publish returned must have run
(the ledger, written once Redis is back, says so).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
import uuid

from ..derive import celery_settings
from . import checks, cluster
from .ledger import reconcile
from .report import Result

STORED_TASK = "celery_stack.chaos.tasks.stored"
# The client's get() timeout and its pause between round trips (both enter the bound).
GET_TIMEOUT = 10.0
PAUSE = 0.5
# Redis stays dead this long: every client call in the window must hit the outage.
OUTAGE = 5.0
# appendfsync everysec: a write is on disk within 1 s, so results stored over
# 2 s before the kill must survive it.
FSYNC_WINDOW = 2.0
GOOD_AFTER = 5  # consecutive good round trips that end the measurement

CLIENT = """
import json, os, sys, threading, time, uuid
from celery_stack.demo.app import app
run, get_timeout, pause = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
attempted, sent = [], []
while not stop.is_set():
    t, value, tid = time.time(), uuid.uuid4().hex, str(uuid.uuid4())
    line = {"t": t, "pid": os.getpid(), "id": tid}
    attempted.append(tid)
    try:
        r = app.send_task("NAME", args=[value, run], queue="default", task_id=tid,
                          ignore_result=False)
        sent.append(tid)  # confirm_publish: a returned send is confirmed
        line["ok"] = r.get(timeout=get_timeout) == value
    except Exception as exc:
        line["ok"], line["error"] = False, f"{type(exc).__name__}: {exc}"[:200]
    line["took"] = time.time() - t
    print(json.dumps(line), flush=True)
    stop.wait(pause)
print(json.dumps({"attempted": attempted, "sent": sent, "pid": os.getpid()}), flush=True)
app.close()
""".replace("NAME", STORED_TASK)


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


def in_beat(ctx, code: str, arg: str) -> object:
    proc = ctx.stack.exec("beat", "python", "-c", code, arg, timeout=240)
    if proc.returncode != 0:
        raise AssertionError(f"python in beat: {cluster.show(proc)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class Client:
    """The client process: its JSON lines as they arrive; stdin's EOF stops it."""

    def __init__(self, container: str, run: str):
        self.proc = subprocess.Popen(  # noqa: S603 (fixed docker argv)
            ["docker", "exec", "-i", container, "python", "-c", CLIENT, run,  # noqa: S607
             str(GET_TIMEOUT), str(PAUSE)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[dict] = []
        self.summary: dict = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self.proc.stdout:  # type: ignore[union-attr]
            with contextlib.suppress(ValueError):
                item = json.loads(raw)
                if "sent" in item:
                    self.summary = item
                else:
                    self.lines.append(item)

    def stop(self, timeout: float) -> int | None:
        with contextlib.suppress(OSError):
            self.proc.stdin.close()  # type: ignore[union-attr]
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None
        self._reader.join(10)
        return self.proc.returncode


def recovered_at(lines: list[dict], after: float, good: int = GOOD_AFTER) -> float | None:
    """End time of the first good round trip started after ``after`` from which every
    later one is good too (at least ``good`` of them); None before that (pure)."""
    later = [x for x in lines if x["t"] > after]
    for i, x in enumerate(later):
        rest = later[i:]
        if len(rest) >= good and all(y["ok"] for y in rest):
            return x["t"] + x["took"]
    return None


def redis_killed(ctx, result: Result, count: int = 50) -> None:
    from .scenarios import pids, wait_whole, whole_again

    settings = celery_settings.build(ctx.topology, {"CELERY_STACK_BROKER_URL": ctx.amqp_url})
    socket_timeout = float(settings["redis_socket_timeout"])
    # Derived: see checks.redis_recovery_bound (rendered redis_socket_timeout + the
    # client's get timeout + its pause).
    bound = checks.redis_recovery_bound(socket_timeout, GET_TIMEOUT, PAUSE)
    result.facts.update(redis_socket_timeout=f"{socket_timeout:.0f} s",
                        client_get_timeout=f"{GET_TIMEOUT:.0f} s", outage=f"{OUTAGE:.0f} s",
                        recovery_bound=f"{bound:.1f} s after Redis answers again")
    wait_whole(ctx)
    run = ctx.new_run("redis-kill")
    try:
        values = [uuid.uuid4().hex for _ in range(count)]
        stored = {tid: v for tid, v in in_beat(ctx, STORE, json.dumps(values))}  # type: ignore[misc]
        result.check(f"{count} results stored before the kill",
                     sorted(stored.values()) == sorted(values))
        time.sleep(FSYNC_WINDOW)
        before = pids(ctx)
        client = Client(ctx.stack.container("beat"), run)
        t_kill, t_start, t_ready, code = _inject(ctx, result, client, bound)
        _judge(result, client, code, (t_kill, t_start, t_ready), bound)
        after = pids(ctx)
        # A service another scenario disturbs beside this one (scenario 3's) is skipped.
        restarted = sorted(f"{s}/{n}" for s in before if s not in ctx.disturbed
                           for n, p in before[s].items() if after.get(s, {}).get(n) != p)
        result.check("no worker process restarted"
                     + (f" (skipping {sorted(ctx.disturbed)})" if ctx.disturbed else ""),
                     not restarted, ", ".join(restarted))
        _count(ctx, result, run, client.summary)
        read = in_beat(ctx, READ, json.dumps(list(stored)))
        readable = sum(1 for tid, v in stored.items()
                       if read.get(tid) == ["SUCCESS", v])  # type: ignore[union-attr]
        result.check(f"results stored {FSYNC_WINDOW:.0f} s before the kill survived it "
                     f"({readable}/{count})", readable == count)
    finally:
        whole_again(ctx, result)
        cluster.forget(ctx.stack, run)


def _docker(*args: str, check: bool = True) -> int:
    return subprocess.run(["docker", *args], capture_output=True, timeout=60,  # noqa: S603,S607
                          check=check).returncode


def _inject(ctx, result: Result, client: Client, bound: float,
            ) -> tuple[float, float, float, int | None]:
    """Kill Redis under the client's loop, start it; (kill, start, ready times, client exit)."""
    redis = ctx.stack.container("redis")
    killed = False
    try:
        cluster.wait_for("3 good round trips before the kill",
                         lambda: sum(x["ok"] for x in client.lines) >= 3, 60, every=0.5)
        _docker("kill", redis)
        t_kill, killed = time.time(), True
        ctx.say("  redis killed (docker kill)")
        time.sleep(OUTAGE)
        t_start = time.time()
        _docker("start", redis)
        killed = False
        cluster.wait_for("redis answers again",
                         lambda: _docker("exec", redis, "redis-health", check=False) == 0,
                         60, every=0.5)
        t_ready = time.time()
        result.recovery["redis_answers_after_start"] = t_ready - t_start
        ctx.say(f"  redis answers {t_ready - t_start:.1f} s after docker start")
        cluster.wait_for(f"{GOOD_AFTER} good round trips in a row after the kill",
                         lambda: recovered_at(client.lines, t_kill) is not None,
                         bound + GET_TIMEOUT + 60, every=0.5)
    finally:
        code = client.stop(GET_TIMEOUT + 30)
        if killed:
            _docker("start", redis, check=False)
    return t_kill, t_start, t_ready, code


def _judge(result: Result, client: Client, code: int | None,
           times: tuple[float, float, float], bound: float) -> None:
    t_kill, t_start, t_ready = times
    lines = client.lines
    back = recovered_at(lines, t_kill)
    # The kill took effect: the client was busy while Redis was dead (kill .. docker
    # start) and no round trip succeeded entirely inside that (one blocked in get()
    # may span it and succeed after).
    across = [x for x in lines if x["t"] <= t_start and x["t"] + x["took"] >= t_kill]
    inside_ok = [x for x in across if x["ok"] and x["t"] >= t_kill
                 and x["t"] + x["took"] <= t_start]
    result.check("the kill took effect: no round trip succeeded while Redis was away",
                 bool(across) and not inside_ok,
                 f"{len(across)} round trips across the outage, "
                 f"{sum(not x['ok'] for x in across)} failed, {len(inside_ok)} succeeded inside")
    took = (back - t_ready) if back is not None else float("inf")
    result.recovery["client_and_worker_back_after_redis_answers"] = max(0.0, took)
    result.recovery["client_and_worker_back_after_kill"] = (back or t_kill) - t_kill
    result.check(f"client reading and worker storing results recovered within {bound:.1f} s "
                 "of Redis answering", took <= bound, f"{took:.1f} s")
    pids_seen = {x["pid"] for x in lines}
    result.check("one client process throughout (no restart), exited cleanly",
                 len(pids_seen) == 1 and code == 0 and bool(client.summary),
                 f"pids {sorted(pids_seen)}, exit {code}")


def _count(ctx, result: Result, run: str, summary: dict) -> None:
    """Reconcile what the client's publishes returned with the ledger the worker wrote."""
    sent, attempted = set(summary.get("sent", [])), set(summary.get("attempted", []))
    with contextlib.suppress(AssertionError):
        cluster.wait_for("every sent task in the ledger",
                         lambda: sent <= set(cluster.ledger_runs(ctx.stack, run)), 120, every=2)
    runs = cluster.ledger_runs(ctx.stack, run)
    counts = reconcile(sent, runs)
    result.counts = counts.as_dict()
    result.check(f"every task whose publish returned executed ({counts.executed}/{counts.sent})",
                 counts.lost == 0 and counts.sent > 0, ", ".join(counts.lost_ids))
    stray = checks.unconfirmed_beyond_attempts({t for t, n in runs.items() if n} - sent,
                                               attempted, sent)
    result.check("no execution of a task the client never attempted", not stray,
                 ", ".join(sorted(stray)[:5]))
