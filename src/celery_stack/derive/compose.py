"""Compose services derived from the topology: one worker service per fleet, one beat.

Everything static about a worker lives in ``compose/worker.yaml``; this adds
only what the topology decides: which fleet a service runs and its
``stop_grace_period``, the outer layer of the shutdown budget
(grace > Supervisor stopwaitsecs > task time limit).
"""

from __future__ import annotations

from typing import Any

import yaml

from ..topology.model import Topology

BASE_FILE = "worker.yaml"  # compose resolves it from the project directory (compose/)
BASE_SERVICE = "worker"


def _service(fleets: str, beat: bool, grace: int) -> dict[str, Any]:
    return {
        "extends": {"file": BASE_FILE, "service": BASE_SERVICE},
        "environment": {"CELERY_STACK_FLEETS": fleets, "CELERY_STACK_BEAT": "1" if beat else "0"},
        "stop_grace_period": f"{grace}s",
    }


def services(topology: Topology) -> dict[str, Any]:
    out = {
        f"worker-{f.name}": _service(f.name, False, topology.container_grace_period((f.name,)))
        for f in topology.fleets
    }
    if topology.beat.enabled:
        # Exactly one scheduler: never scale this service.
        out["beat"] = _service("none", True, 30)
    return {"services": out}


def render(topology: Topology) -> str:
    header = "---\n# Generated from the topology by `celery-stack render compose`; do not edit.\n"
    return header + yaml.safe_dump(services(topology), sort_keys=True)
