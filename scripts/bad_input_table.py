"""Print docs/bad-input.md: every bad-input case the tests run, from the test data itself.

Sources: tests/badinput/cases.yml (topology, compose env, secret files; unit
tests of their validators, one case per layer also through `make up` in
`make bad-input`) and the CASES table of tests/negative/test_bad_inventories.py
(Ansible inventories; run by `make negative`). Regenerate with
`make bad-input-doc`; tests/unit/test_bad_input_doc.py fails when the
document and the cases drift apart.
Usage: python scripts/bad_input_table.py > docs/bad-input.md
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CASES_FILE = REPO / "tests/badinput/cases.yml"
_spec = importlib.util.spec_from_file_location("badinput_cases", REPO / "tests/badinput/cases.py")
cases_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases_module)
NEGATIVE_FILE = REPO / "tests/negative/test_bad_inventories.py"
# Where the negative tests' FILTER_ONLY topology cases are checked instead of site.yml.
FILTER_UNIT = "tests/unit/test_negative_topology_filter.py"
LAYERS = {
    "topology": "topology (`make up TOPOLOGY=`)",
    "env": "compose env (`make up` environment)",
    "secrets": "secret files (`make up SECRETS=`)",
    "inventory": "Ansible inventory (`site.yml`)",
}


def compose_cases() -> list[dict]:
    data = yaml.safe_load(CASES_FILE.read_text(encoding="utf-8"))
    return [{**case, "layer": layer} for layer in ("topology", "env", "secrets")
            for case in data[layer]]


def _literal(tree: ast.Module, name: str):
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and getattr(node.targets[0], "id", None) == name):
            return ast.literal_eval(node.value)
    return None


def inventory_cases() -> list[dict]:
    """The CASES literal of the negative tests: id -> (groups, extra vars, expected text).

    FILTER_ONLY (when the module has it) names the topology cases whose rule
    the filter's unit test checks instead of a site.yml run.
    """
    tree = ast.parse(NEGATIVE_FILE.read_text(encoding="utf-8"))
    cases = _literal(tree, "CASES")
    if cases is None:
        raise SystemExit(f"{NEGATIVE_FILE}: no CASES table")
    filter_only = set(_literal(tree, "FILTER_ONLY") or ())
    if filter_only and not (REPO / FILTER_UNIT).is_file():
        raise SystemExit(f"{NEGATIVE_FILE}: FILTER_ONLY cases, but no {FILTER_UNIT}")
    if filter_only - set(cases):
        raise SystemExit(f"{NEGATIVE_FILE}: FILTER_ONLY names unknown cases "
                         f"{sorted(filter_only - set(cases))}")
    rows = []
    for case_id, (groups, extra, expected) in sorted(cases.items()):
        if "celery_stack_topology_file" in extra:
            field = f"celery_stack_topology_file ({extra['celery_stack_topology_file']})"
        elif groups:
            field = "inventory group " + ", ".join(sorted(groups))
        else:
            field = ", ".join(sorted(extra))
        rows.append({"id": case_id, "layer": "inventory", "field": field, "expect": expected,
                     "filter_only": case_id in filter_only})
    return rows


def checked_by(case: dict) -> str:
    """Where the case runs: its unit test, and `make up` for one case per layer."""
    if case["layer"] == "inventory":
        return f"unit `{FILTER_UNIT}`" if case["filter_only"] else "`make negative`"
    where = [f"unit `{cases_module.unit_reference(case, case['layer'])}`"]
    if case.get("make_up"):
        where.append("`make up` in `make bad-input`")
    return "; ".join(where)


def what(case: dict) -> str:
    """The mistake, shortly (never a secret: these are fake test values)."""
    if case["layer"] == "topology":
        if "file" in case:
            return f"shipped `{case['file']}`"
        if "text" in case:
            return "unparsable YAML"
        return "; ".join(f"`{k}: {yaml.safe_dump(v, default_flow_style=True).strip()}`"
                         .replace("\n...", "") for k, v in case["set"].items())
    if case["layer"] == "env":
        held = "; a process listens on that port" if case.get("listen") else ""
        return "; ".join(f"`{k}={v}`" for k, v in case["set"].items()) + held
    if case["layer"] == "secrets":
        parts = []
        if "value" in case:
            parts.append(f"{len(case['value'])}-character value" if case["value"] else
                         "empty file")
        if "mode" in case:
            parts.append(f"mode {case['mode']}")
        return f"`{case['file']}`: " + ", ".join(parts)
    return "see tests/negative/test_bad_inventories.py"


def cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render() -> str:
    cases = compose_cases() + inventory_cases()
    counts = {layer: sum(c["layer"] == layer for c in cases) for layer in LAYERS}
    lines = [
        "# Bad input: what is refused, and where",
        "",
        "<!-- Generated by `make bad-input-doc` from tests/badinput/cases.yml and",
        "     tests/negative/test_bad_inventories.py; do not edit by hand. -->",
        "",
        "Every case is one mistake. Each must stop the run in its preflight with a",
        "message naming the field, before any container, file or host is changed.",
        "",
        "- topology, compose env and secret files: every case's rule is unit-tested",
        "  against the validator `make up`'s preflight runs (`make unit`; the last",
        "  column names the test). One case per layer also runs the real `make up`",
        "  (`make bad-input`) with the mistake, in a compose project of its own, and",
        "  proves nothing changed: no mutating `docker` command was run (a recording",
        "  `docker` on PATH), the project's containers (id, start time), volumes and",
        "  networks, the generated files and the secret files are identical before",
        "  and after; a positive control shows each detector catching a real change.",
        "- Ansible inventory: `make negative` runs `ansible-playbook site.yml` with each",
        "  case and checks the host has no trace of a deployment (topology cases whose",
        f"  rule the topology filter's unit test checks say so: `{FILTER_UNIT}`).",
        "",
        f"Cases: {len(cases)} ("
        + ", ".join(f"{LAYERS[k].split(' (')[0]} {v}" for k, v in counts.items()) + ").",
        "",
        "| # | case | layer | field | mistake | message contains | checked by |",
        "|---|------|-------|-------|---------|------------------|------------|",
    ]
    for i, c in enumerate(cases, 1):
        lines.append(f"| {i} | {cell(c['id'])} | {cell(LAYERS[c['layer']])} | "
                     f"`{cell(c['field'])}` | {cell(what(c))} | {cell(c['expect'])} | "
                     f"{cell(checked_by(c))} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
