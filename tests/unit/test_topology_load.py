"""Loading: files, YAML errors, the packaged topology and the shutdown budget."""

from __future__ import annotations

import pytest
import yaml

from celery_stack.topology import TopologyError, load, loads
from celery_stack.topology.model import CONTAINER_GRACE_MARGIN, STOP_WAIT_MARGIN


def test_packaged_topology_loads_and_matches_its_file(default_raw):
    topology = load(None)
    assert [q.name for q in topology.queues] == [q["name"] for q in default_raw["queues"]]
    assert [f.name for f in topology.fleets] == [f["name"] for f in default_raw["fleets"]]
    assert topology.app.module == default_raw["app"]["module"]


def test_invalid_yaml_is_one_clear_error(tmp_path):
    path = tmp_path / "broken.yml"
    path.write_text("queues: [default\nfleets: {\n", encoding="utf-8")
    with pytest.raises(TopologyError) as info:
        load(path)
    assert len(info.value.errors) == 1
    assert "not valid YAML" in info.value.errors[0]
    # The message names the file and where the parser stopped.
    assert str(path) in str(info.value)
    assert "line" in info.value.errors[0]


def test_missing_file_is_a_clear_error(tmp_path):
    path = tmp_path / "nope.yml"
    with pytest.raises(TopologyError) as info:
        load(path)
    assert str(path) in str(info.value)
    assert "No such file" in info.value.errors[0]


def test_directory_is_a_clear_error(tmp_path):
    with pytest.raises(TopologyError) as info:
        load(tmp_path)
    assert "cannot read" in info.value.errors[0]


def test_empty_file_is_not_a_topology():
    with pytest.raises(TopologyError) as info:
        loads("", "empty.yml")
    assert info.value.errors[0].startswith("topology: must be a mapping")
    assert str(info.value).startswith("empty.yml: 1 error(s)")


def test_error_lists_every_problem_in_its_message(base):
    base["fleets"][0]["pool"] = "fork"
    base["routes"][0]["queue"] = "nowhere"
    with pytest.raises(TopologyError) as info:
        loads(yaml.safe_dump(base), "t.yml")
    text = str(info.value)
    assert text.startswith("t.yml: 2 error(s)")
    assert "fleets[0].pool" in text and "routes[0].queue" in text


# --- shutdown budget --------------------------------------------------------------

def test_shutdown_budget_ordering_holds_for_every_fleet():
    topology = load(None)
    grace = topology.container_grace_period()
    for fleet in topology.fleets:
        assert fleet.soft_time_limit is None or fleet.soft_time_limit < fleet.time_limit
        assert fleet.time_limit < fleet.stop_wait < grace, fleet.name
        assert fleet.stop_wait < topology.container_grace_period((fleet.name,)), fleet.name


def test_container_grace_covers_fleets_stopped_one_after_another():
    # Supervisor stops program groups sequentially: the budget adds up.
    topology = load(None)
    waits = sum(f.stop_wait for f in topology.fleets)
    assert topology.container_grace_period() > waits


def test_stop_wait_defaults_to_time_limit_plus_margin(base, build):
    fleet = build(base).fleet("bulk")
    assert STOP_WAIT_MARGIN > 0
    assert fleet.stop_wait == base["fleets"][1]["time_limit"] + STOP_WAIT_MARGIN


def test_explicit_stop_wait_is_used_and_drives_container_grace(base, build):
    base["fleets"][0]["stop_wait_seconds"] = 1000
    topology = build(base)
    assert topology.fleet("default").stop_wait == 1000
    assert topology.longest_stop_wait == 1000
    assert topology.container_grace_period(("default",)) == 1000 + CONTAINER_GRACE_MARGIN


def test_defaults_fill_omitted_keys(build):
    topology = build({"app": {"name": "t", "module": "pkg.app:app"},
                      "queues": [{"name": "default"}],
                      "fleets": [{"name": "w", "queues": ["default"]}]})
    assert topology.app.default_queue == "default"
    assert topology.queue("default").type == "quorum"
    assert topology.broker.ha == "quorum"
    assert topology.results.ignore_by_default is True
    assert topology.monitoring.event_queue_ttl > 0
    fleet = topology.fleet("w")
    assert fleet.acks_late is True and fleet.prefetch_multiplier == 1
