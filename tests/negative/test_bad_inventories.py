"""At least ten bad inventories: each fails in preflight naming the variable; hosts untouched.

All cases share one host (see conftest). Of the bad topologies, only
fleet-unknown-queue runs site.yml here (the filter's error reaches the
playbook's output); the others only re-test the validator through the same
filter, which tests/unit/test_negative_topology_filter.py does without a host.
"""

import pytest
import yaml

from .conftest import HOSTS, TRACES, docker, fingerprint, inventory, run_site, traces
from .topologies import bad_topology

# id -> (inventory groups override, extra vars, text the failure must contain)
CASES = {
    "two-beats": ({"celery_beat": ["worker", "monitor"]}, {}, "celery_beat"),
    "even-brokers": ({"rabbitmq": ["mq1", "mq2"]}, {}, "inventory group rabbitmq"),
    "fleet-unknown-queue": ({}, {"celery_stack_topology_file": "unknown-queue"},
                            "fleets[0].queues[0]"),
    "mirroring-on-4x": ({}, {"celery_stack_topology_file": "mirroring-on-4"}, "broker.ha"),
    "soft-limit-above-hard": ({}, {"celery_stack_topology_file": "soft-above-hard"},
                              "fleets[1].soft_time_limit"),
    "topology-not-yaml": ({}, {"celery_stack_topology_file": "not-yaml"}, "not valid YAML"),
    "missing-redis-password": ({}, {"redis_password": ""}, "redis_password"),
    "short-stats-password": ({}, {"haproxy_stats_password": "short"}, "haproxy_stats_password"),
    "unequal-haproxy-timeouts": ({}, {"haproxy_timeout_client": 100}, "haproxy_timeout_client"),
    "boolean-sysctl": ({}, {"kernel_tuning_sysctl_overrides": {"net.ipv4.tcp_syncookies": True}},
                       "kernel_tuning_sysctl_overrides"),
    "short-erlang-cookie": ({}, {"rabbitmq_erlang_cookie": "tooshort"},
                            "rabbitmq_erlang_cookie"),
    "short-flower-password": ({}, {"flower_auth_password": "short"}, "flower_auth_password"),
    "unknown-fleet-on-host": ({}, {"celery_workers_fleets": ["nope"]}, "celery_workers_fleets"),
}


# Topology cases proven by the filter's unit test instead (same mistake, same message).
FILTER_ONLY = ("mirroring-on-4x", "soft-limit-above-hard", "topology-not-yaml")


def test_the_change_detectors_see_a_change(host, baseline):
    # A trace path and a new /etc file must both be seen, or "unchanged" proves nothing.
    probe = "/etc/celery-stack"
    assert probe in TRACES
    docker("exec", host, "mkdir", probe)
    try:
        assert traces(host) == [probe]
        assert fingerprint(host) != baseline
    finally:
        docker("exec", host, "rmdir", probe)
    assert traces(host) == [] and fingerprint(host) == baseline


@pytest.mark.parametrize("case", sorted(c for c in CASES if c not in FILTER_ONLY))
def test_bad_inventory_fails_in_preflight_and_changes_nothing(case, host, baseline, tmp_path,
                                                              fact_cache):
    groups_override, extra, expected = CASES[case]
    groups = {**HOSTS, **groups_override}
    if "celery_stack_topology_file" in extra:
        bad = tmp_path / "topology.yml"
        bad.write_text(bad_topology(extra["celery_stack_topology_file"]), encoding="utf-8")
        extra = {**extra, "celery_stack_topology_file": str(bad)}
    inv = inventory(tmp_path / "hosts.yml", host, groups)
    extra_file = tmp_path / "extra.yml"
    extra_file.write_text(yaml.safe_dump(extra), encoding="utf-8")

    result = run_site(inv, extra_file, fact_cache)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert expected in output, output[-3000:]
    # Preflight is the first play: no later play may have started.
    assert "PLAY [Tune the kernel and OS]" not in output, output[-3000:]
    assert traces(host) == [], f"{case}: the host was changed"
    assert fingerprint(host) == baseline, f"{case}: packages or files changed on the host"
