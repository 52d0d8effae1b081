"""The bad-input table (tests/badinput/cases.yml) against the validators themselves.

Every env and secret case runs here against envcheck (check_env,
check_ports_free, check_secrets): exactly one problem, naming the case's field
first, with its fragment. A topology case either names the unit test that
already checks its rule (`unit:`, which must exist) or runs here against
celery_stack.topology. One case per layer also runs through the real
`make up` in `make bad-input` (`make_up: true`).
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest

from celery_stack import envcheck
from celery_stack.topology import TopologyError, load

REPO = Path(__file__).resolve().parents[2]


def _cases_module():
    spec = importlib.util.spec_from_file_location("badinput_cases",
                                                  REPO / "tests/badinput/cases.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


T = _cases_module()
OWN = Path(__file__).resolve().relative_to(REPO).as_posix()


def here(layer: str) -> list[dict]:
    """The cases of ``layer`` whose rule this file checks."""
    return [c for c in T.CASES[layer] if T.unit_reference(c, layer).startswith(f"{OWN}::")]


def only_error_names(errors: list[str], case: dict) -> None:
    assert len(errors) == 1, f"{case['id']}: expected one problem, got {errors}"
    field, sep, message = errors[0].partition(": ")
    assert sep and field == case["field"], f"{case['id']}: {errors[0]!r}"
    assert case["expect"] in message, f"{case['id']}: {case['expect']!r} not in {errors[0]!r}"


# The compose defaults, for ${NAME} in a case (the make up harness uses its test ports).
DEFAULTS = {name: str(port) for name, port in envcheck.PORTS.items()}


@pytest.mark.parametrize("case", here("env"), ids=lambda c: c["id"])
def test_env_case(case: dict) -> None:
    if case.get("listen"):
        with T.held_port() as port:
            env = T.env_values(case, {**DEFAULTS, T.TAKEN: str(port)})
            # No docker in unit tests: no container publishes the port.
            errors = envcheck.check_ports_free(env, containers=lambda port: [])
            assert envcheck.check_env(env) == [], "the port itself is valid"
    else:
        env = T.env_values(case, DEFAULTS)
        errors = envcheck.check_env(env)
    only_error_names(errors, case)


@pytest.mark.parametrize("case", here("secrets"), ids=lambda c: c["id"])
def test_secrets_case(case: dict, tmp_path: Path) -> None:
    directory = T.bad_secrets(case, tmp_path / "secrets")
    errors = envcheck.check_secrets(directory)
    only_error_names(errors, case)
    if case.get("value"):
        # The refusal names the file, never its content.
        assert case["value"] not in errors[0].replace(str(directory), ""), errors[0]


@pytest.mark.parametrize("case", here("topology"), ids=lambda c: c["id"])
def test_topology_case(case: dict, tmp_path: Path) -> None:
    with pytest.raises(TopologyError) as info:
        load(T.bad_topology(case, tmp_path))
    only_error_names(info.value.errors, case)


def _node_ids(path: Path) -> set[str]:
    """Test functions of a module, plus test_rule[<id>] for its CASES table."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    ids = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)
           and n.name.startswith("test_")}
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "CASES":
            ids |= {f"test_rule[{elt.elts[0].value}]" for elt in node.value.elts}
    return ids


REFERENCED = [c for layer in T.LAYERS for c in T.CASES[layer] if "unit" in c]


@pytest.mark.parametrize("case", REFERENCED, ids=lambda c: c["id"])
def test_a_referenced_unit_test_exists(case: dict) -> None:
    """A case checked elsewhere points at a test that is really there (no silent loss)."""
    path, _, node = case["unit"].partition("::")
    assert re.fullmatch(r"tests/unit/test_\w+\.py", path), case["unit"]
    assert node in _node_ids(REPO / path), f"{case['id']}: no test {case['unit']}"


def test_every_case_is_checked_somewhere_and_each_layer_keeps_one_make_up_case() -> None:
    for layer in T.LAYERS:
        checked_here = {c["id"] for c in here(layer)}
        elsewhere = {c["id"] for c in T.CASES[layer] if "unit" in c}
        assert checked_here | elsewhere == {c["id"] for c in T.CASES[layer]}
        assert not checked_here & elsewhere
        assert len(T.make_up_cases(layer)) == 1, f"{layer}: one make up case, exactly"


def test_the_references_to_this_file_are_its_node_ids() -> None:
    ids = _node_ids(Path(__file__))
    for layer in T.LAYERS:
        for case in here(layer):
            node = T.unit_reference(case, layer).partition("::")[2]
            assert node.split("[")[0] in ids, node


def test_the_host_port_case_is_the_compose_variables_make_up_case() -> None:
    (case,) = T.make_up_cases("env")
    assert case["id"] == "host-port-taken" and case["listen"] is True
