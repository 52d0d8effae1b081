"""HAProxy routes AMQP: a client that knows only the lb host works, with one broker down too.

Runs last (phase 4): it stops brokers. The client is `celery-stack smoke` on
the worker host with the host's settings, except CELERY_STACK_BROKER_HOSTS,
which names the HAProxy host alone (the installed setting also lists every
node as failover). The module's fixture starts every broker again, one at a
time, and waits for the whole cluster, whatever the tests did.
"""

import json
import shlex
import time

import pytest
from fleet_diag import failed_queues, print_failing_fleets
from haproxy_stat import WATCH_DOWN, check_timing, python, servers
from infra import first, group, host_of
from watchdog_host import PASS_START_S, cron_settings, program_setting

from celery_stack.topology import load

pytestmark = pytest.mark.phase(4)
testinfra_hosts = [first("celery_workers")]
TOPOLOGY = load(None)
LB = first("haproxy")
BROKERS = group("rabbitmq")
# Seconds a node may take to stop or start (systemd waits for it); a timeout, not a claim.
NODE_TIMEOUT = 180


def smoke(worker, broker_hosts: str | None, timeout: int = 60, diagnose: bool = True):
    """`celery-stack smoke` with the host's environment, optionally another broker list.

    A failed smoke prints the failing fleets' state and logs (fleet_diag) unless
    ``diagnose`` is off (a failure the test expects).
    """
    override = f"CELERY_STACK_BROKER_HOSTS={shlex.quote(broker_hosts)}; " if broker_hosts else ""
    # The smoke gives up after `timeout` s; `timeout` kills it only if it hangs past that.
    result = worker.run("set -a; . /etc/celery-stack/env; " + override + "set +a; "
                        f"timeout {timeout + 60} /opt/celery-stack/venv/bin/celery-stack smoke "
                        f"--timeout {timeout}")
    if result.rc != 0 and diagnose:
        print_failing_fleets(worker, result.stderr)
    return result


def delayed_delivery_retries(worker) -> int:
    """Lines of Celery's delayed-delivery retry in every fleet log of the worker host."""
    logs = "/var/log/celery-stack/celery-*.log"
    result = worker.run(f"cat {logs} | grep -ac 'Retrying delayed delivery'")
    assert result.rc in (0, 1), result.stderr  # grep: 1 = no line
    return int(result.stdout.strip() or 0)


def lb_only() -> str:
    return f"{LB}:5672"


def running_nodes(broker) -> set[str]:
    result = broker.run("rabbitmqctl -q cluster_status --formatter json")
    if result.rc != 0:
        return set()
    return {n.split("@", 1)[1] for n in json.loads(result.stdout)["running_nodes"]}


def wait(what: str, predicate, timeout: float, every: float = 2.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(every)


def start_again(order: list[str]) -> None:
    """Start the stopped brokers together, then wait for the whole cluster."""
    # After a full stop each node waits for its peers while it boots (RabbitMQ's
    # guidance: start them at the same time). One at a time, 3.10 (bookworm) hit
    # systemd's start timeout waiting for a node not yet started.
    names = list(order)
    order.clear()
    for name in names:
        result = host_of(name).run("systemctl start --no-block rabbitmq-server")
        assert result.rc == 0, f"{name}: {result.stdout}{result.stderr}"

    def active(name: str) -> bool:
        state = host_of(name).run("systemctl is-active rabbitmq-server").stdout.strip()
        assert state != "failed", f"{name}: rabbitmq-server failed to start"
        return state == "active"
    for name in names:
        wait(f"{name}'s broker to start", lambda n=name: active(n), NODE_TIMEOUT)
    broker = host_of(BROKERS[0])
    wait("every broker running in one cluster", lambda: running_nodes(broker) == set(BROKERS),
         NODE_TIMEOUT)


@pytest.fixture(scope="module")
def stopped():
    """Brokers this module stopped, in order; started again at the end whatever happened."""
    order: list[str] = []
    yield order
    start_again(order)


def stop(name: str, order: list[str]) -> None:
    """Stop the broker on ``name``."""
    order.append(name)
    result = host_of(name).run("systemctl stop rabbitmq-server")
    assert result.rc == 0, result.stderr


def test_a_client_knowing_only_haproxy_gets_every_queue_served(host):
    result = smoke(host, lb_only())
    assert result.rc == 0, result.stdout + result.stderr
    for queue in TOPOLOGY.queues:
        row = next(x for x in result.stdout.splitlines() if x.startswith(queue.name))
        assert row.rstrip().endswith("ok"), row


def gevent_consumer_node(worker) -> str:
    """The broker whose connection carries the gevent fleet's task consumer.

    Stopping that one forces the fleet that hung here before to reconnect
    (its connection lands on any node through HAProxy); the last broker when
    no gevent fleet consumes.
    """
    queues = {q for f in TOPOLOGY.fleets if f.pool == "gevent" for q in f.queues}
    # The vhost the worker host's fleets use (their installed settings).
    vhost = worker.run(". /etc/celery-stack/env; echo \"$CELERY_STACK_BROKER_VHOST\"")
    vhost = vhost.stdout.strip()
    result = host_of(BROKERS[0]).run("rabbitmqctl -q list_consumers -p "
                                     f"{shlex.quote(vhost or '/')} queue_name channel_pid")
    assert result.rc == 0, result.stderr
    for line in result.stdout.splitlines():
        name, _, pid = line.partition("\t")
        node = pid.strip("<>").split("@", 1)[-1].split(".", 1)[0]
        if name in queues and node in BROKERS:
            return node
    return BROKERS[-1]


def test_a_stopped_broker_is_down_within_the_check_bound_and_the_client_works(host, stopped):
    lb = host_of(LB)
    victim = gevent_consumer_node(host)
    inter, fall = check_timing(lb.file("/etc/haproxy/haproxy.cfg").content_string)
    # HAProxy marks a server DOWN after `fall` failed checks `inter` apart:
    # at most fall x inter after the node stops answering.
    bound = fall * inter
    out = "/tmp/celery-stack-watch-down.json"
    lb.run(f"rm -f {out}; setsid {python(WATCH_DOWN, victim, '5672', 'rabbitmq_amqp', '120', out)}"
           " >/dev/null 2>&1 < /dev/null &")

    def watched():
        text = lb.run(f"cat {out}").stdout
        return json.loads(text) if text else None
    wait("the watcher to see the broker answer", lambda: (watched() or {}).get("last_ok"), 30, 1)
    retries_before = delayed_delivery_retries(host)
    stop(victim, stopped)
    def down_seen():
        rec = watched()
        return rec if rec and rec["down"] else None
    rec = wait(f"HAProxy to mark {victim} DOWN", down_seen, 120, 1)
    # The watcher samples every `period` s, each AMQP probe waits up to
    # `probe_timeout` s: its two times are that coarse.
    resolution = rec["period"] + rec["probe_timeout"]
    took = rec["down"] - rec["first_miss"]
    print(f"{victim} DOWN {took:.1f} s after its first missed probe (bound {bound:.1f} s)")
    assert took <= bound + resolution, (
        f"{victim} DOWN {took:.1f} s after it stopped answering; bound {bound:.1f} s "
        f"(fall {fall} x inter {inter} s) + {resolution} s sampling; misses {rec['misses']}")
    assert servers(lb)[victim].startswith("DOWN")

    result = smoke(host, lb_only())
    assert result.rc == 0, f"with {victim} down:\n{result.stdout}{result.stderr}"
    # Reconnected consumers set up delayed delivery through the first broker
    # that answers, not by retrying the stopped node (celery_stack.consumer).
    assert delayed_delivery_retries(host) == retries_before, (
        f"a fleet retried delayed-delivery setup after {victim} stopped (Celery's walk of "
        "every broker URL, 15-18 s before it consumes)")


def test_with_every_broker_down_the_client_fails(host, stopped):
    lb = host_of(LB)
    for name in BROKERS:
        if name not in stopped:
            stop(name, stopped)
    wait("HAProxy to mark every broker DOWN",
         lambda: all(s.startswith("DOWN") for s in servers(lb).values()), 60, 1)
    result = smoke(host, lb_only(), timeout=30, diagnose=False)
    out = result.stdout + result.stderr
    assert result.rc != 0, f"smoke passed with every broker down:\n{out}"
    # It must fail, not hang until `timeout` kills it (exit status 124).
    assert result.rc != 124, f"smoke hung with every broker down:\n{out}"


def test_the_cluster_is_whole_again(host, stopped):
    start_again(stopped)
    lb = host_of(LB)
    wait("HAProxy to mark every broker UP",
         lambda: all(s == "UP" for s in servers(lb).values()), 60, 1)
    up = time.time()
    # The installed settings again: every fleet reconnected by itself.
    result = smoke(host, None, timeout=90)
    if result.rc == 0:
        return
    # Known limit (README): after every broker was down, a gevent fleet's
    # consumer can still hang in its reconnect (1 of 3 runs on 2026-12-07, after
    # the connect-timeout fix); the watchdog must then restart it within its
    # bound. Any other fleet failing, or the watchdog missing its bound, fails.
    failed = failed_queues(result.stderr)
    green = {q: f for f in TOPOLOGY.fleets if f.pool in ("gevent", "eventlet") for q in f.queues}
    programs = {green[q].program for q in failed if q in green}
    assert failed and failed <= set(green), result.stdout + result.stderr
    settings = cron_settings(host)
    # Silent since the outage, so decided at most interval + threshold (+ the
    # pass's late start) after every broker was UP again; then Supervisor's
    # stop wait and start time of the slowest of those fleets.
    slowest = max(programs, key=lambda p: program_setting(host, p, "stopwaitsecs"))
    bound = (settings["interval"] + settings["threshold"] + PASS_START_S
             + program_setting(host, slowest, "stopwaitsecs")
             + program_setting(host, slowest, "startsecs"))
    while result.rc != 0 and time.time() < up + bound:
        result = smoke(host, None, timeout=30)
    took = time.time() - up
    assert result.rc == 0, (f"{sorted(failed)} still not served {took:.0f} s after every "
                            f"broker was UP (watchdog bound {bound:.0f} s):\n"
                            f"{result.stdout}{result.stderr}")
    print(f"{sorted(failed)} served again {took:.0f} s after every broker was UP "
          f"(watchdog bound {bound:.0f} s)")
