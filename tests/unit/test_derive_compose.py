"""Compose services derived from the topology: one per fleet, one beat, safe budgets."""

import yaml

from celery_stack.derive import compose
from celery_stack.topology import load


def test_one_service_per_fleet_plus_one_beat():
    topology = load(None)
    services = yaml.safe_load(compose.render(topology))["services"]
    fleets = {f.name for f in topology.fleets}
    workers = {name.removeprefix("worker-") for name in services if name.startswith("worker-")}
    assert workers == fleets
    beats = [s for s in services.values() if s["environment"]["CELERY_STACK_BEAT"] == "1"]
    assert len(beats) == 1
    assert beats[0]["environment"]["CELERY_STACK_FLEETS"] == "none"


def test_each_fleet_service_runs_its_fleet_with_grace_above_stop_wait():
    topology = load(None)
    services = yaml.safe_load(compose.render(topology))["services"]
    for fleet in topology.fleets:
        service = services[f"worker-{fleet.name}"]
        assert service["environment"]["CELERY_STACK_FLEETS"] == fleet.name
        grace = int(service["stop_grace_period"].removesuffix("s"))
        assert grace > fleet.stop_wait > fleet.time_limit


def test_no_beat_service_when_beat_is_disabled(tmp_path):
    text = load(None)
    disabled = type(text.beat)(enabled=False)
    topology = type(text)(**{**text.__dict__, "beat": disabled})
    services = yaml.safe_load(compose.render(topology))["services"]
    assert "beat" not in services
