"""Read a topology file, check it completely, and build the model.

``load`` either returns a fully valid ``Topology`` or raises ``TopologyError``
carrying every problem found, so nothing downstream ever sees half-valid
input (and nothing is deployed from it).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from . import schema, validate
from .model import (
    App,
    Autoscale,
    Beat,
    BeatEntry,
    Broker,
    Fleet,
    Monitoring,
    Queue,
    Results,
    Route,
    Topology,
)
from .pools import RECYCLING_POOLS


class TopologyError(ValueError):
    def __init__(self, errors: list[str], source: str = "topology"):
        self.errors = errors
        self.source = source
        super().__init__(f"{source}: {len(errors)} error(s):\n" + "\n".join(
            f"  - {e}" for e in errors))


def default_path() -> Path:
    """The topology shipped for the demo application."""
    return Path(str(resources.files("celery_stack") / "data" / "topology.yml"))


def load(path: str | Path | None = None) -> Topology:
    path = Path(path) if path else default_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TopologyError([f"cannot read the file: {exc.strerror}; check the path"],
                            str(path)) from exc
    return loads(text, str(path))


def loads(text: str, source: str = "topology") -> Topology:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TopologyError([f"not valid YAML: {exc}"], source) from exc
    return parse(data, source)


def _items(raw: Any, spec: dict, path: str, errors: list[str]) -> tuple[list, list[dict]]:
    """Check every element of a list section; return (raw elements, checked)."""
    raws = raw if isinstance(raw, list) else []
    return raws, [schema.check_mapping(item, spec, f"{path}[{i}]", errors)
                  for i, item in enumerate(raws)]


def parse(data: Any, source: str = "topology") -> Topology:
    errors: list[str] = []
    top = schema.check_mapping(data, schema.TOP, "", errors)
    app = schema.check_mapping(top.get("app", {}), schema.APP, "app", errors) \
        if "app" in top else {}
    broker = schema.check_mapping(top.get("broker", {}), schema.BROKER, "broker", errors)
    _, queues = _items(top.get("queues"), schema.QUEUE, "queues", errors)
    _, routes = _items(top.get("routes"), schema.ROUTE, "routes", errors)
    raw_fleets, fleets = _items(top.get("fleets"), schema.FLEET, "fleets", errors)
    for i, f in enumerate(fleets):
        if isinstance(f.get("autoscale"), dict):
            f["autoscale"] = schema.check_mapping(
                f["autoscale"], schema.AUTOSCALE, f"fleets[{i}].autoscale", errors)
    beat_raw = top.get("beat", {})
    if isinstance(beat_raw, list):
        if len(beat_raw) > 1:
            errors.append(
                f"beat: {len(beat_raw)} beats defined; a second scheduler sends every "
                "periodic task twice: keep exactly one beat mapping"
            )
        beat_raw = beat_raw[0] if beat_raw else {}
    beat = schema.check_mapping(beat_raw, schema.BEAT, "beat", errors)
    _, entries = _items(beat.get("schedule"), schema.BEAT_ENTRY, "beat.schedule", errors)
    monitoring = schema.check_mapping(top.get("monitoring", {}), schema.MONITORING,
                                      "monitoring", errors)
    results = schema.check_mapping(top.get("results", {}), schema.RESULTS, "results", errors)

    if isinstance(top.get("queues"), list) and not queues:
        errors.append("queues: empty; define at least the default queue")
    if isinstance(top.get("fleets"), list) and not fleets:
        errors.append("fleets: empty; define at least one fleet")

    queue_names = {q["name"] for q in queues if "name" in q}
    validate.check_app(app, queue_names, errors)
    validate.check_broker(broker, queues, errors)
    validate.check_queues(queues, errors)
    validate.check_routes(routes, queue_names, errors)
    validate.check_fleets([r if isinstance(r, dict) else {} for r in raw_fleets], fleets,
                          queue_names, queues, errors)
    validate.check_beat(beat, entries, queue_names, errors)
    validate.check_monitoring(monitoring, errors)
    if results.get("expires") is not None and results["expires"] < 0:
        errors.append("results.expires: must be 0 (never) or more seconds")
    if errors:
        raise TopologyError(errors, source)

    return Topology(
        app=App(**app),
        broker=Broker(**broker),
        queues=tuple(Queue(**q) for q in queues),
        routes=tuple(Route(**r) for r in routes),
        fleets=tuple(_fleet(f) for f in fleets),
        beat=Beat(enabled=beat["enabled"],
                  schedule=tuple(BeatEntry(**{**e, "args": tuple(e["args"])}) for e in entries)),
        monitoring=Monitoring(**monitoring),
        results=Results(**results),
    )


def _fleet(f: dict) -> Fleet:
    if f["pool"] not in RECYCLING_POOLS and "max_tasks_per_child" in f:
        # prefork's default: other pools have no children (pools.check_pool).
        f["max_tasks_per_child"] = None
    auto = f.pop("autoscale")
    queues = tuple(f.pop("queues"))
    if auto is not None:
        f["concurrency"] = None
        return Fleet(queues=queues, autoscale=Autoscale(**auto), **f)
    return Fleet(queues=queues, **f)
