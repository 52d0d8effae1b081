"""Every role input: in defaults, in argument_specs with the identical default, in the README."""

from pathlib import Path

import pytest
import yaml

ROLES = sorted(p for p in (Path(__file__).resolve().parents[2] / "roles").iterdir() if p.is_dir())


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_defaults_match_argument_specs_and_readme(role):
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    readme = (role / "README.md").read_text()
    assert defaults, role.name
    for name, value in defaults.items():
        assert name.startswith(f"{role.name}_"), f"{name}: inputs carry the role prefix"
        assert name in options, f"{name}: missing from argument_specs"
        assert options[name].get("default") == value, f"{name}: spec default differs"
        assert name in readme, f"{name}: not documented in README.md"
    for name, spec in options.items():
        if name not in defaults:
            # Either always required, or a secret needed only in some setups
            # (its preflight assert says when).
            assert spec.get("required") or spec.get("no_log"), \
                f"{name}: in the spec without a default: mark it required"
