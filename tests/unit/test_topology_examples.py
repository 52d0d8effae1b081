"""The shipped example topologies: every valid one loads, the invalid one fails 5 ways."""

from __future__ import annotations

from pathlib import Path

import pytest

from celery_stack.topology import TopologyError, load

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "topologies"

VALID = sorted(p for p in EXAMPLES.glob("*.yml") if not p.name.startswith("invalid-"))


def test_the_documented_examples_exist():
    names = {p.name for p in VALID}
    assert {"minimal.yml", "rabbitmq-3.10-mirrored.yml", "media-pipeline.yml"} <= names


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_example_is_valid(path):
    topology = load(path)
    assert topology.fleets and topology.queues


def test_minimal_is_one_queue_one_fleet():
    topology = load(EXAMPLES / "minimal.yml")
    assert len(topology.queues) == 1 and len(topology.fleets) == 1


def test_mirrored_example_mixes_a_mirrored_classic_queue_with_quorum_ones():
    topology = load(EXAMPLES / "rabbitmq-3.10-mirrored.yml")
    assert topology.broker.version_tuple < (4, 0)
    assert topology.broker.ha == "mirrored"
    types = {q.type for q in topology.queues}
    assert types == {"classic", "quorum"}


def test_media_pipeline_covers_what_it_claims():
    topology = load(EXAMPLES / "media-pipeline.yml")
    pools = {f.pool for f in topology.fleets}
    assert "threads" in pools
    assert any(f.max_memory_per_child for f in topology.fleets)
    assert any(e.cron for e in topology.beat.schedule)
    # Urgent and bulk work never share a fleet.
    for fleet in topology.fleets:
        assert not {"thumbnails", "video"} <= set(fleet.queues)


def test_five_mistakes_file_reports_all_five():
    with pytest.raises(TopologyError) as info:
        load(EXAMPLES / "invalid-five-mistakes.yml")
    errors = info.value.errors
    assert len(errors) == 5, errors
    fields = {e.split(": ")[0] for e in errors}
    assert fields == {
        "broker.rabbitmq_version", "routes[0].queue", "fleets[0].soft_time_limit",
        "fleets[1].autoscale", "beat.schedule[0].cron",
    }
    # Each mistake is commented in the file: the count there must match too.
    text = (EXAMPLES / "invalid-five-mistakes.yml").read_text(encoding="utf-8")
    assert sum(1 for line in text.splitlines() if line.strip().startswith("# Mistake")) == 5
