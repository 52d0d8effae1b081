"""At least ten bad inventories: each fails in preflight naming the variable; hosts untouched."""

import copy

import pytest
import yaml

from celery_stack.topology import default_path

from .conftest import HOSTS, inventory, run_site, traces


def _topology(mistake: str) -> str:
    """The demo topology with one mistake, as YAML text."""
    if mistake == "not-yaml":
        return "---\nqueues: [default\nfleets: {\n"
    t = copy.deepcopy(yaml.safe_load(default_path().read_text(encoding="utf-8")))
    if mistake == "unknown-queue":
        t["fleets"][0]["queues"] = ["defualt"]
    elif mistake == "mirroring-on-4":
        t["broker"]["ha"] = "mirrored"
        t["queues"][0]["type"] = "classic"
    elif mistake == "soft-above-hard":
        t["fleets"][1]["soft_time_limit"], t["fleets"][1]["time_limit"] = 30, 20
    return yaml.safe_dump(t)

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


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_inventory_fails_in_preflight_and_changes_nothing(case, host, tmp_path):
    groups_override, extra, expected = CASES[case]
    groups = {**HOSTS, **groups_override}
    if "celery_stack_topology_file" in extra:
        bad = tmp_path / "topology.yml"
        bad.write_text(_topology(extra["celery_stack_topology_file"]), encoding="utf-8")
        extra = {**extra, "celery_stack_topology_file": str(bad)}
    inv = inventory(tmp_path / "hosts.yml", host, groups)
    extra_file = tmp_path / "extra.yml"
    extra_file.write_text(yaml.safe_dump(extra), encoding="utf-8")

    result = run_site(inv, extra_file)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert expected in output, output[-3000:]
    # Preflight is the first play: no later play may have started.
    assert "PLAY [Tune the kernel and OS]" not in output, output[-3000:]
    assert traces(host) == [], f"{case}: the host was changed"
