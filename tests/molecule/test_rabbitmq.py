"""RabbitMQ: one cluster of every broker host, policies, replicated quorum queues, no guest.

The broker hosts are identical: per-host checks run on the first one, and
cluster-wide objects (membership, users, policies, queues) are read once.
"""

import json

import pytest
from infra import configured, first, group, open_files_limits

from celery_stack.topology import load

testinfra_hosts = [first("rabbitmq")]
BROKERS = group("rabbitmq")
TOPOLOGY = load(None)
VHOST = "celery"


def ctl(host, args):
    result = host.run(f"rabbitmqctl -q {args}")
    assert result.rc == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def queues(host):
    """Every queue of the vhost with its type and members, read once for the cluster."""
    rows = json.loads(ctl(host, f"list_queues -p {VHOST} name type members online "
                                "--formatter json"))
    return {q["name"]: q for q in rows}


def test_every_broker_runs_in_one_cluster(host):
    status = json.loads(ctl(host, "cluster_status --formatter json"))
    running = {n.split("@", 1)[1] for n in status["running_nodes"]}
    assert running == set(BROKERS)


def test_cookie_is_private_to_rabbitmq(host):
    cookie = host.file("/var/lib/rabbitmq/.erlang.cookie")
    assert cookie.user == "rabbitmq" and cookie.mode == 0o400


def test_guest_is_absent_and_cannot_log_in(host):
    users = json.loads(ctl(host, "list_users --formatter json"))
    assert "guest" not in {u["user"] for u in users}
    assert host.run("rabbitmqctl -q authenticate_user guest guest").rc != 0


def test_topology_policy_applies_to_each_queue(host):
    policies = {p["name"]: p for p in json.loads(ctl(host, f"list_policies -p {VHOST} "
                                                           "--formatter json"))}
    for queue in TOPOLOGY.queues:
        definition = policies[f"celery-stack.{queue.name}"]["definition"]
        if isinstance(definition, str):
            definition = json.loads(definition)
        assert definition["delivery-limit"] == queue.delivery_limit, queue.name
        assert not any(key.startswith("ha-") for key in definition), queue.name


def test_task_and_dead_letter_queues_are_quorum_queues(queues):
    expected = [q.name for q in TOPOLOGY.queues]
    expected += [q.dead_letter_queue for q in TOPOLOGY.queues if q.dead_letter]
    missing = [name for name in expected if name not in queues]
    assert not missing, f"queues not declared: {missing}"
    wrong = {name: queues[name]["type"] for name in expected if queues[name]["type"] != "quorum"}
    assert not wrong, f"not quorum queues: {wrong}"


def test_every_quorum_queue_has_a_member_online_on_every_broker(queues):
    # Every quorum queue of the vhost, dead-letter queues included: a member
    # on each broker, and each member online (replication really happens).
    nodes = {f"rabbit@{b}" for b in BROKERS}
    quorum = {name: q for name, q in queues.items() if q["type"] == "quorum"}
    assert quorum, "no quorum queue in the vhost"
    bad = {name: {"members": q["members"], "online": q["online"]} for name, q in quorum.items()
           if set(q["members"]) != nodes or set(q["online"]) != nodes}
    assert not bad, f"quorum queues without a live member on each of {sorted(nodes)}: {bad}"


def test_open_files_limit_is_live(host):
    # Configured in the inventory or the role default; the unit carries it.
    want = int(configured(host.backend.host, "rabbitmq", "rabbitmq_nofile_limit"))
    unit = int(host.run("systemctl show -p LimitNOFILE --value rabbitmq-server").stdout)
    assert unit == want
    soft, _hard = open_files_limits(host, int(host.run("pidof -s beam.smp").stdout))
    # The Erlang VM runs with that limit, unless this host's systemd cannot grant it
    # (PID 1's hard limit caps every service; the test hosts' is 20000).
    _, ceiling = open_files_limits(host, 1)
    assert soft == min(want, ceiling), f"unit {unit}, live {soft}, systemd's hard limit {ceiling}"
