"""docs/bad-input.md lists exactly the bad-input cases the tests run (it cannot drift)."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _table():
    spec = importlib.util.spec_from_file_location("bad_input_table",
                                                  REPO / "scripts/bad_input_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_doc_is_generated_from_the_current_cases():
    doc = (REPO / "docs/bad-input.md").read_text(encoding="utf-8")
    assert doc == _table().render(), "docs/bad-input.md is stale: run make bad-input-doc"


def test_doc_lists_every_case_with_its_field():
    table = _table()
    doc = (REPO / "docs/bad-input.md").read_text(encoding="utf-8")
    cases = table.compose_cases() + table.inventory_cases()
    ids = [(c["layer"], c["id"]) for c in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique within a layer"
    assert len(cases) >= 20
    assert {c["layer"] for c in cases} == {"topology", "env", "secrets", "inventory"}
    for case in cases:
        key = f"| {case['id']} | {table.LAYERS[case['layer']]} |"
        row = next(line for line in doc.splitlines() if key in line)
        assert f"`{case['field']}`" in row.replace("\\|", "|"), case["id"]
        checker = row.rsplit(" | ", 1)[1]
        if case["layer"] == "inventory":
            where = (f"unit `{table.FILTER_UNIT}`" if case["filter_only"] else "`make negative`")
            assert checker == f"{where} |", row
            continue
        # Every compose-layer case names the unit test of its rule; one per layer runs make up.
        node = table.cases_module.unit_reference(case, case["layer"])
        assert checker.startswith(f"unit `{node}`"), row
        assert ("`make up` in `make bad-input`" in checker) == bool(case.get("make_up")), row
