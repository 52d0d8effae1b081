"""Every validation rule, each with one bad topology built from the valid base.

Each case mutates a deep copy of ``conftest.BASE`` in one way and expects
exactly one error (no cascade of follow-up noise) whose text starts with the
field path of the mistake and says what is wrong.
"""

from __future__ import annotations

import pytest

from celery_stack.topology import TopologyError, loads


def _set(path: str, value):
    """Mutation setting ``a.b[1].c`` (missing list items are not created)."""
    def mutate(d):
        *parents, last = _parts(path)
        node = d
        for p in parents:
            node = node[p]
        node[last] = value
    return mutate


def _del(path: str):
    def mutate(d):
        *parents, last = _parts(path)
        node = d
        for p in parents:
            node = node[p]
        del node[last]
    return mutate


def _parts(path: str) -> list:
    out: list = []
    for chunk in path.split("."):
        name, _, rest = chunk.partition("[")
        if name:
            out.append(name)
        while rest:
            index, _, rest = rest.partition("]")
            out.append(int(index))
            rest = rest.lstrip("[")
    return out


def _both(*mutations):
    def mutate(d):
        for m in mutations:
            m(d)
    return mutate


def _rename_queue(old: str, new: str):
    """Rename a queue everywhere, so only the name itself can be wrong."""
    def mutate(d):
        for q in d["queues"]:
            if q["name"] == old:
                q["name"] = new
        for f in d["fleets"]:
            f["queues"] = [new if q == old else q for q in f["queues"]]
        for r in d["routes"]:
            if r["queue"] == old:
                r["queue"] = new
    return mutate


def _append(path: str, value):
    def mutate(d):
        node = d
        for p in _parts(path):
            node = node[p]
        node.append(value)
    return mutate


TWO_BEATS = [
    {"enabled": True, "schedule": [{"name": "a", "task": "pkg.tasks.a", "every": 10}]},
    {"enabled": True, "schedule": [{"name": "b", "task": "pkg.tasks.b", "every": 10}]},
]

# (id, mutation, field path the error must start with, words the error must contain)
# The error must be the only one, unless the id is in CASCADES.
CASES = [
    # --- shape: unknown keys, types, required keys -----------------------------
    ("unknown-key-top", _set("workers", []), "workers", "unknown key"),
    ("unknown-key-fleet", _set("fleets[1].poool", "prefork"), "fleets[1].poool", "unknown key"),
    ("unknown-key-queue", _set("queues[0].durable", True), "queues[0].durable", "unknown key"),
    ("unknown-key-autoscale",
     _both(_set("queues[1].type", "classic"), _del("fleets[1].time_limit"),
           _del("fleets[1].soft_time_limit"),
           _set("fleets[1].autoscale", {"min": 1, "max": 4, "step": 2})),
     "fleets[1].autoscale.step", "unknown key"),
    ("unknown-key-beat-entry", _set("beat.schedule[0].at", "03:00"),
     "beat.schedule[0].at", "unknown key"),
    ("wrong-type-str-for-int", _set("fleets[0].concurrency", "2"),
     "fleets[0].concurrency", "integer"),
    ("wrong-type-bool-for-int", _set("fleets[1].processes", True),
     "fleets[1].processes", "integer"),
    ("wrong-type-bool-for-number", _set("monitoring.event_queue_ttl", False),
     "monitoring.event_queue_ttl", "number"),
    ("wrong-type-list-section", _set("queues", {"name": "default"}), "queues", "list"),
    ("wrong-type-float-version", _set("broker.rabbitmq_version", 4.0),
     "broker.rabbitmq_version", "string"),
    ("wrong-type-null-concurrency", _set("fleets[0].concurrency", None),
     "fleets[0].concurrency", "autoscale"),
    ("wrong-type-int-for-bool", _set("fleets[0].acks_late", 1),
     "fleets[0].acks_late", "true or false"),
    ("missing-app-module", _del("app.module"), "app.module", "required"),
    ("missing-fleet-queues", _del("fleets[0].queues"), "fleets[0].queues", "required"),
    ("missing-fleet-name", _del("fleets[1].name"), "fleets[1].name", "required"),
    ("missing-beat-task", _del("beat.schedule[0].task"), "beat.schedule[0].task", "required"),
    ("missing-autoscale-max",
     _both(_set("queues[1].type", "classic"), _set("fleets[1].autoscale", {"min": 1})),
     "fleets[1].autoscale.max", "required"),
    # --- names ----------------------------------------------------------------
    ("duplicate-queue", _append("queues", {"name": "bulk"}), "queues", "duplicate queue"),
    ("duplicate-fleet", _append("fleets", {"name": "bulk", "queues": ["bulk"]}),
     "fleets", "duplicate fleet"),
    ("fleet-unknown-queue", _append("fleets[1].queues", "bluk"),
     "fleets[1].queues[1]", "unknown queue 'bluk'"),
    ("queue-not-consumed", _append("queues", {"name": "orphan"}),
     "queues[2].name", "no fleet consumes"),
    ("queue-name-amq-prefix", _rename_queue("bulk", "amq.bulk"), "queues[1].name", "amq."),
    ("queue-name-space", _rename_queue("bulk", "bulk work"), "queues[1].name", "RabbitMQ"),
    ("queue-name-leading-dot", _rename_queue("bulk", ".bulk"), "queues[1].name", "RabbitMQ"),
    ("queue-name-clashes-with-dlq", _both(_append("queues", {"name": "bulk.dlq"}),
                                          _append("fleets[1].queues", "bulk.dlq")),
     "queues[1].name", "dead-letter"),
    ("fleet-name-colon", _set("fleets[1].name", "media:bulk"), "fleets[1].name", "Supervisor"),
    ("fleet-name-at", _set("fleets[1].name", "bulk@host"), "fleets[1].name", "Supervisor"),
    ("fleet-name-upper-case", _set("fleets[1].name", "Bulk"), "fleets[1].name", "Supervisor"),
    ("fleet-name-space", _set("fleets[1].name", "bulk work"), "fleets[1].name", "Supervisor"),
    ("fleet-name-beat-reserved", _set("fleets[1].name", "beat"), "fleets[1].name", "reserved"),
    # --- fleet values ---------------------------------------------------------
    ("concurrency-zero", _set("fleets[0].concurrency", 0), "fleets[0].concurrency", "1 or more"),
    ("processes-zero", _set("fleets[1].processes", 0), "fleets[1].processes", "1 or more"),
    ("unknown-pool", _set("fleets[1].pool", "fork"), "fleets[1].pool", "unknown pool"),
    ("soft-limit-equals-hard", _set("fleets[1].soft_time_limit", 60),
     "fleets[1].soft_time_limit", "time_limit"),
    ("soft-limit-above-hard", _set("fleets[1].soft_time_limit", 90),
     "fleets[1].soft_time_limit", "time_limit"),
    ("prefetch-zero-acks-late", _set("fleets[1].prefetch_multiplier", 0),
     "fleets[1].prefetch_multiplier", "acks_late"),
    ("autoscale-on-quorum", _both(_set("fleets[1].autoscale", {"min": 1, "max": 4})),
     "fleets[1].autoscale", "quorum"),
    ("autoscale-and-concurrency",
     _both(_set("queues[1].type", "classic"), _set("fleets[1].concurrency", 2),
           _set("fleets[1].autoscale", {"min": 1, "max": 4})),
     "fleets[1].autoscale", "not both"),
    ("autoscale-min-above-max",
     _both(_set("queues[1].type", "classic"), _set("fleets[1].autoscale", {"min": 5, "max": 2})),
     "fleets[1].autoscale", "min <= max"),
    ("stop-wait-equals-time-limit", _set("fleets[1].stop_wait_seconds", 60),
     "fleets[1].stop_wait_seconds", "shutdown"),
    ("stop-wait-below-time-limit", _set("fleets[1].stop_wait_seconds", 10),
     "fleets[1].stop_wait_seconds", "shutdown"),
    # --- beat -------------------------------------------------------------------
    ("two-beats", _set("beat", TWO_BEATS), "beat", "2 beats"),
    ("beat-every-and-cron", _set("beat.schedule[0].cron", "0 3 * * *"),
     "beat.schedule[0]", "exactly one"),
    ("beat-neither-every-nor-cron", _del("beat.schedule[0].every"),
     "beat.schedule[0]", "exactly one"),
    ("beat-cron-four-fields",
     _both(_del("beat.schedule[0].every"), _set("beat.schedule[0].cron", "0 3 * *")),
     "beat.schedule[0].cron", "5 fields"),
    ("beat-cron-six-fields",
     _both(_del("beat.schedule[0].every"), _set("beat.schedule[0].cron", "0 0 3 * * *")),
     "beat.schedule[0].cron", "5 fields"),
    ("beat-cron-hour-out-of-range",
     _both(_del("beat.schedule[0].every"), _set("beat.schedule[0].cron", "0 25 * * *")),
     "beat.schedule[0].cron", "not a valid schedule"),
    ("beat-cron-garbage",
     _both(_del("beat.schedule[0].every"), _set("beat.schedule[0].cron", "a b c d e")),
     "beat.schedule[0].cron", "not a valid schedule"),
    ("beat-unknown-queue", _set("beat.schedule[0].queue", "reports"),
     "beat.schedule[0].queue", "unknown queue"),
    # --- cross references -----------------------------------------------------
    ("default-queue-undefined", _set("app.default_queue", "celery"),
     "app.default_queue", "not a defined queue"),
    ("route-unknown-queue", _set("routes[0].queue", "bluk"), "routes[0].queue", "unknown queue"),
    ("app-module-no-attribute", _set("app.module", "pkg.app"), "app.module", "package.module:app"),
    # --- broker -----------------------------------------------------------------
    ("mirrored-on-4.0",
     _both(_set("queues[1].type", "classic"), _set("broker.ha", "mirrored")),
     "broker.ha", "removed in RabbitMQ 4.0"),
    ("mirrored-on-4.1",
     _both(_set("queues[1].type", "classic"), _set("broker.ha", "mirrored"),
           _set("broker.rabbitmq_version", "4.1")),
     "broker.ha", "removed in RabbitMQ 4.0"),
    ("mirrored-without-classic-queue",
     _both(_set("broker.ha", "mirrored"), _set("broker.rabbitmq_version", "3.10")),
     "broker.ha", "classic"),
    ("unknown-ha-mode", _set("broker.ha", "raft"), "broker.ha", "unknown mode"),
    ("version-single-number", _set("broker.rabbitmq_version", "4"),
     "broker.rabbitmq_version", "major.minor"),
    ("version-three-parts", _set("broker.rabbitmq_version", "4.0.5"),
     "broker.rabbitmq_version", "major.minor"),
    ("version-words", _set("broker.rabbitmq_version", "latest"),
     "broker.rabbitmq_version", "major.minor"),
    # --- monitoring -------------------------------------------------------------
    ("event-ttl-zero", _set("monitoring.event_queue_ttl", 0),
     "monitoring.event_queue_ttl", "above 0"),
    ("event-ttl-negative", _set("monitoring.event_queue_ttl", -5),
     "monitoring.event_queue_ttl", "above 0"),
    ("heartbeat-interval-zero", _set("monitoring.worker_heartbeat_interval", 0),
     "monitoring.worker_heartbeat_interval", "1 to 300 seconds"),
    ("heartbeat-interval-huge", _set("monitoring.worker_heartbeat_interval", 3600),
     "monitoring.worker_heartbeat_interval", "1 to 300 seconds"),
    ("heartbeat-interval-float", _set("monitoring.worker_heartbeat_interval", 2.5),
     "monitoring.worker_heartbeat_interval", "integer"),
    ("event-expires-zero", _set("monitoring.event_queue_expires", 0),
     "monitoring.event_queue_expires", "above 0"),
]

# Mistakes whose consequences are real further errors (checked first-error only):
# with no usable queue list nothing can be resolved, and a fleet without queues
# leaves its queue unconsumed.
CASCADES = {"wrong-type-list-section", "missing-fleet-queues"}


def test_base_is_valid(base, errors_of):
    # Every case below must fail because of its mutation, not the base.
    assert errors_of(base) == []


@pytest.mark.parametrize(("case", "mutate", "path", "words"), CASES, ids=[c[0] for c in CASES])
def test_rule(base, errors_of, case, mutate, path, words):
    mutate(base)
    errors = errors_of(base)
    assert errors, "the mistake was accepted"
    if case not in CASCADES:
        assert len(errors) == 1, errors
    field, sep, message = errors[0].partition(": ")
    assert sep, errors[0]
    assert field == path
    assert words in message


def test_yaml_boolean_where_integer_expected():
    # "yes" is a YAML 1.1 boolean; Python sees True == 1, validation must not.
    text = """
app: {name: t, module: "pkg.app:app"}
queues: [{name: default}]
fleets:
  - name: default
    queues: [default]
    concurrency: yes
"""
    with pytest.raises(TopologyError) as info:
        loads(text)
    assert [e.split(":")[0] for e in info.value.errors] == ["fleets[0].concurrency"]


@pytest.mark.parametrize("missing", ["app", "queues", "fleets"])
def test_missing_required_section(base, errors_of, missing):
    del base[missing]
    errors = errors_of(base)
    assert any(e.startswith(f"{missing}: required") for e in errors), errors


def test_not_a_mapping(errors_of):
    assert errors_of(["app", "queues"])[0].startswith("topology: must be a mapping")


def test_mistakes_are_collected_not_first_only(base, errors_of):
    base["fleets"][0]["pool"] = "fork"
    base["fleets"][1]["soft_time_limit"] = 600
    base["routes"][0]["queue"] = "nowhere"
    base["monitoring"]["event_queue_ttl"] = 0
    base["app"]["default_queue"] = "celery"
    fields = sorted(e.split(": ")[0] for e in errors_of(base))
    assert fields == sorted([
        "fleets[0].pool", "fleets[1].soft_time_limit", "routes[0].queue",
        "monitoring.event_queue_ttl", "app.default_queue",
    ])


# --- what must be ACCEPTED ------------------------------------------------------

def test_mirroring_accepted_on_rabbitmq_3_10_with_a_classic_queue(base, build):
    base["broker"].update(rabbitmq_version="3.10", ha="mirrored")
    base["queues"][1]["type"] = "classic"
    topology = build(base)
    assert topology.broker.version_tuple == (3, 10)
    assert topology.queue("bulk").type == "classic"


def test_autoscale_accepted_on_classic_queue(base, build):
    base["queues"][1]["type"] = "classic"
    base["fleets"][1]["autoscale"] = {"min": 1, "max": 4}
    fleet = build(base).fleet("bulk")
    assert (fleet.autoscale.min, fleet.autoscale.max) == (1, 4)
    assert fleet.concurrency is None


def test_prefetch_zero_accepted_without_acks_late(base, build):
    base["fleets"][1].update(prefetch_multiplier=0, acks_late=False)
    assert build(base).fleet("bulk").prefetch_multiplier == 0


def test_single_beat_in_a_list_is_that_beat(base, build):
    base["beat"] = [base["beat"]]
    assert [e.name for e in build(base).beat.schedule] == ["report"]


def test_valid_cron_accepted(base, build):
    entry = base["beat"]["schedule"][0]
    del entry["every"]
    entry["cron"] = "*/15 2-4 * * mon-fri"
    assert build(base).beat.schedule[0].cron == "*/15 2-4 * * mon-fri"
