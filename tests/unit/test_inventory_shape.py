"""One inventory shape: the sandbox (and Molecule) use production.example's group_vars.

Molecule, the negative table, the security preflight and `make demo` read
inventories/sandbox/group_vars; this keeps those files production.example's
own (symlinks), plus containers.yml for what differs in containers, and keeps
role-to-role wiring out of every inventory (it lives in the roles' defaults,
pointing at roles/celery_stack).
"""

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
PROD = REPO / "inventories" / "production.example" / "group_vars" / "all"
SANDBOX = REPO / "inventories" / "sandbox" / "group_vars" / "all"
CONTAINERS = "containers.yml"


def settings(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def wired_role_vars() -> set[str]:
    """Role variables whose default is a site-wide celery_stack_* name."""
    wired = set()
    for defaults in (REPO / "roles").glob("*/defaults/main.yml"):
        for name, value in settings(defaults).items():
            if isinstance(value, str) and value.strip().startswith("{{ celery_stack_"):
                wired.add(name)
    return wired


def test_every_sandbox_file_but_containers_is_production_examples_own():
    for path in sorted(SANDBOX.iterdir()):
        if path.name == CONTAINERS:
            assert not path.is_symlink(), path
            continue
        assert path.is_symlink(), f"{path.name}: a copy, not production.example's file"
        assert path.resolve() == (PROD / path.name).resolve(), path
    linked = {p.name for p in SANDBOX.iterdir() if p.is_symlink()}
    assert linked == {p.name for p in PROD.iterdir()}, "a production.example file is not used"


def test_no_inventory_rewires_what_the_roles_wire():
    wired = wired_role_vars()
    assert wired, "no role default points at a celery_stack_* name"
    for path in [*PROD.iterdir(), SANDBOX / CONTAINERS]:
        rewired = sorted(set(settings(path)) & wired)
        assert not rewired, f"{path.name} sets {rewired}: wiring belongs to the roles' defaults"


def test_the_container_settings_are_no_site_wide_names():
    names = set(settings(SANDBOX / CONTAINERS))
    assert not {n for n in names if n.startswith("celery_stack_")}, names
