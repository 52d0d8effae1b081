"""Shared fixtures for the unit tests: a small valid topology and helpers."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from celery_stack.topology import Topology, TopologyError, default_path, parse

# Small but complete: two quorum queues, two fleets, one route, one beat entry.
BASE: dict[str, Any] = {
    "app": {"name": "t", "module": "pkg.app:app", "default_queue": "default"},
    "broker": {"rabbitmq_version": "4.0", "ha": "quorum"},
    "queues": [
        {"name": "default", "type": "quorum"},
        {"name": "bulk", "type": "quorum", "delivery_limit": 5},
    ],
    "routes": [{"task": "pkg.tasks.convert_*", "queue": "bulk"}],
    "fleets": [
        {"name": "default", "queues": ["default"]},
        {"name": "bulk", "queues": ["bulk"], "soft_time_limit": 50, "time_limit": 60},
    ],
    "beat": {"enabled": True,
             "schedule": [{"name": "report", "task": "pkg.tasks.report", "every": 60}]},
    "monitoring": {"event_queue_ttl": 5, "event_queue_expires": 60},
    "results": {"ignore_by_default": True},
}


@pytest.fixture
def base() -> dict[str, Any]:
    """A fresh deep copy of BASE to mutate."""
    return copy.deepcopy(BASE)


def _errors_of(data: Any) -> list[str]:
    try:
        parse(data)
    except TopologyError as exc:
        return exc.errors
    return []


@pytest.fixture
def errors_of() -> Callable[[Any], list[str]]:
    """Every validation error for some topology data ([] when it is valid)."""
    return _errors_of


@pytest.fixture
def build() -> Callable[[Any], Topology]:
    """Parse topology data into the model (raises TopologyError when invalid)."""
    return parse


@pytest.fixture(scope="session")
def default_raw() -> dict[str, Any]:
    """The packaged topology as plain YAML data, read independently of the loader."""
    return yaml.safe_load(default_path().read_text(encoding="utf-8"))
