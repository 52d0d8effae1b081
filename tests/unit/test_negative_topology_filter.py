"""The Ansible filter refuses each bad topology of the negative cases, naming the field.

`make negative` runs one bad topology through site.yml on a host (the
filter's error reaches the playbook); the mistakes that only exercise the
validator behind the filter are proven here, without a host: the same
CASES rows and the same topology files.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

REPO = Path(__file__).resolve().parents[2]
NEGATIVE = REPO / "tests" / "negative"


def _module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FILTER = _module("celery_stack_filter", REPO / "ansible" / "filter_plugins" / "celery_stack.py")
TOPOLOGIES = _module("negative_topologies", NEGATIVE / "topologies.py")


def _cases() -> dict:
    """The CASES literal of the negative tests (id -> (groups, extra vars, expected))."""
    tree = ast.parse((NEGATIVE / "test_bad_inventories.py").read_text(encoding="utf-8"))
    node = next(n for n in tree.body if isinstance(n, ast.Assign)
                and getattr(n.targets[0], "id", None) == "CASES")
    return ast.literal_eval(node.value)


TOPOLOGY_CASES = {case: (extra["celery_stack_topology_file"], expected)
                  for case, (_groups, extra, expected) in _cases().items()
                  if "celery_stack_topology_file" in extra}


def test_every_bad_topology_case_is_here():
    assert len(TOPOLOGY_CASES) >= 4, TOPOLOGY_CASES


@pytest.mark.parametrize("case", sorted(TOPOLOGY_CASES))
def test_filter_refuses_the_topology_naming_the_field(case, tmp_path):
    mistake, expected = TOPOLOGY_CASES[case]
    path = tmp_path / "topology.yml"
    path.write_text(TOPOLOGIES.bad_topology(mistake), encoding="utf-8")
    with pytest.raises(AnsibleFilterError) as error:
        FILTER.celery_stack_topology(str(path))
    assert expected in str(error.value)


def test_filter_accepts_the_demo_topology():
    # The control: the same call on the packaged topology passes.
    summary = FILTER.celery_stack_topology("")
    assert summary["queues"] and summary["fleets"]
