"""Bad topologies for the negative cases: the demo topology with one mistake each.

A plain module (no package-relative imports) so the unit tests of the
Ansible filter load the very same mistakes.
"""

from __future__ import annotations

import copy

import yaml

from celery_stack.topology import default_path


def bad_topology(mistake: str) -> str:
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
    else:
        raise ValueError(f"unknown mistake {mistake!r}")
    return yaml.safe_dump(t)
