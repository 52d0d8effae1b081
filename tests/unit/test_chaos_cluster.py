"""Parsing what the chaos suite reads from rabbitmqctl (pure parts of chaos.cluster)."""

from __future__ import annotations

import pytest

from celery_stack.chaos.cluster import parse_node_list


@pytest.mark.parametrize(("text", "nodes"), [
    ("[rabbit@rabbit3,rabbit@rabbit1]\n", ["rabbit@rabbit1", "rabbit@rabbit3"]),
    ("['rabbit@node-2.example',rabbit@a]", ["rabbit@a", "rabbit@node-2.example"]),
    ("[]", []),
    # An error or a half-printed answer is "cannot tell", never a node list.
    ("Error: unable to perform an operation on node 'rabbit@rabbit1'", []),
    ("[rabbit@rabbit1,", []),
])
def test_parse_node_list(text: str, nodes: list[str]) -> None:
    assert parse_node_list(text) == nodes
