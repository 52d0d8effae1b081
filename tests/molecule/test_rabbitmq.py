"""RabbitMQ: one cluster of every broker host, topology policies, quorum queues, no guest."""

import json
import os

import pytest
import testinfra.utils.ansible_runner

from celery_stack.topology import load

RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
testinfra_hosts = RUNNER.get_hosts("rabbitmq")
BROKERS = RUNNER.get_hosts("rabbitmq")
TOPOLOGY = load(None)
VHOST = "celery"


def ctl(host, args):
    result = host.run(f"rabbitmqctl -q {args}")
    assert result.rc == 0, result.stderr
    return result.stdout


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


@pytest.mark.parametrize("queue", TOPOLOGY.queues, ids=lambda q: q.name)
def test_topology_policy_applies_to_each_queue(host, queue):
    policies = json.loads(ctl(host, f"list_policies -p {VHOST} --formatter json"))
    policy = next(p for p in policies if p["name"] == f"celery-stack.{queue.name}")
    definition = policy["definition"]
    if isinstance(definition, str):
        definition = json.loads(definition)
    assert definition["delivery-limit"] == queue.delivery_limit
    assert not any(key.startswith("ha-") for key in definition)


@pytest.mark.parametrize("queue", TOPOLOGY.queues, ids=lambda q: q.name)
def test_task_queues_really_are_quorum_queues(host, queue):
    queues = json.loads(ctl(host, f"list_queues -p {VHOST} name type --formatter json"))
    types = {q["name"]: q["type"] for q in queues}
    assert types[queue.name] == "quorum"


def test_open_files_limit_configured(host):
    unit = host.run("systemctl cat rabbitmq-server").stdout
    assert "LimitNOFILE=65536" in unit
