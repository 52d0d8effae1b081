"""The bad-input table (cases.yml) and how each case is built: pure helpers, no Docker.

Shared by the `make up` cases (tests/badinput, `make bad-input`), the unit
tests of the same validators (tests/unit/test_badinput_cases.py) and the
document generator (scripts/bad_input_table.py).
"""

from __future__ import annotations

import copy
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from string import Template

import yaml

from celery_stack import secrets as secret_files
from celery_stack.topology import default_path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CASES = yaml.safe_load((HERE / "cases.yml").read_text(encoding="utf-8"))
LAYERS = ("topology", "env", "secrets")
# Where a case's validator rule is unit-tested when the case names no `unit:`.
DEFAULT_UNIT = "tests/unit/test_badinput_cases.py"
# The variable a `listen: true` env case's values may use: the port of a
# socket the test holds open on loopback (another process's port).
TAKEN = "TAKEN_PORT"


def make_up_cases(layer: str) -> list[dict]:
    """The cases of ``layer`` that run through the real `make up` (one per layer)."""
    return [c for c in CASES[layer] if c.get("make_up")]


def unit_reference(case: dict, layer: str) -> str:
    """The unit test that checks the case's rule (pytest node id, from the repo root)."""
    return case.get("unit", f"{DEFAULT_UNIT}::test_{layer}_case[{case['id']}]")


def bad_topology(case: dict, directory: Path) -> Path:
    if "file" in case:
        return REPO / case["file"]
    path = directory / "topology.yml"
    if "text" in case:
        path.write_text(case["text"], encoding="utf-8")
        return path
    data = copy.deepcopy(yaml.safe_load(default_path().read_text(encoding="utf-8")))
    for dotted, value in case["set"].items():
        put(data, dotted, value)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def put(data, dotted: str, value) -> None:
    """Set ``a.b[1].c`` (``[+]`` appends) in nested dicts/lists."""
    steps: list[str | int] = []
    for part in dotted.split("."):
        name, *indexes = re.split(r"\[", part)
        if name:
            steps.append(name)
        steps += [-1 if i == "+]" else int(i.rstrip("]")) for i in indexes]
    target = data
    for step in steps[:-1]:
        target = target[step]
    last = steps[-1]
    if last == -1:
        target.append(value)
    else:
        target[last] = value


def env_values(case: dict, values: dict[str, str]) -> dict[str, str]:
    """The case's variables, ``${NAME}`` expanded from ``values``."""
    return {k: Template(str(v)).substitute(values) for k, v in case["set"].items()}


@contextmanager
def held_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A TCP port another process holds: a socket listening on ``host`` meanwhile."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def bad_secrets(case: dict, directory: Path) -> Path:
    """Freshly generated secrets in ``directory``, the case's one file spoiled."""
    secret_files.ensure(directory)
    path = directory / case["file"]
    if "value" in case:
        path.write_text(case["value"], encoding="utf-8")
    path.chmod(int(case.get("mode", "0600"), 8))
    return directory
