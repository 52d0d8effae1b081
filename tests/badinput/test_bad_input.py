"""Bad input to `make up` is refused naming the field, and nothing changes.

Acceptance (issue 5, bad input): each case of cases.yml (topology, compose
environment, secret files) makes `make up` fail with a message naming the
field, before any docker command that changes something, and the project's
containers, volumes, networks, generated files and secrets are unchanged.
The Ansible inventory cases of the same table run in `make negative`.
Run: make bad-input.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from celery_stack.testing.compose import REPO

from .conftest import (
    CASES,
    PROJECT,
    READ_ONLY,
    Harness,
    bad_topology,
    files_state,
    good_secrets,
    project_state,
)

pytestmark = pytest.mark.bad_input


def watched(*extra: Path) -> tuple[Path, ...]:
    return (REPO / "compose" / "generated", REPO / "secrets", *extra)


def assert_refused_and_unchanged(harness: Harness, case: dict, run, extra: tuple[Path, ...],
                                 ) -> None:
    before = project_state(PROJECT), files_state(*watched(*extra))
    outcome = run()
    after = project_state(PROJECT), files_state(*watched(*extra))
    shown = f"exit {outcome.returncode}\n{outcome.output[-3000:]}"
    assert outcome.returncode != 0, f"{case['id']}: make up accepted it\n{shown}"
    assert case["field"] in outcome.output, f"{case['id']}: {case['field']!r} not named\n{shown}"
    assert case["expect"] in outcome.output, f"{case['id']}: {case['expect']!r} missing\n{shown}"
    # The recording docker saw bootstrap's probes: proof it was on make's PATH.
    assert outcome.docker_calls, "the recording docker was not used"
    changing = [c for c in outcome.docker_calls if not READ_ONLY.match(c)]
    assert not changing, f"{case['id']}: make ran docker commands that change things: {changing}"
    assert after[0] == before[0], f"{case['id']}: project {PROJECT} changed"
    assert after[1] == before[1], f"{case['id']}: files changed"
    if os.environ.get("CELERY_STACK_TEST_REUSE") == "1":
        # In make test: the shared stack is the one that must stay untouched.
        assert before[0]["containers"], f"no running project {PROJECT} to prove it on"


def test_good_input_passes_the_preflight(harness: Harness, shared_secrets: Path) -> None:
    """Control: with nothing wrong the same harness passes, so each failure is its mistake."""
    outcome = harness.make("preflight", secrets_dir=shared_secrets)
    assert outcome.returncode == 0, outcome.output
    assert "check-env" not in outcome.output, outcome.output


@pytest.mark.parametrize("case", CASES["topology"], ids=lambda c: c["id"])
def test_bad_topology(case: dict, harness: Harness, shared_secrets: Path, tmp_path: Path,
                      ) -> None:
    topology = bad_topology(case, tmp_path)
    assert_refused_and_unchanged(
        harness, case, lambda: harness.make("up", topology, shared_secrets), (topology,))


@pytest.mark.parametrize("case", CASES["env"], ids=lambda c: c["id"])
def test_bad_compose_env(case: dict, harness: Harness, shared_secrets: Path) -> None:
    assert_refused_and_unchanged(
        harness, case, lambda: harness.make("up", None, shared_secrets, case["set"]), ())


@pytest.mark.parametrize("case", CASES["secrets"], ids=lambda c: c["id"])
def test_bad_secret_file(case: dict, harness: Harness, tmp_path: Path) -> None:
    directory = good_secrets(tmp_path / "secrets")
    path = directory / case["file"]
    if "value" in case:
        path.write_text(case["value"], encoding="utf-8")
    path.chmod(int(case.get("mode", "0600"), 8))
    assert_refused_and_unchanged(
        harness, case, lambda: harness.make("up", None, directory), (directory,))
