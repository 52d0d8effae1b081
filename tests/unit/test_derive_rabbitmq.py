"""RabbitMQ definitions: policies by version, dead-lettering, agreement with Celery."""

from __future__ import annotations

import re

import pytest

from celery_stack.derive import celery_settings, rabbitmq
from celery_stack.topology import load

ENV = {"CELERY_STACK_BROKER_HOSTS": "rabbit:5672", "CELERY_STACK_BROKER_USER": "app",
       "CELERY_STACK_BROKER_PASSWORD": "pw"}


def policies_for(defs: dict, queue: str) -> list[dict]:
    """Policies whose pattern matches ``queue``, as RabbitMQ matches them (regex search)."""
    return [p for p in defs["policies"] if p["apply-to"] in ("queues", "all")
            and re.search(p["pattern"], queue)]


def effective_policy(defs: dict, queue: str) -> dict:
    """RabbitMQ applies only the highest-priority matching policy."""
    matching = policies_for(defs, queue)
    assert matching, f"no policy applies to {queue}"
    top = max(p["priority"] for p in matching)
    best = [p for p in matching if p["priority"] == top]
    assert len(best) == 1, f"{queue}: policies tie at priority {top}: {best}"
    return best[0]["definition"]


@pytest.fixture(scope="module")
def topology():
    return load(None)


@pytest.fixture(scope="module")
def defs(topology):
    assert topology.broker.rabbitmq_version == "4.0"
    return rabbitmq.definitions(topology)


@pytest.fixture
def mirrored(base, build):
    base["broker"].update(rabbitmq_version="3.10", ha="mirrored", mirror_count=2)
    base["queues"].append({"name": "legacy", "type": "classic"})
    base["fleets"].append({"name": "legacy", "queues": ["legacy"]})
    return build(base)


def test_4_0_quorum_policy_per_queue(default_raw, defs):
    exchanges = {e["name"] for e in defs["exchanges"]}
    for raw in default_raw["queues"]:
        policy = effective_policy(defs, raw["name"])
        assert policy["delivery-limit"] == raw["delivery_limit"]
        assert policy["dead-letter-exchange"] in exchanges
        assert not [k for k in policy if k.startswith("ha-")]
        if "max_length" in raw:
            assert policy["max-length"] == raw["max_length"]


def test_no_policy_ever_matches_a_neighbour(topology, defs):
    # Patterns are anchored: "bulk" must not also match "bulk.dlq" or "bulky".
    declared = [q["name"] for q in defs["queues"]]
    for name in declared:
        owners = [p["name"] for p in policies_for(defs, name)]
        expected = 1 if name in {q.name for q in topology.queues} else 0
        assert len(owners) == expected, (name, owners)


def test_no_ha_keys_anywhere_on_4_x(defs):
    for p in defs["policies"]:
        assert not [k for k in p["definition"] if k.startswith("ha-")]


def test_3_10_mirrors_the_classic_queue_only(mirrored):
    defs = rabbitmq.definitions(mirrored)
    legacy = effective_policy(defs, "legacy")
    assert legacy["ha-mode"] == "exactly"
    assert legacy["ha-params"] == 2
    for q in mirrored.queues:
        if q.type == "quorum":
            policy = effective_policy(defs, q.name)
            assert not [k for k in policy if k.startswith("ha-")], q.name
            assert policy["delivery-limit"] == q.delivery_limit


def test_3_10_policies_use_no_4_x_only_keys(mirrored):
    # queue-leader-locator arrived in 3.11; 3.10 rejects unknown policy keys.
    for p in rabbitmq.definitions(mirrored)["policies"]:
        assert "queue-leader-locator" not in p["definition"]


def test_each_dead_lettered_queue_has_a_dlq_bound_to_the_dlx(topology, defs):
    queues = {q["name"]: q for q in defs["queues"]}
    for q in topology.queues:
        assert q.dead_letter
        policy = effective_policy(defs, q.name)
        dlx, key = policy["dead-letter-exchange"], policy["dead-letter-routing-key"]
        dlq = f"{q.name}.dlq"
        assert dlq in queues
        assert queues[dlq]["durable"]
        bound = [b for b in defs["bindings"]
                 if b["source"] == dlx and b["routing_key"] == key]
        # Exactly one queue receives this queue's dead letters: its own DLQ.
        assert [b["destination"] for b in bound] == [dlq]


def test_no_dead_letter_means_no_dlq(base, build):
    for q in base["queues"]:
        q["dead_letter"] = False
    defs = rabbitmq.definitions(build(base))
    assert not [q for q in defs["queues"] if q["name"].endswith(".dlq")]
    assert [e["name"] for e in defs["exchanges"]] == [celery_settings.TASK_EXCHANGE]
    for p in defs["policies"]:
        assert "dead-letter-exchange" not in p["definition"]


def test_task_queues_bound_to_the_exchange_celery_publishes_to(topology, defs):
    settings = celery_settings.build(topology, ENV)
    for q in settings["task_queues"]:
        binding = [b for b in defs["bindings"] if b["destination"] == q.name]
        assert len(binding) == 1
        assert binding[0]["source"] == q.exchange.name
        assert binding[0]["routing_key"] == q.routing_key


@pytest.mark.parametrize("version", ["4.0", "3.10"])
def test_declared_arguments_equal_what_celery_declares(base, build, version):
    # A redeclare with different arguments fails with PRECONDITION_FAILED.
    base["broker"]["rabbitmq_version"] = version
    base["queues"][1]["type"] = "classic"
    topology = build(base)
    declared = {q["name"]: q["arguments"] for q in rabbitmq.definitions(topology)["queues"]}
    for q in celery_settings.build(topology, ENV)["task_queues"]:
        assert declared[q.name] == q.queue_arguments


def test_vhost_everywhere(topology):
    defs = rabbitmq.definitions(topology, vhost="media")
    for kind in ("exchanges", "queues", "bindings", "policies"):
        assert {item["vhost"] for item in defs[kind]} == {"media"}, kind


def test_dlq_keeps_the_ha_of_its_queue(mirrored):
    # A dead-lettered task must not lose the HA its queue had.
    defs = rabbitmq.definitions(mirrored)
    declared = {q["name"]: q for q in defs["queues"]}
    for q in mirrored.queues:
        dlq = declared[q.dead_letter_queue]
        if q.type == "quorum":
            assert dlq["arguments"]["x-queue-type"] == "quorum"
        else:
            assert effective_policy(defs, q.dead_letter_queue)["ha-mode"] == "exactly"
